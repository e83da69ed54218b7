import { Command } from "commander";
import type { BatonClient } from "@baton/client";
import type { Deployment } from "@baton/core";
import { allPages, details, flag, limitText, print, printJson, table, time } from "../format.js";
import { collect, parseDeploymentAddress, parseParameters } from "../options.js";
import { apiClient } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

const addressOf = (deployment: Deployment) => `${deployment.flowName}/${deployment.name}`;

function readDeployment(client: BatonClient, address: string): Promise<Deployment> {
  return client.api.readDeploymentByName({ params: parseDeploymentAddress(address) });
}

const schedulesText = (deployment: Deployment) =>
  deployment.schedules
    .map(({ schedule, active }) => {
      const what =
        "cron" in schedule
          ? `cron '${schedule.cron}'`
          : "interval" in schedule
            ? `every ${schedule.interval} s`
            : `rrule '${schedule.rrule}'`;
      return `${what} ${schedule.timezone}${active ? "" : " (inactive)"}`;
    })
    .join(", ");

export function deploymentCommand(): Command {
  const group = new Command("deployment").description("Inspect, run and manage deployments");

  group
    .command("ls")
    .description("List deployments")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const deployments = await allPages((offset) =>
        client.api.listDeployments({ query: { limit: 200, offset } }),
      );
      if (options.json) return printJson(deployments);
      print(
        table(
          ["NAME", "ID", "WORK POOL", "SCHEDULES", "STATUS", "UPDATED"],
          deployments.map((deployment) => [
            addressOf(deployment),
            deployment.id,
            deployment.workPoolName ?? "-",
            schedulesText(deployment) || "-",
            deployment.paused ? flag(true, "paused") : "ready",
            time(deployment.updated),
          ]),
          "No deployments.",
        ),
      );
    });

  group
    .command("inspect")
    .description("Show a deployment")
    .argument("<flow/deployment>", "the flow's name and the deployment's name")
    .option("--json", "print JSON")
    .action(async (address: string, options: JsonOption) => {
      const deployment = await readDeployment(apiClient(), address);
      if (options.json) return printJson(deployment);
      print(
        details([
          ["Name", addressOf(deployment)],
          ["Id", deployment.id],
          ["Description", deployment.description ?? "-"],
          ["Version", deployment.version ?? "-"],
          ["Entrypoint", deployment.entrypoint ?? "-"],
          ["Status", deployment.paused ? "paused" : "ready"],
          ["Work pool", deployment.workPoolName ?? "-"],
          ["Work queue", deployment.workQueueName ?? "-"],
          ["Concurrency limit", limitText(deployment.concurrencyLimit)],
          ["Parameters", JSON.stringify(deployment.parameters)],
          ["Parameter schema", JSON.stringify(deployment.parameterSchema)],
          ["Schedules", schedulesText(deployment) || "-"],
          ["Tags", deployment.tags.join(", ") || "-"],
          ["Updated", time(deployment.updated)],
        ]),
      );
    });

  group
    .command("run")
    .description("Create a run of a deployment")
    .argument("<flow/deployment>", "the flow's name and the deployment's name")
    .option(
      "--param <key=value>",
      "a parameter; the value is parsed as JSON when it parses, else taken as a string (repeatable)",
      collect,
    )
    .option("--params <json>", "all parameters as one JSON object")
    .option("--json", "print the created run as JSON")
    .action(async (address: string, options: { param?: string[]; params?: string; json?: boolean }) => {
      const parameters = parseParameters(options.params, options.param);
      const client = apiClient();
      const deployment = await readDeployment(client, address);
      const run = await client.api.createDeploymentRun({
        params: { id: deployment.id },
        body: { parameters },
      });
      if (options.json) return printJson(run);
      print(
        `Created flow run '${run.name}' of ${addressOf(deployment)}.\n` +
          `  Id:         ${run.id}\n` +
          `  State:      ${run.state?.name ?? "-"}\n` +
          `  Parameters: ${JSON.stringify(run.parameters)}\n` +
          `Follow it with: baton flow-run logs ${run.id} --follow`,
      );
    });

  const update = (command: string, description: string, paused: boolean, done: string) =>
    group
      .command(command)
      .description(description)
      .argument("<flow/deployment>", "the flow's name and the deployment's name")
      .action(async (address: string) => {
        const client = apiClient();
        const deployment = await readDeployment(client, address);
        await client.api.updateDeployment({ params: { id: deployment.id }, body: { paused } });
        print(`${done} deployment '${addressOf(deployment)}'.`);
      });
  update("pause", "Pause a deployment: its schedules create no runs", true, "Paused");
  update("resume", "Resume a paused deployment", false, "Resumed");

  group
    .command("delete")
    .description("Delete a deployment; its runs are kept")
    .argument("<flow/deployment>", "the flow's name and the deployment's name")
    .action(async (address: string) => {
      const client = apiClient();
      const deployment = await readDeployment(client, address);
      await client.api.deleteDeployment({ params: { id: deployment.id } });
      print(`Deleted deployment '${addressOf(deployment)}'.`);
    });
  return group;
}
