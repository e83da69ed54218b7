import { Command, InvalidArgumentError } from "commander";
import {
  parseDeploymentName,
  StateName,
  STATE_TYPES,
  TERMINAL_STATE_TYPES,
  type FlowRun,
  type FlowRunQuery,
  type JsonObject,
  type StateType,
  whyNoRerun,
} from "@baton/core";
import type { BatonClient } from "@baton/client";
import { followRun, logLine, stateLine } from "../follow.js";
import { allPages, details, print, printJson, stateCell, table, time } from "../format.js";
import { parseId, parseKeyValue, parsePositive } from "../options.js";
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

export const runId = parseId("flow run");

/** What `--state` asks for: a state type (every state of it) or a state name such as Late. */
export type StateFilter = { type: StateType; name?: StateName };

const STATE_NAMES = Object.keys(StateName) as StateName[];

/**
 * A state type or name in any case, as Prefect's `--state` and `--state-type` take them: a word that
 * is both (`failed`) means the type, so it includes the states named on it (TimedOut).
 */
export function parseState(value: string): StateFilter {
  const type = STATE_TYPES.find((known) => known === value.toUpperCase());
  if (type) return { type };
  const name = STATE_NAMES.find((known) => known.toLowerCase() === value.toLowerCase());
  if (name) return { type: StateName[name], name };
  const names = STATE_NAMES.filter((known) => !STATE_TYPES.includes(known.toUpperCase() as StateType));
  throw new InvalidArgumentError(
    `'${value}' is not a state type or name; use a type (${STATE_TYPES.join(", ")}) or a name ` +
      `(${names.join(", ")}), in any case`,
  );
}

/** When a run starts or started, as Prefect sorts them: expected start, else actual start, else creation. */
const expectedStart = (run: FlowRun): string => run.expectedStartTime ?? run.startTime ?? run.created;

/** A Scheduled run whose time has not come yet (not a Late one). */
const isUpcoming = (run: FlowRun, now: string): boolean =>
  run.state?.type === "SCHEDULED" && (run.state.scheduledTime ?? expectedStart(run)) > now;

type ListFilter = Pick<FlowRunQuery, "flowName" | "deploymentId">;

/**
 * The runs `flow-run ls` shows: the most recent by expected start time, newest first, as Prefect's
 * `flow-run ls` sorts them. A schedule makes its runs ahead of time (up to 100), which would crowd out
 * the runs that ran; so runs still to come are left out, and counted, unless Scheduled runs are asked
 * for. The API lists runs newest created first: the runs that left Scheduled are read one page of
 * `limit`, the Scheduled ones (few: a schedule's runs ahead, late ones) all, and the union is sorted.
 */
async function recentRuns(
  client: BatonClient,
  filter: ListFilter,
  states: StateFilter[],
  limit: number,
): Promise<{ runs: FlowRun[]; upcoming: number }> {
  const types = states.length === 0 ? STATE_TYPES : states.filter((s) => !s.name).map((s) => s.type);
  const names = states.filter((s) => s.name && !types.includes(s.type));
  const started = types.filter((type) => type !== "SCHEDULED");
  const onePage = (query: FlowRunQuery) =>
    client.api.listFlowRuns({ query: { ...filter, ...query, limit } }).then((page) => page.items);
  const everyPage = (query: FlowRunQuery) =>
    allPages((offset) => client.api.listFlowRuns({ query: { ...filter, ...query, limit: 1000, offset } }));
  const pages = await Promise.all([
    started.length > 0 ? onePage({ stateType: started }) : [],
    types.includes("SCHEDULED") ? everyPage({ stateType: ["SCHEDULED"] }) : [],
    ...names.map(({ type, name }) =>
      type === "SCHEDULED" ? everyPage({ stateType: [type], stateName: name }) : onePage({ stateName: name }),
    ),
  ]);
  const byId = new Map(pages.flat().map((run) => [run.id, run]));
  const now = new Date().toISOString();
  const showUpcoming = states.some((s) => s.type === "SCHEDULED");
  const upcoming = showUpcoming ? [] : [...byId.values()].filter((run) => isUpcoming(run, now));
  const runs = [...byId.values()]
    .filter((run) => !upcoming.includes(run))
    .sort((a, b) => expectedStart(b).localeCompare(expectedStart(a)) || b.id.localeCompare(a.id))
    .slice(0, limit);
  return { runs, upcoming: upcoming.length };
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
    .description("List the most recent flow runs, by expected start time, newest first")
    .option(
      "-s, --state <state>",
      "only runs in this state type or named state, any case: failed, late, … (repeatable)",
      (value, previous: StateFilter[] = []) => [...previous, parseState(value)],
    )
    .option("-f, --flow <name>", "only runs of this flow")
    .option("-d, --deployment <flow/deployment>", "only runs of this deployment")
    .option("-l, --limit <n>", "how many runs", parsePositive, 15)
    .option("--json", "print JSON")
    .action(
      async (options: {
        state?: StateFilter[];
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
        const { runs, upcoming } = await recentRuns(
          client,
          { ...(options.flow ? { flowName: options.flow } : {}), ...(deploymentId ? { deploymentId } : {}) },
          options.state ?? [],
          Math.min(options.limit, 1000),
        );
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
        if (upcoming > 0) {
          print(`${upcoming} scheduled run(s) still to come not shown; list them with --state scheduled.`);
        }
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
    .command("resume")
    .description(
      "Resume a paused or suspended flow run, with the input its pause asks for (the dashboard's form does the same)",
    )
    .argument("<id>", "flow run id", runId)
    .option(
      "-i, --input <key=value>",
      "one field of the input, the value as JSON (or text); repeat for more",
      (pair: string, previous: [string, JsonObject[string]][] = []) => [
        ...previous,
        parseKeyValue(pair, "--input"),
      ],
    )
    .option("--json", "print the run as JSON")
    .action(async (id: string, options: { input?: [string, JsonObject[string]][]; json?: boolean }) => {
      const input = options.input ? Object.fromEntries(options.input) : undefined;
      const run = await apiClient().api.resumeFlowRun({ params: { id }, body: input ? { input } : {} });
      if (options.json) return printJson(runSummary(run));
      print(`Flow run '${run.name}' is ${run.state?.name ?? "resumed"}.`);
    });

  group
    .command("retry")
    .description(
      "Run a finished deployment run again (a rerun, with all its retries), as the dashboard's Retry",
    )
    .argument("<id>", "flow run id", runId)
    .action(async (id: string) => {
      const client = apiClient();
      const run = await client.api.readFlowRun({ params: { id } });
      const why = whyNoRerun(run);
      if (why) {
        throw new InvalidArgumentError(
          `flow run ${id} cannot be retried: ${why} (it is ${run.state?.name ?? "without a state"})`,
        );
      }
      const result = await client.api.setFlowRunState({
        params: { id },
        body: { state: { type: "SCHEDULED", message: "Retried from the CLI" } },
      });
      if (result.status !== "ACCEPT") {
        throw new InvalidArgumentError(
          `flow run ${id} was not scheduled again (${result.status}: ${result.reason}); it is ${result.state?.name ?? "without a state"}`,
        );
      }
      print(`Flow run ${id} is scheduled again; its deployment's worker or serve process picks it up.`);
    });

  group
    .command("delete")
    .description(
      "Delete a flow run, or with --before every run that ended before then, with their task runs and logs",
    )
    .argument("[id]", "flow run id", runId)
    .option(
      "--before <time>",
      "runs that ended before this: an ISO 8601 date or time, or days ago as 30d",
      endedBefore,
    )
    .option(
      "-s, --state <type>",
      "only runs that ended in this final state (completed, failed, cancelled, crashed); repeatable",
      finalStateType,
      [] as StateType[],
    )
    .option("--yes", "delete them without asking (needed with --before)")
    .action(
      async (id: string | undefined, options: { before?: string; state: StateType[]; yes?: boolean }) => {
        const client = apiClient();
        if (id !== undefined) {
          if (options.before || options.state.length > 0) {
            throw new InvalidArgumentError("give a flow run id or --before (with --state), not both");
          }
          await client.api.deleteFlowRun({ params: { id } });
          print(`Deleted flow run ${id}.`);
          return;
        }
        if (!options.before)
          throw new InvalidArgumentError("give a flow run id, or --before TIME for a clean-up");
        const which = `every flow run that ended before ${options.before}${options.state.length > 0 ? ` in ${options.state.join(" or ")}` : ""}`;
        if (!options.yes)
          throw new InvalidArgumentError(`this deletes ${which}, with its task runs and logs: add --yes`);
        const { deleted } = await client.api.deleteFlowRuns({
          query: {
            before: options.before,
            ...(options.state.length > 0 ? { stateType: options.state } : {}),
          },
        });
        print(`Deleted ${deleted} flow run(s): ${which}.`);
      },
    );
  return group;
}

/** `--before`: an ISO 8601 date or time, or `<N>d` for N days before now. */
function endedBefore(value: string): string {
  const days = /^(\d+(?:\.\d+)?)d$/.exec(value.trim());
  const time = days ? Date.now() - Number(days[1]) * 86_400_000 : Date.parse(value);
  if (Number.isNaN(time)) {
    throw new InvalidArgumentError(
      `'${value}' is not a time: give an ISO 8601 date or time (2026-11-01) or days ago (30d)`,
    );
  }
  return new Date(time).toISOString();
}

/** `--state` of a clean-up: a final state type, in any case. */
function finalStateType(value: string, previous: StateType[]): StateType[] {
  const type = value.trim().toUpperCase() as StateType;
  if (!TERMINAL_STATE_TYPES.includes(type)) {
    throw new InvalidArgumentError(
      `'${value}' is not a final state: give one of ${TERMINAL_STATE_TYPES.map((t) => t.toLowerCase()).join(", ")}`,
    );
  }
  return [...previous, type];
}
