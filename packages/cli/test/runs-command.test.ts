import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Deployment, Flow, FlowRun } from "@baton/core";
import { startTestServer, type TestServer } from "../../../test/helpers.js";
import { batonAt, json, oneLineError, spawnBaton, type Result } from "./run-baton.js";

let server: TestServer;
let baton: (...args: string[]) => Promise<Result>;

const parameterSchema = {
  type: "object",
  properties: {
    urls: { type: "array", items: { type: "string" } },
    dataset: { type: "string" },
    retries: { type: "integer" },
  },
  required: ["dataset"],
};

beforeAll(async () => {
  server = await startTestServer("sqlite");
  baton = batonAt(server.apiUrl);
  await server.client.api.createWorkPool({ body: { name: "lock-pool" } });
  await server.client.api.createDeployment({
    body: { flowName: "etl", name: "nightly", parameterSchema, workPoolName: "lock-pool" },
  });
  await server.client.api.createDeployment({ body: { flowName: "report", name: "weekly" } });
});
afterAll(() => server.stop());

interface RunSummary {
  id: string;
  name: string;
  flow: string;
  deployment: string | null;
  state: { type: string; name: string } | null;
  parameters: Record<string, unknown>;
  startTime: string | null;
  endTime: string | null;
}

const runIdOf = (result: Result) => /Id:\s+(\S+)/.exec(result.stdout)![1]!;

describe("baton deployment", () => {
  it("lists and inspects deployments, and runs one with --param and --params", async () => {
    const [table, list, inspect, inspectJson, flows, flowsJson] = await Promise.all([
      baton("deployment", "ls"),
      baton("deployment", "ls", "--json"),
      baton("deployment", "inspect", "etl/nightly"),
      baton("deployment", "inspect", "etl/nightly", "--json"),
      baton("flow", "ls"),
      baton("flow", "ls", "--json"),
    ]);
    expect(table.stdout).toMatch(/^NAME\s+ID\s+WORK POOL\s+SCHEDULES\s+STATUS\s+UPDATED$/m);
    expect(table.stdout).toMatch(/^etl\/nightly\s+\S+\s+lock-pool\s+-\s+ready\s+\d{4}-/m);
    expect(table.stdout).toMatch(/^report\/weekly\s+\S+\s+-\s+-\s+ready/m);
    expect(
      json<Deployment[]>(list)
        .map((d) => `${d.flowName}/${d.name}`)
        .sort(),
    ).toEqual(["etl/nightly", "report/weekly"]);
    expect(inspect.stdout).toMatch(/Name:\s+etl\/nightly\n/);
    expect(inspect.stdout).toMatch(/Work pool:\s+lock-pool\n/);
    expect(json<Deployment>(inspectJson)).toMatchObject({
      name: "nightly",
      flowName: "etl",
      parameterSchema,
    });
    expect(flows.stdout).toMatch(/^NAME\s+ID\s+TAGS\s+CREATED\n/);
    expect(flows.stdout).toMatch(/^etl\s+/m);
    expect(
      json<Flow[]>(flowsJson)
        .map((flow) => flow.name)
        .sort(),
    ).toEqual(["etl", "report"]);

    const [single, whole, both] = await Promise.all([
      baton("deployment", "run", "etl/nightly", "--param", 'urls=["a","b"]', "--param", "dataset=b"),
      baton("deployment", "run", "etl/nightly", "--params", '{"dataset": "c", "retries": 2}'),
      baton(
        "deployment",
        "run",
        "etl/nightly",
        "--params",
        '{"dataset": "c"}',
        "--param",
        "retries=3",
        "--json",
      ),
    ]);
    expect(single.stdout).toMatch(/^Created flow run '[\w-]+' of etl\/nightly\.\n/);
    expect(single.stdout).toContain('Parameters: {"urls":["a","b"],"dataset":"b"}');
    const singleRun = await server.client.api.readFlowRun({ params: { id: runIdOf(single) } });
    expect(singleRun).toMatchObject({
      deploymentName: "nightly",
      parameters: { urls: ["a", "b"], dataset: "b" },
      state: { type: "SCHEDULED" },
    });
    const wholeRun = await server.client.api.readFlowRun({ params: { id: runIdOf(whole) } });
    expect(wholeRun.parameters).toEqual({ dataset: "c", retries: 2 });
    expect(json<FlowRun>(both).parameters).toEqual({ dataset: "c", retries: 3 });
  });

  it("rejects malformed JSON, parameters failing the schema, bad addresses and unknown deployments in one line", async () => {
    const before = (await server.client.api.listFlowRuns()).items.length;
    const [malformed, notObject, schema, missing, address, unknown, help] = await Promise.all([
      baton("deployment", "run", "etl/nightly", "--params", '{"dataset": "a"'),
      baton("deployment", "run", "etl/nightly", "--params", "[1]"),
      baton("deployment", "run", "etl/nightly", "--param", "dataset=a", "--param", "retries=many"),
      baton("deployment", "run", "etl/nightly"),
      baton("deployment", "run", "nightly"),
      baton("deployment", "inspect", "etl/nope"),
      baton("deployment", "run", "--help"),
    ]);
    expect(oneLineError(malformed)).toMatch(/^error: --params is not valid JSON: .*JSON/);
    expect(oneLineError(notObject)).toContain("--params must be a JSON object");
    expect(oneLineError(schema)).toBe(
      "error: parameters for deployment 'etl/nightly' do not match its schema: retries must be integer",
    );
    expect(oneLineError(missing)).toBe(
      "error: parameters for deployment 'etl/nightly' do not match its schema: dataset is required",
    );
    expect(oneLineError(address)).toBe(
      "error: 'nightly' is not a deployment name: write it as <flow name>/<deployment name>",
    );
    expect(oneLineError(unknown)).toBe("error: deployment 'etl/nope' does not exist");
    expect(help.stdout).toContain("--param <key=value>");
    expect(help.stdout).toContain("--params <json>");
    expect((await server.client.api.listFlowRuns()).items.length).toBe(before);
  });

  it("adds, lists, pauses, resumes and removes a deployment's schedules, each with its parameters", async () => {
    const created = await baton(
      "deployment",
      "schedule",
      "create",
      "etl/nightly",
      "--cron",
      "0 3 * * *",
      "--timezone",
      "Europe/Paris",
      "--param",
      "dataset=eu",
      "--json",
    );
    const schedule = json<{ id: string; active: boolean; parameters: Record<string, unknown> }>(created);
    expect(schedule).toMatchObject({ active: true, parameters: { dataset: "eu" } });

    const [table, listed, bad, wrongParams, noTimes] = await Promise.all([
      baton("deployment", "schedule", "ls", "etl/nightly"),
      baton("deployment", "schedule", "ls", "etl/nightly", "--json"),
      baton("deployment", "schedule", "create", "etl/nightly", "--cron", "every day"),
      baton("deployment", "schedule", "create", "etl/nightly", "--interval", "60", "--param", "dataset=3"),
      baton("deployment", "schedule", "create", "etl/nightly", "--param", "dataset=x"),
    ]);
    expect(table.stdout).toMatch(/^ID\s+SCHEDULE\s+STATUS\s+PARAMETERS$/m);
    expect(table.stdout).toMatch(
      new RegExp(
        `^${schedule.id}\\s+cron '0 3 \\* \\* \\*' Europe/Paris\\s+active\\s+\\{"dataset":"eu"\\}$`,
        "m",
      ),
    );
    expect(json<unknown[]>(listed)).toEqual([schedule]);
    expect(oneLineError(bad)).toContain("every day");
    expect(oneLineError(wrongParams)).toContain("dataset");
    expect(oneLineError(noTimes)).toContain("give one of --cron, --interval and --rrule");

    const active = async () =>
      (
        await server.client.api.readDeploymentByName({
          params: { flowName: "etl", deploymentName: "nightly" },
        })
      ).schedules[0]?.active;
    expect((await baton("deployment", "schedule", "pause", "etl/nightly", schedule.id)).stdout.trim()).toBe(
      `Paused schedule ${schedule.id} of deployment 'etl/nightly'.`,
    );
    expect(await active()).toBe(false);
    await baton("deployment", "schedule", "resume", "etl/nightly", schedule.id);
    expect(await active()).toBe(true);
    expect((await baton("deployment", "schedule", "delete", "etl/nightly", schedule.id)).stdout.trim()).toBe(
      `Removed schedule ${schedule.id} from deployment 'etl/nightly'.`,
    );
    const [again, notAnId, none] = await Promise.all([
      baton("deployment", "schedule", "delete", "etl/nightly", schedule.id),
      baton("deployment", "schedule", "pause", "etl/nightly", "nope"),
      baton("deployment", "schedule", "ls", "etl/nightly"),
    ]);
    expect(oneLineError(again)).toContain(`schedule '${schedule.id}'`);
    expect(oneLineError(notAnId)).toContain("'nope' is not a schedule id");
    expect(none.stdout).toContain("Deployment 'etl/nightly' has no schedules.");
  });

  it("pauses, resumes and deletes a deployment", async () => {
    await server.client.api.createDeployment({ body: { flowName: "report", name: "temp" } });
    await server.client.api.createDeployment({ body: { flowName: "report", name: "gone" } });
    const [paused, deleted] = await Promise.all([
      baton("deployment", "pause", "report/temp"),
      baton("deployment", "delete", "report/gone"),
    ]);
    expect(paused.stdout.trim()).toBe("Paused deployment 'report/temp'.");
    expect(deleted.stdout.trim()).toBe("Deleted deployment 'report/gone'.");
    const [table, gone] = await Promise.all([
      baton("deployment", "ls"),
      baton("deployment", "inspect", "report/gone"),
    ]);
    expect(table.stdout).toMatch(/^report\/temp\s+\S+\s+-\s+-\s+paused/m);
    expect(table.stdout).not.toContain("report/gone");
    expect(oneLineError(gone)).toBe("error: deployment 'report/gone' does not exist");
    expect((await baton("deployment", "resume", "report/temp")).stdout.trim()).toBe(
      "Resumed deployment 'report/temp'.",
    );
    expect(
      (
        await server.client.api.readDeploymentByName({
          params: { flowName: "report", deploymentName: "temp" },
        })
      ).paused,
    ).toBe(false);
  });
});

describe("baton flow-run", () => {
  it("deletes the runs that ended before a time, in given final states, only with --yes", async () => {
    const finished = async (flowName: string, end: "COMPLETED" | "FAILED") => {
      const run = await server.client.api.createFlowRun({ body: { flowName } });
      for (const type of ["PENDING", "RUNNING", end] as const) {
        await server.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type } } });
      }
      return run.id;
    };
    const [ok, failed] = [await finished("cleaned", "COMPLETED"), await finished("cleaned", "FAILED")];
    const exists = async (id: string) =>
      server.client.api.readFlowRun({ params: { id } }).then(
        () => true,
        () => false,
      );

    const [unasked, badTime, badState, both, neither] = await Promise.all([
      baton("flow-run", "delete", "--before", "1d"),
      baton("flow-run", "delete", "--before", "last tuesday", "--yes"),
      baton("flow-run", "delete", "--before", "1d", "--state", "running", "--yes"),
      baton("flow-run", "delete", ok, "--before", "1d"),
      baton("flow-run", "delete"),
    ]);
    expect(oneLineError(unasked)).toMatch(
      /this deletes every flow run that ended before .+ with its task runs and logs: add --yes/,
    );
    expect(oneLineError(badTime)).toContain("'last tuesday' is not a time: give an ISO 8601 date or time");
    expect(oneLineError(badState)).toContain(
      "'running' is not a final state: give one of completed, failed, cancelled, crashed",
    );
    expect(oneLineError(both)).toContain("give a flow run id or --before (with --state), not both");
    expect(oneLineError(neither)).toContain("give a flow run id, or --before TIME for a clean-up");
    expect([await exists(ok), await exists(failed)]).toEqual([true, true]);

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const onlyFailed = await baton("flow-run", "delete", "--before", tomorrow, "--state", "failed", "--yes");
    expect(onlyFailed.stdout).toMatch(
      /^Deleted [1-9]\d* flow run\(s\): every flow run that ended before .+ in FAILED\.$/m,
    );
    expect([await exists(ok), await exists(failed)]).toEqual([true, false]);
    await baton("flow-run", "delete", ok); // leaves the store as the tests after this one expect it
  });

  it("lists runs filtered by state, flow and deployment, as a table and JSON, and inspects one", async () => {
    const deployment = await server.client.api.readDeploymentByName({
      params: { flowName: "report", deploymentName: "weekly" },
    });
    const a = await server.client.api.createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { week: 47 } },
    });
    const b = await server.client.api.createFlowRun({ body: { flowName: "adhoc", parameters: { x: 1 } } });
    for (const type of ["PENDING", "RUNNING", "COMPLETED"] as const) {
      await server.client.api.setFlowRunState({ params: { id: b.id }, body: { state: { type } } });
    }
    const [table, all, completed, byFlow, byDeployment, limited, inspect, inspectJson] = await Promise.all([
      baton("flow-run", "ls"),
      baton("flow-run", "ls", "--json", "--limit", "100"),
      baton("flow-run", "ls", "--state", "completed", "--state", "FAILED", "--json"),
      baton("flow-run", "ls", "--flow", "adhoc", "--json"),
      baton("flow-run", "ls", "--deployment", "report/weekly", "--json"),
      baton("flow-run", "ls", "--limit", "1", "--json"),
      baton("flow-run", "inspect", b.id),
      baton("flow-run", "inspect", a.id, "--json"),
    ]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+FLOW\s+DEPLOYMENT\s+STATE\s+STARTED\s+ENDED$/m);
    expect(table.stdout).toContain(`${a.id}  ${a.name}`);
    const bLine = table.stdout.split("\n").find((line) => line.startsWith(b.id))!;
    expect(bLine).toMatch(/adhoc\s+-\s+Completed\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(.+\)\s+\d{4}-.+\)$/);

    const summaries = json<RunSummary[]>(all);
    expect(summaries.find((run) => run.id === b.id)).toMatchObject({
      name: b.name,
      flow: "adhoc",
      deployment: null,
      state: { type: "COMPLETED", name: "Completed" },
      parameters: { x: 1 },
      startTime: expect.any(String) as string,
      endTime: expect.any(String) as string,
    });
    expect(summaries.find((run) => run.id === a.id)).toMatchObject({
      flow: "report",
      deployment: "weekly",
      state: { type: "SCHEDULED", name: "Scheduled" },
      parameters: { week: 47 },
      startTime: null,
      endTime: null,
    });
    expect(json<RunSummary[]>(completed).map((run) => run.id)).toEqual([b.id]);
    expect(json<RunSummary[]>(byFlow).map((run) => run.id)).toEqual([b.id]);
    expect(json<RunSummary[]>(byDeployment).map((run) => run.id)).toEqual([a.id]);
    expect(json<RunSummary[]>(limited)).toHaveLength(1);
    expect(inspect.stdout).toMatch(/Name:\s+\S+\n/);
    expect(inspect.stdout).toMatch(/State:\s+Completed\n/);
    expect(inspect.stdout).toMatch(/Parameters:\s+\{"x":1\}\n/);
    expect(inspect.stdout).toMatch(/Ended:\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ s ago)\)\n/);
    expect(json<FlowRun>(inspectJson)).toMatchObject({
      id: a.id,
      deploymentName: "weekly",
      parameters: { week: 47 },
    });
  });

  it("lists the most recent runs by expected start, leaving out a schedule's runs still to come", async () => {
    const hours = (n: number) => new Date(Date.now() + n * 3600_000).toISOString();
    const create = (state: { type: "SCHEDULED"; name?: string; scheduledTime: string }) =>
      server.client.api.createFlowRun({ body: { flowName: "ticker", state } });
    // A schedule's runs ahead of time, made before the runs below and after them: newest created.
    const ahead = [];
    for (let n = 1; n <= 20; n++) ahead.push(await create({ type: "SCHEDULED", scheduledTime: hours(n) }));
    const late = await create({ type: "SCHEDULED", name: "Late", scheduledTime: hours(-1) });
    const ran = [];
    for (let n = 3; n >= 1; n--) {
      const run = await create({ type: "SCHEDULED", scheduledTime: hours(-n / 10) });
      for (const type of ["PENDING", "RUNNING", "COMPLETED"] as const) {
        await server.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type } } });
      }
      ran.push(run);
    }
    const ids = (result: Result) => json<RunSummary[]>(result).map((run) => run.id);
    const [recent, table, scheduled, lateOnly, lateCased, lateAndCompleted] = await Promise.all([
      baton("flow-run", "ls", "--flow", "ticker", "--limit", "5", "--json"),
      baton("flow-run", "ls", "--flow", "ticker"),
      baton("flow-run", "ls", "--flow", "ticker", "--state", "scheduled", "--limit", "3", "--json"),
      baton("flow-run", "ls", "--flow", "ticker", "--state", "late", "--json"),
      baton("flow-run", "ls", "--flow", "ticker", "--state", "LATE", "--json"),
      baton("flow-run", "ls", "--flow", "ticker", "--state", "Late", "--state", "completed", "--json"),
    ]);
    // Newest expected start first, past runs included; the 20 still to come are left out and counted.
    expect(ids(recent)).toEqual(
      [...ran]
        .reverse()
        .map((run) => run.id)
        .concat(late.id),
    );
    expect(table.stdout.split("\n").find((line) => line.startsWith(late.id))).toMatch(/\sLate\s/);
    expect(table.stdout.trimEnd().split("\n").at(-1)).toBe(
      "20 scheduled run(s) still to come not shown; list them with --state scheduled.",
    );
    // Asked for, Scheduled runs include those to come, latest first as well.
    expect(ids(scheduled)).toEqual([ahead[19]!.id, ahead[18]!.id, ahead[17]!.id]);
    expect(ids(lateOnly)).toEqual([late.id]);
    expect(ids(lateCased)).toEqual([late.id]);
    expect(ids(lateAndCompleted)).toEqual(
      [...ran]
        .reverse()
        .map((run) => run.id)
        .concat(late.id),
    );
  });

  it("names the valid states when --state is not one", async () => {
    const result = await baton("flow-run", "ls", "--state", "done");
    expect(oneLineError(result)).toBe(
      "error: option '-s, --state <state>' argument 'done' is invalid. 'done' is not a state type or name; " +
        "use a type (SCHEDULED, PENDING, RUNNING, PAUSED, CANCELLING, COMPLETED, FAILED, CANCELLED, CRASHED) " +
        "or a name (Late, AwaitingRetry, Retrying, Cached, TimedOut, Suspended), in any case",
    );
  });

  it("prints logs, and with --follow prints new logs and states until the run ends", async () => {
    const run = await server.client.api.createFlowRun({ body: { flowName: "logger" } });
    const log = (message: string, level = 20) =>
      server.client.api.createLogs({
        body: [{ flowRunId: run.id, level, message, name: "logger", timestamp: new Date().toISOString() }],
      });
    await log("first line");
    const child = spawnBaton(server.apiUrl, "flow-run", "logs", run.id, "--follow");
    let output = "";
    child.stdout.setEncoding("utf8");
    const seen = new Promise<void>((resolve) =>
      child.stdout.on("data", (chunk: string) => {
        output += chunk;
        if (output.includes("first line")) resolve();
      }),
    );
    const exited = once(child, "exit");
    await seen;
    await server.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } });
    await server.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    await log("live line", 40);
    await server.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "FAILED" } } });
    const [code] = (await exited) as [number];
    expect(code).toBe(0);
    const lines = output.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \| INFO {5}\| logger - first line$/);
    expect(lines.slice(1).map((line) => line.split(" | ").slice(1).join(" | "))).toEqual([
      "STATE    | flow run is Pending",
      "STATE    | flow run is Running",
      "ERROR    | logger - live line",
      "STATE    | flow run is Failed",
    ]);

    const [logs, ended] = await Promise.all([
      baton("flow-run", "logs", run.id),
      baton("flow-run", "logs", run.id, "--follow"),
    ]);
    expect(logs.stdout).toMatch(/INFO {5}\| logger - first line\n.*ERROR {4}\| logger - live line\n$/);
    expect(ended.code).toBe(0);
    expect(ended.stdout).toContain("flow run is Failed");
  });

  it("cancels and deletes runs, and names unknown or malformed ids", async () => {
    const run = await server.client.api.createFlowRun({ body: { flowName: "adhoc" } });
    expect((await baton("flow-run", "cancel", run.id)).stdout.trim()).toBe(
      `Flow run ${run.id} is Cancelled.`,
    );
    expect((await server.client.api.readFlowRun({ params: { id: run.id } })).state?.type).toBe("CANCELLED");
    expect((await baton("flow-run", "delete", run.id)).stdout.trim()).toBe(`Deleted flow run ${run.id}.`);
    const [gone, logs, cancel, malformed, badState] = await Promise.all([
      baton("flow-run", "inspect", run.id),
      baton("flow-run", "logs", run.id, "--follow"),
      baton("flow-run", "cancel", run.id),
      baton("flow-run", "inspect", "abc"),
      baton("flow-run", "ls", "--state", "DONE"),
    ]);
    expect(oneLineError(gone)).toBe(`error: flow run '${run.id}' does not exist`);
    expect(oneLineError(logs)).toBe(`error: flow run '${run.id}' does not exist`);
    expect(oneLineError(cancel)).toBe(`error: flow run '${run.id}' does not exist`);
    expect(oneLineError(malformed)).toContain("'abc' is not a flow run id (a UUID)");
    expect(oneLineError(badState)).toContain("'DONE' is not a state type");
  });
});

describe("baton flow-run retry", () => {
  it("runs a finished deployment run again, and refuses a run in flight or one without a deployment", async () => {
    const deployment = await server.client.api.readDeploymentByName({
      params: { flowName: "report", deploymentName: "weekly" },
    });
    const run = await server.client.api.createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const inFlight = await baton("flow-run", "retry", run.id);
    expect(oneLineError(inFlight)).toBe(
      `error: flow run ${run.id} cannot be retried: only a finished run can run again (it is Scheduled)`,
    );
    await server.client.api.setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "FAILED", message: "broke" }, force: true },
    });
    expect((await baton("flow-run", "retry", run.id)).stdout.trim()).toBe(
      `Flow run ${run.id} is scheduled again; its deployment's worker or serve process picks it up.`,
    );
    const again = await server.client.api.readFlowRun({ params: { id: run.id } });
    expect(again).toMatchObject({
      state: { type: "SCHEDULED", message: "Retried from the CLI" },
      runCount: 0,
    });

    const adhoc = await server.client.api.createFlowRun({
      body: { flowName: "adhoc", state: { type: "FAILED" } },
    });
    expect(oneLineError(await baton("flow-run", "retry", adhoc.id))).toBe(
      `error: flow run ${adhoc.id} cannot be retried: only a deployment's runs run again: nothing would pick this one up (it is Failed)`,
    );
  });
});

describe("baton task-run", () => {
  it("lists task runs by flow run and state, as a table and JSON, and inspects one", async () => {
    const flowRun = await server.client.api.createFlowRun({ body: { flowName: "with-tasks" } });
    const make = (name: string, type: "COMPLETED" | "FAILED") =>
      server.client.api.createTaskRun({
        body: {
          flowRunId: flowRun.id,
          name,
          taskKey: name,
          tags: ["etl"],
          state: { type, message: `${name} ${type}` },
        },
      });
    const done = await make("extract-0", "COMPLETED");
    const failed = await make("load-0", "FAILED");
    const [table, failedOnly, asJson, inspect, inspectJson, malformed] = await Promise.all([
      baton("task-run", "ls", "--flow-run", flowRun.id),
      baton("task-run", "ls", "--flow-run", flowRun.id, "--state", "failed", "--json"),
      baton("task-run", "ls", "--tag", "etl", "--json"),
      baton("task-run", "inspect", failed.id),
      baton("task-run", "inspect", done.id, "--json"),
      baton("task-run", "inspect", "abc"),
    ]);
    expect(table.stdout).toMatch(/^ID\s+NAME\s+FLOW RUN\s+STATE\s+STARTED\s+ENDED$/m);
    expect(table.stdout).toMatch(new RegExp(`^${done.id}\\s+extract-0\\s+${flowRun.id}\\s+Completed`, "m"));
    expect(table.stdout).toMatch(new RegExp(`^${failed.id}\\s+load-0\\s+${flowRun.id}\\s+Failed`, "m"));
    expect(json<{ id: string }[]>(failedOnly).map((run) => run.id)).toEqual([failed.id]);
    expect(json<{ id: string }[]>(asJson).map((run) => run.id)).toEqual(
      expect.arrayContaining([done.id, failed.id]),
    );
    expect(inspect.stdout).toMatch(/Name:\s+load-0/);
    expect(inspect.stdout).toMatch(/Message:\s+load-0 FAILED/);
    expect(json<{ id: string; taskKey: string }>(inspectJson)).toMatchObject({
      id: done.id,
      taskKey: "extract-0",
    });
    expect(oneLineError(malformed)).toContain("'abc' is not a task run id (a UUID)");
  });
});

describe("an unreachable server", () => {
  it("says in one line which URL was tried and how to set it", async () => {
    const offline = batonAt("http://127.0.0.1:9/api");
    const results = await Promise.all([
      offline("work-pool", "ls"),
      offline("flow-run", "logs", "00000000-0000-4000-8000-000000000000", "--follow"),
    ]);
    for (const result of results) {
      const line = oneLineError(result);
      expect(line).toContain("cannot reach the Baton API at http://127.0.0.1:9/api");
      expect(line).toContain("BATON_API_URL");
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
