import { Command, InvalidArgumentError } from "commander";
import { Id, parseDeploymentName, STATE_TYPES, type FlowRun, type StateType } from "@baton/core";
import type { BatonClient } from "@baton/client";
import { followRun, logLine, stateLine } from "../follow.js";
import { allPages, details, print, printJson, stateCell, table, time } from "../format.js";
import { parsePositive } from "../options.js";
import { apiClient } from "../settings.js";

/** What `flow-run ls --json` gives per run. */
export function runSummary(run: FlowRun) {
  return {
    id: run.id,
    name: run.name,
    flow: run.flowName,
    deployment: run.deploymentName,
    state: run.state ? { type: run.state.type, name: run.state.name } : null,
    parameters: run.parameters,
    tags: run.tags,
    workPool: run.workPoolName,
    workQueue: run.workQueueName,
    expectedStartTime: run.expectedStartTime,
    startTime: run.startTime,
    endTime: run.endTime,
    created: run.created,
  };
}

/** A flow run id, checked here so that a typo is named as such. */
function runId(value: string): string {
  if (!Id.safeParse(value).success)
    throw new InvalidArgumentError(`'${value}' is not a flow run id (a UUID)`);
  return value;
}

function parseStateType(value: string): StateType {
  const type = value.toUpperCase() as StateType;
  if (!STATE_TYPES.includes(type)) {
    throw new InvalidArgumentError(`'${value}' is not a state type (${STATE_TYPES.join(", ")})`);
  }
  return type;
}

async function followLogs(client: BatonClient, id: string): Promise<void> {
  await followRun(client, id, {
    log: (log) => process.stdout.write(logLine(log)),
    state: (state) => process.stdout.write(stateLine(state)),
  });
}

export function flowRunCommand(): Command {
  const group = new Command("flow-run").description("Inspect and manage flow runs");

  group
    .command("ls")
    .description("List flow runs, newest first")
    .option(
      "-s, --state <type>",
      "only runs in this state type (repeatable)",
      (value, previous: StateType[] = []) => [...previous, parseStateType(value)],
    )
    .option("-f, --flow <name>", "only runs of this flow")
    .option("-d, --deployment <flow/deployment>", "only runs of this deployment")
    .option("-l, --limit <n>", "how many runs", parsePositive, 15)
    .option("--json", "print JSON")
    .action(
      async (options: {
        state?: StateType[];
        flow?: string;
        deployment?: string;
        limit: number;
        json?: boolean;
      }) => {
        const client = apiClient();
        let deploymentId: string | undefined;
        if (options.deployment) {
          deploymentId = (
            await client.api.readDeploymentByName({ params: parseDeploymentName(options.deployment) })
          ).id;
        }
        const { items: runs } = await client.api.listFlowRuns({
          query: {
            limit: Math.min(options.limit, 1000),
            ...(options.state?.length ? { stateType: options.state } : {}),
            ...(options.flow ? { flowName: options.flow } : {}),
            ...(deploymentId ? { deploymentId } : {}),
          },
        });
        if (options.json) return printJson(runs.map(runSummary));
        print(
          table(
            ["ID", "NAME", "FLOW", "DEPLOYMENT", "STATE", "STARTED", "ENDED"],
            runs.map((run) => [
              run.id,
              run.name,
              run.flowName,
              run.deploymentName ?? "-",
              stateCell(run.state),
              time(run.startTime ?? run.expectedStartTime),
              time(run.endTime),
            ]),
            "No flow runs match.",
          ),
        );
      },
    );

  group
    .command("inspect")
    .description("Show a flow run")
    .argument("<id>", "flow run id", runId)
    .option("--json", "print JSON")
    .action(async (id: string, options: { json?: boolean }) => {
      const run = await apiClient().api.readFlowRun({ params: { id } });
      if (options.json) return printJson(run);
      print(
        details([
          ["Name", run.name],
          ["Id", run.id],
          ["Flow", run.flowName],
          ["Deployment", run.deploymentName ?? "-"],
          ["State", stateCell(run.state)],
          ["Message", run.state?.message ?? "-"],
          ["Parameters", JSON.stringify(run.parameters)],
          ["Tags", run.tags.join(", ") || "-"],
          ["Work pool", run.workPoolName ? `${run.workPoolName} / ${run.workQueueName ?? "default"}` : "-"],
          ["Worker", run.workerName ?? "-"],
          ["Run count", run.runCount],
          ["Expected start", time(run.expectedStartTime)],
          ["Started", time(run.startTime)],
          ["Ended", time(run.endTime)],
          ["Created", time(run.created)],
        ]),
      );
    });

  group
    .command("logs")
    .description("Print a flow run's logs")
    .argument("<id>", "flow run id", runId)
    .option("-f, --follow", "keep printing new logs until the run ends")
    .action(async (id: string, options: { follow?: boolean }) => {
      const client = apiClient();
      if (options.follow) return followLogs(client, id);
      await client.api.readFlowRun({ params: { id } });
      const logs = await allPages((offset) =>
        client.api.listLogs({ query: { flowRunId: id, limit: 5000, offset } }),
      );
      for (const log of logs) process.stdout.write(logLine(log));
    });

  group
    .command("cancel")
    .description("Cancel a flow run")
    .argument("<id>", "flow run id", runId)
    .action(async (id: string) => {
      const result = await apiClient().api.setFlowRunState({
        params: { id },
        body: { state: { type: "CANCELLING", message: "Cancelled from the CLI" } },
      });
      if (result.status !== "ACCEPT" && result.state?.type !== "CANCELLED") {
        throw new InvalidArgumentError(
          `flow run ${id} was not cancelled (${result.status}: ${result.reason}); it is ${result.state?.name ?? "without a state"}`,
        );
      }
      print(`Flow run ${id} is ${result.state?.name ?? "Cancelling"}.`);
    });

  group
    .command("delete")
    .description("Delete a flow run, its task runs and logs")
    .argument("<id>", "flow run id", runId)
    .action(async (id: string) => {
      await apiClient().api.deleteFlowRun({ params: { id } });
      print(`Deleted flow run ${id}.`);
    });
  return group;
}
