import { Command, InvalidArgumentError, Option } from "commander";
import type { BatonClient } from "@baton/client";
import {
  BatonError,
  describePullStep,
  describeSchedule,
  parseDeploymentName,
  type Deployment,
  type FlowRun,
  type State,
} from "@baton/core";
import { followRun, logLine, stateLine, statusOutput } from "../follow.js";
import { allPages, details, flag, limitText, print, printJson, table, time } from "../format.js";
import { collect, parseId, parseParameters } from "../options.js";
import { scheduleOf, withScheduleOptions, type ScheduleOptions } from "../schedules.js";
import { apiClient } from "../settings.js";
import { triggerText } from "./automation.js";

interface JsonOption {
  json?: boolean;
}

interface RunOptions {
  param?: string[];
  params?: string;
  json?: boolean;
  watch?: boolean;
  timeout?: number;
}

/** Seconds, fractions allowed, more than 0. */
function parseSeconds(value: string): number {
  const seconds = Number(value);
  if (value.trim() === "" || !Number.isFinite(seconds) || seconds <= 0) {
    throw new InvalidArgumentError(`'${value}' is not a number of seconds greater than 0`);
  }
  return seconds;
}

/** What a completed run returned: the inline JSON value, or where a stored result is. */
async function resultText(client: BatonClient, runId: string, state: State): Promise<string> {
  const data = state.data;
  if (!data) return "Result: none recorded";
  if (data.kind === "inline") return `Result: ${JSON.stringify(data.value)}`;
  // Stored: the server reads it when it was written as JSON to local storage on its machine.
  try {
    const result = await client.api.readFlowRunResult({ params: { id: runId } });
    return `Result: ${JSON.stringify(result.value)}`;
  } catch (error) {
    return (
      `Result: stored in '${data.storage}' result storage under key '${data.key}' ` +
      `(serializer '${data.serializer}'${data.typeName ? `, type ${data.typeName}` : ""}); ` +
      BatonError.from(error).message
    );
  }
}

/**
 * Prints a new run's logs and state changes until it ends and answers the exit code: 0 when it
 * completed, 1 when it ended otherwise, 2 when `timeout` seconds passed first, 130 on Ctrl-C.
 * Either way of stopping early leaves the run going.
 */
async function watchRun(client: BatonClient, run: FlowRun, timeout: number | undefined): Promise<number> {
  const out = statusOutput();
  let current = run.state?.name ?? "without a state";
  const waiting = (state: State | null | undefined) => {
    if (state) current = state.name;
    out.status(`Flow run '${run.name}' is ${current}`);
  };
  const controller = new AbortController();
  let stoppedBy: "timeout" | "interrupt" | undefined;
  const stop = (why: "timeout" | "interrupt") => () => {
    stoppedBy ??= why;
    controller.abort();
  };
  const interrupt = stop("interrupt");
  process.once("SIGINT", interrupt);
  const timer = timeout === undefined ? undefined : setTimeout(stop("timeout"), timeout * 1000);
  let ended: State | null;
  try {
    waiting(run.state);
    ended = await followRun(
      client,
      run.id,
      {
        start: (found) => {
          out.line("Watching it until it ends; Ctrl-C stops watching (the run keeps going).");
          waiting(found.state);
        },
        log: (log) => out.line(logLine(log)),
        state: (state) => {
          out.line(stateLine(state));
          waiting(state);
        },
      },
      controller.signal,
    );
  } finally {
    clearTimeout(timer);
    process.off("SIGINT", interrupt);
    out.close();
  }
  if (!ended) {
    const why = stoppedBy === "timeout" ? `after ${timeout} s` : "on Ctrl-C";
    print(
      `Stopped watching ${why}; flow run '${run.name}' is ${current} and keeps going.\n` +
        `Follow it with: baton flow-run logs ${run.id} --follow`,
    );
    return stoppedBy === "timeout" ? 2 : 130;
  }
  const outcome = `Flow run '${run.name}' ended ${ended.name}${ended.message ? `: ${ended.message}` : "."}`;
  if (ended.type !== "COMPLETED") {
    print(outcome);
    return 1;
  }
  print(`${outcome}\n${await resultText(client, run.id, ended)}`);
  return 0;
}

const addressOf = (deployment: Deployment) => `${deployment.flowName}/${deployment.name}`;

function readDeployment(client: BatonClient, address: string): Promise<Deployment> {
  return client.api.readDeploymentByName({ params: parseDeploymentName(address) });
}

/** A deployment's schedules in one line: `cron '0 9 * * *' Asia/Seoul, every 60 s UTC`. */
export const schedulesText = (deployment: Deployment) =>
  deployment.schedules
    .map(({ schedule, active }) => `${describeSchedule(schedule)}${active ? "" : " (inactive)"}`)
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
          [
            "Concurrency limit",
            limitText(deployment.concurrencyLimit) +
              (deployment.concurrencyLimit !== null && deployment.collisionStrategy === "CANCEL_NEW"
                ? " (runs due while full are cancelled)"
                : ""),
          ],
          [
            "Run retention",
            deployment.runRetentionDays === null
              ? "the server's (BATON_RUN_RETENTION_DAYS)"
              : `${deployment.runRetentionDays} days after a run ends`,
          ],
          ["Parameters", JSON.stringify(deployment.parameters)],
          ["Parameter schema", JSON.stringify(deployment.parameterSchema)],
          ["Schedules", schedulesText(deployment) || "-"],
          ["Pull steps", deployment.pullSteps.map(describePullStep).join("; ") || "-"],
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
      "-p, --param <key=value>",
      "a parameter; the value is parsed as JSON when it parses, else taken as a string (repeatable)",
      collect,
    )
    .option("--params <json>", "all parameters as one JSON object")
    .addOption(new Option("--json", "print the created run as JSON").conflicts("watch"))
    .option(
      "--watch",
      "follow the run's states and logs until it ends; exit 0 when it completes, 1 when it does not",
    )
    .option(
      "--watch-timeout, --timeout <seconds>",
      "with --watch: stop watching after this long and exit 2 (the run keeps going)",
      parseSeconds,
    )
    .action(async (address: string, options: RunOptions) => {
      if (options.timeout !== undefined && !options.watch) {
        throw new InvalidArgumentError("--timeout only applies with --watch");
      }
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
          `  Dashboard:  ${new URL(`../runs/${run.id}`, `${client.url}/`).href}` +
          (options.watch ? "" : `\nFollow it with: baton flow-run logs ${run.id} --follow`),
      );
      if (options.watch) process.exitCode = await watchRun(client, run, options.timeout);
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
  group
    .command("triggers")
    .description(
      "List a deployment's triggers: the events that start it (set by 'baton deploy --trigger' or baton.yaml)",
    )
    .argument("<flow/deployment>", "the flow's name and the deployment's name")
    .option("--json", "print JSON")
    .action(async (address: string, options: { json?: boolean }) => {
      const client = apiClient();
      const deployment = await readDeployment(client, address);
      const triggers = await client.api.listDeploymentTriggers({ params: { id: deployment.id } });
      if (options.json) return printJson(triggers);
      print(
        table(
          ["NAME", "ID", "STATUS", "TRIGGER", "PARAMETERS"],
          triggers.map((automation) => {
            const [action] = automation.actions;
            const parameters = action?.type === "run-deployment" ? (action.parameters ?? {}) : {};
            return [
              automation.name,
              automation.id,
              automation.enabled ? "enabled" : flag(true, "paused"),
              triggerText(automation.trigger),
              JSON.stringify(parameters),
            ];
          }),
          `'${addressOf(deployment)}' has no triggers.`,
        ),
      );
    });
  group.addCommand(scheduleCommand());
  return group;
}

interface ScheduleCreateOptions extends ScheduleOptions {
  param?: string[];
  params?: string;
  inactive?: boolean;
  json?: boolean;
}

/** `baton deployment schedule …`: a deployment's schedules, each with parameters of its own. */
function scheduleCommand(): Command {
  const group = new Command("schedule").description(
    "List, add, pause, resume and remove a deployment's schedules, each with parameters of its own",
  );
  const scheduleId = parseId("schedule");

  group
    .command("ls")
    .description("List a deployment's schedules")
    .argument("<flow/deployment>", "the flow's name and the deployment's name")
    .option("--json", "print JSON")
    .action(async (address: string, options: JsonOption) => {
      const deployment = await readDeployment(apiClient(), address);
      if (options.json) return printJson(deployment.schedules);
      print(
        table(
          ["ID", "SCHEDULE", "STATUS", "PARAMETERS"],
          deployment.schedules.map((entry) => [
            entry.id,
            describeSchedule(entry.schedule),
            entry.active ? "active" : flag(true, "paused"),
            Object.keys(entry.parameters).length > 0 ? JSON.stringify(entry.parameters) : "-",
          ]),
          `Deployment '${addressOf(deployment)}' has no schedules.`,
        ),
      );
    });

  withScheduleOptions(
    group
      .command("create")
      .description("Add a schedule; its runs get --param/--params over the deployment's default parameters")
      .argument("<flow/deployment>", "the flow's name and the deployment's name"),
  )
    .option(
      "-p, --param <key=value>",
      "a parameter of this schedule's runs, the value as JSON or a bare string (repeatable)",
      collect,
    )
    .option("--params <json>", "this schedule's parameters as one JSON object")
    .option("--inactive", "add it paused")
    .option("--json", "print the schedule as JSON")
    .action(async (address: string, options: ScheduleCreateOptions) => {
      const schedule = scheduleOf(options);
      if (!schedule) throw new InvalidArgumentError("give one of --cron, --interval and --rrule");
      const parameters = parseParameters(options.params, options.param);
      const client = apiClient();
      const deployment = await readDeployment(client, address);
      const created = await client.api.createDeploymentSchedule({
        params: { id: deployment.id },
        body: { schedule, parameters, active: !options.inactive },
      });
      if (options.json) return printJson(created);
      print(
        `Added schedule ${created.id} (${describeSchedule(created.schedule)}) to deployment '${addressOf(deployment)}'` +
          (Object.keys(parameters).length > 0 ? ` with parameters ${JSON.stringify(parameters)}` : "") +
          (created.active ? "." : ", paused."),
      );
    });

  const setActive = (command: string, description: string, active: boolean, done: string) =>
    group
      .command(command)
      .description(description)
      .argument("<flow/deployment>", "the flow's name and the deployment's name")
      .argument("<schedule-id>", "the schedule's id (see 'baton deployment schedule ls')", scheduleId)
      .action(async (address: string, id: string) => {
        const client = apiClient();
        const deployment = await readDeployment(client, address);
        await client.api.updateDeploymentSchedule({
          params: { id: deployment.id, scheduleId: id },
          body: { active },
        });
        print(`${done} schedule ${id} of deployment '${addressOf(deployment)}'.`);
      });
  setActive(
    "pause",
    "Pause a schedule: it makes no runs, and its runs still to come are removed",
    false,
    "Paused",
  );
  setActive("resume", "Resume a paused schedule", true, "Resumed");

  group
    .command("delete")
    .description("Remove a schedule and its runs still to come")
    .argument("<flow/deployment>", "the flow's name and the deployment's name")
    .argument("<schedule-id>", "the schedule's id (see 'baton deployment schedule ls')", scheduleId)
    .action(async (address: string, id: string) => {
      const client = apiClient();
      const deployment = await readDeployment(client, address);
      await client.api.deleteDeploymentSchedule({ params: { id: deployment.id, scheduleId: id } });
      print(`Removed schedule ${id} from deployment '${addressOf(deployment)}'.`);
    });
  return group;
}
