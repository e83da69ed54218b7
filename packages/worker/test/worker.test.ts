import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import {
  defaultBaseJobTemplate,
  withJobVariableDefaults,
  type FlowRun,
  type JsonObject,
  type State,
} from "@baton/core";
import { batonAt, json } from "../../cli/test/run-baton.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import type { TestProcess } from "../../../test/processes.js";
import {
  isType,
  limitSpans,
  mostAtOnce,
  waitForEvent,
  waitForLog,
  waitForRunState,
} from "../../../test/runs.js";
import { deploy as deployFlow, fixtures, root, startWorker as startWorkerProcess } from "./workers.js";
import { cancelledMark } from "./fixtures/flows.js";

/** Resolves once `file` exists (bounded: 200 looks, 50 ms apart). */
async function waitForFile(file: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 50));
  expect(existsSync(file), `${file} exists`).toBe(true);
}

/** Pids of the runner processes started ahead for the server at `apiUrl` and not handed a run yet. */
function warmRunnersOf(apiUrl: string): number[] {
  const pids: number[] = [];
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let environ: string[];
    try {
      environ = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    } catch {
      continue; // gone, or not ours to read
    }
    if (environ.includes("BATON_WARM_RUNNER=1") && environ.includes(`BATON_API_URL=${apiUrl}`))
      pids.push(Number(pid));
  }
  return pids;
}

describe.each(DIALECTS)("process workers on %s", (dialect) => {
  let server: TestServer;
  let baton: ReturnType<typeof batonAt>;
  const api = () => server.client.api;

  const workers: TestProcess[] = [];
  /** A worker of this server; the runs' processes heartbeat fast, so a killed one is seen soon. */
  const startWorker = async (pool: string, ...args: string[]) => {
    const worker = await startWorkerProcess(server.apiUrl, pool, args, {
      BATON_HEARTBEAT_INTERVAL_SECONDS: "0.2",
    });
    workers.push(worker);
    return worker;
  };
  const deploy = (entrypoint: string, name: string, pool: string, ...args: string[]) =>
    deployFlow(server.apiUrl, entrypoint, name, pool, ...args);
  /** A pool named `name` with the slow-to-load flow (fixtures/slow-start.ts) deployed to it, likewise named. */
  const deploySlowStart = async (name: string, ...args: string[]) => {
    await api().createWorkPool({ body: { name, type: "process" } });
    return json<{ id: string }>(
      await baton(
        "deploy",
        `${fixtures}/slow-start.ts:late`,
        "--name",
        name,
        "--pool",
        name,
        "--json",
        ...args,
      ),
    );
  };

  beforeAll(async () => {
    server = await startTestServer(dialect, { flowRunHeartbeatTimeoutSeconds: 2, serviceLoopSeconds: 0.2 });
    baton = batonAt(server.apiUrl);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it("runs deployment runs started through the API and the CLI, in their own processes, with their output as logs", async () => {
    await api().createWorkPool({ body: { name: "basic", type: "process" } });
    const deployment = await deploy("add", "sum", "basic");
    await startWorker("basic");

    const fromApi = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { a: 1, b: 2 } },
    });
    const done = await waitForRunState(server.client, fromApi.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: 3 } });
    expect(done.workerName).toMatch(/^worker-/);
    // The child's console output arrives as the run's logs (shipped by the worker, so maybe just after).
    await waitForLog(server.client, fromApi.id, "adding 1 and 2");

    const fromCli = await baton(
      "deployment",
      "run",
      "add/sum",
      "--param",
      "a=20",
      "--param",
      "b=22",
      "--json",
    );
    const created = json<FlowRun>(fromCli);
    const finished = await waitForRunState(
      server.client,
      created.id,
      isType("COMPLETED", "FAILED", "CRASHED"),
    );
    expect(finished.state).toMatchObject({ type: "COMPLETED", data: { value: 42 } });

    const wrong = await baton("deployment", "run", "add/sum", "--param", "a=one");
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toMatch(/a/);
  });

  it("keeps a run's output out of the worker's own when its pool's streamOutput is false, not out of its logs", async () => {
    const baseJobTemplate = withJobVariableDefaults(defaultBaseJobTemplate("process"), {
      streamOutput: false,
    });
    await api().createWorkPool({ body: { name: "quiet", type: "process", baseJobTemplate } });
    const deployment = await deploy("add", "quiet-sum", "quiet");
    const worker = await startWorker("quiet");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { a: 5, b: 6 } },
    });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: 11 } });
    await waitForLog(server.client, run.id, "adding 5 and 6");
    expect(worker.lines.some((line) => line.includes("started on process pool 'quiet'"))).toBe(true);
    expect(worker.lines.filter((line) => line.includes("adding 5 and 6"))).toEqual([]);
  });

  it("never lets two runs of a queue limited to one run at once, with three workers racing", async () => {
    await api().createWorkPool({ body: { name: "raced", type: "process" } });
    await api().createWorkQueue({ params: { pool: "raced" }, body: { name: "one", concurrencyLimit: 1 } });
    const deployment = await deploy("nap", "short", "raced", "--work-queue", "one");
    const runs = await Promise.all(
      Array.from({ length: 6 }, () =>
        api().createDeploymentRun({ params: { id: deployment.id }, body: { parameters: { ms: 20 } } }),
      ),
    );
    await Promise.all([startWorker("raced"), startWorker("raced"), startWorker("raced")]);
    const finished = await Promise.all(
      runs.map((run) => waitForRunState(server.client, run.id, isType("COMPLETED"))),
    );
    expect(mostAtOnce(await limitSpans(server.client, finished))).toBe(1);
    expect(new Set(finished.map((run) => run.workerName)).size).toBeGreaterThanOrEqual(1);
  });

  it("serves the higher-priority queue first", async () => {
    await api().createWorkPool({ body: { name: "ranked", type: "process" } });
    await api().createWorkQueue({ params: { pool: "ranked" }, body: { name: "later", priority: 5 } });
    const low = await deploy("nap", "low", "ranked", "--work-queue", "later");
    const high = await deploy("nap", "high", "ranked"); // the default queue, priority 1
    const lows = [];
    for (let i = 0; i < 2; i++) {
      lows.push(await api().createDeploymentRun({ params: { id: low.id }, body: { parameters: { ms: 1 } } }));
    }
    const urgent = await api().createDeploymentRun({
      params: { id: high.id },
      body: { parameters: { ms: 1 } },
    });
    await startWorker("ranked", "--limit", "1");
    const finished = await Promise.all(
      [urgent, ...lows].map((run) => waitForRunState(server.client, run.id, isType("COMPLETED"))),
    );
    const started = finished.map((run) => Date.parse(run.startTime!));
    expect(started[0]).toBeLessThanOrEqual(Math.min(...started.slice(1)));
  });

  it("stops the job of a cancelled run and ends it CANCELLED", async () => {
    await api().createWorkPool({ body: { name: "cancels", type: "process" } });
    const deployment = await deploy("nap", "long", "cancels");
    await startWorker("cancels");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ms: 600_000 } },
    });
    await waitForRunState(server.client, run.id, isType("RUNNING"));
    const cancel = await baton("flow-run", "cancel", run.id);
    expect(cancel.code).toBe(0);
    const cancelled = await waitForRunState(
      server.client,
      run.id,
      isType("CANCELLED", "COMPLETED", "FAILED", "CRASHED"),
    );
    expect(cancelled.state?.type).toBe("CANCELLED");
  });

  it("retries a failed run in its own process: no second job, no crash", async () => {
    await api().createWorkPool({ body: { name: "retrying", type: "process" } });
    const deployment = await deploy("flaky", "flaky", "retrying");
    const worker = await startWorker("retrying");
    const marker = join(mkdtempSync(join(tmpdir(), "baton-marker-")), "failed");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { marker } },
    });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state, done.state?.message ?? "").toMatchObject({
      type: "COMPLETED",
      data: { value: "second attempt" },
    });
    expect(done.runCount).toBe(2);
    expect(done.attempt).toBe(1); // claimed once
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.name)).toEqual([
      "Scheduled",
      "Pending",
      "Running",
      "AwaitingRetry",
      "Pending",
      "Running",
      "Completed",
    ]);
    await worker.waitForLine(new RegExp(`'${done.name}' job exited with code 0`));
    expect(worker.lines.filter((line) => line.includes(`flow run '${done.name}' started`))).toHaveLength(1);
  });

  it("cancelling asks the flow to stop first: its hook runs and its task run in flight ends CANCELLED", async () => {
    await api().createWorkPool({ body: { name: "polite", type: "process" } });
    const deployment = await deploy("patient", "patient", "polite");
    await startWorker("polite");
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    await waitForLog(server.client, run.id, "waiting in a task");
    expect((await baton("flow-run", "cancel", run.id)).code).toBe(0);
    const cancelled = await waitForRunState(
      server.client,
      run.id,
      isType("CANCELLED", "COMPLETED", "FAILED", "CRASHED"),
    );
    expect(cancelled.state?.type).toBe("CANCELLED");
    const tasks = await api().listTaskRuns({ query: { flowRunId: run.id } });
    expect(tasks.items.map((taskRun) => taskRun.state?.type)).toEqual(["CANCELLED"]);
    await waitForFile(cancelledMark(run.id));
  });

  it("fences a process frozen past the heartbeat timeout: the next attempt completes, the woken one changes nothing", async () => {
    await api().createWorkPool({ body: { name: "frozen", type: "process" } });
    const deployment = await deploy("survivor", "frozen", "frozen");
    const worker = await startWorker("frozen");
    const marker = join(mkdtempSync(join(tmpdir(), "baton-marker-")), "started");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { marker } },
    });
    await waitForLog(server.client, run.id, "first attempt: waiting to be killed");
    const [, pid] = /started \(pid (\d+)\)/.exec(await worker.waitForLine(/started \(pid \d+\)/))!;
    process.kill(Number(pid), "SIGSTOP");
    try {
      const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED"));
      expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: "survived" } });
      expect(done.attempt).toBeGreaterThan(1);
    } finally {
      process.kill(Number(pid), "SIGCONT");
    }
    // Woken, the first attempt hears that it is stale at its next heartbeat and stops; its end changes nothing.
    await worker.waitForLine(/job exited with code 1/);
    const after = await api().readFlowRun({ params: { id: run.id } });
    expect(after.state?.type).toBe("COMPLETED");
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.filter((state) => state.type === "COMPLETED")).toHaveLength(1);
    expect(history.at(-1)?.type).toBe("COMPLETED");
  });

  it("keeps a run whose process is slow to start alive with the worker's heartbeats, past the timeout", async () => {
    const deployment = await deploySlowStart("slow");
    // Loading the module takes 3 heartbeat timeouts; the worker beats for the run meanwhile.
    const worker = await startWorkerProcess(server.apiUrl, "slow", [], { SLOW_START_MS: "6000" });
    workers.push(worker);
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: "started late" } });
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.name)).toEqual(["Scheduled", "Pending", "Running", "Completed"]);
    expect(done.attempt).toBe(1);
  });

  it("reschedules a run killed while its module loads without using a retry: it had not started", async () => {
    const deployment = await deploySlowStart("unstarted");
    const first = await startWorkerProcess(server.apiUrl, "unstarted", [], { SLOW_START_MS: "6000" });
    workers.push(first);
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    await first.waitForLine(/started \(pid \d+\)/);
    process.kill(-first.child.pid!, "SIGKILL"); // the worker and its runner, mid-import
    await first.exited;
    // The flow has no retries; the server learns a flow's retries only once its module has loaded, so
    // a run must stay PENDING until then, and a PENDING run that crashes is always run again.
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("PENDING");
    workers.push(await startWorkerProcess(server.apiUrl, "unstarted", [], { SLOW_START_MS: "0" }));
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED"));
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: "started late" } });
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.name)).toEqual([
      "Scheduled",
      "Pending",
      "Crashed",
      "Rescheduled",
      "Pending",
      "Running",
      "Completed",
    ]);
  });

  it("cancels runs whose module never finishes loading, one of them waiting for a runner ahead to load it", async () => {
    const deployment = await deploySlowStart("hanging", "--job-variable", "stopGracePeriodSeconds=1");
    const marks = mkdtempSync(join(tmpdir(), "baton-marks-"));
    try {
      const worker = await startWorkerProcess(server.apiUrl, "hanging", [], {
        BATON_HEARTBEAT_INTERVAL_SECONDS: "0.2",
        SLOW_START_MS: "600000",
        IMPORT_MARKS: marks,
      });
      workers.push(worker);
      /** Whether a runner started ahead (not a run's) has begun importing the module. */
      const importingAhead = () =>
        readdirSync(marks).some((pid) => {
          try {
            return readFileSync(`/proc/${pid}/environ`, "utf8").includes("BATON_RUNNER_ENTRYPOINT=");
          } catch {
            return false; // gone: a run's runner, stopped by its cancel
          }
        });
      const cancelled = async () => {
        const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
        await waitForRunState(server.client, run.id, isType("PENDING"));
        expect((await baton("flow-run", "cancel", run.id)).code).toBe(0);
        // Its job is stopped (the grace period of a second, then SIGTERM), not just its run ended.
        await worker.waitForLine(new RegExp(`flow run '${run.name}' job was killed by SIGTERM`));
        return waitForRunState(server.client, run.id, isType("CANCELLED", "COMPLETED", "FAILED", "CRASHED"));
      };
      // Its runner started when it was claimed; the cancel stops it (mid-import, or still starting).
      expect((await cancelled()).state?.type).toBe("CANCELLED");
      // The runner started ahead since has begun importing the module (which never ends): the next run
      // waits for that import a while, then takes a runner that imported nothing. The cancel made
      // meanwhile, before the run had a job, stops that job once it has one.
      for (let i = 0; i < 200 && !importingAhead(); i++) await sleep(50);
      expect(importingAhead(), "a runner ahead is importing the module").toBe(true);
      expect((await cancelled()).state?.type).toBe("CANCELLED");
    } finally {
      rmSync(marks, { recursive: true, force: true });
    }
  });

  it("a worker frozen past the timeout claims the run again and keeps the new attempt alive while the old job ends", async () => {
    const deployment = await deploySlowStart("thawed");
    const worker = await startWorkerProcess(server.apiUrl, "thawed", ["--warm-runners", "0"], {
      SLOW_START_MS: "6000",
    });
    workers.push(worker);
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    await worker.waitForLine(/started \(pid \d+\)/);
    // Frozen, the worker's heartbeats stop while its first job is still loading: the run is crashed and
    // rescheduled, and the worker, thawed at once, claims it again. The first job then finds itself
    // stale and ends; neither its end nor the crash arriving late may silence the new attempt.
    const crashed = waitForEvent(
      server.client,
      ["flow-run.state-changed"],
      (event) => event.resource.id === run.id && (event.payload as { state: State }).state.type === "CRASHED",
      () => process.kill(worker.child.pid!, "SIGSTOP"),
    );
    try {
      await crashed;
    } finally {
      process.kill(worker.child.pid!, "SIGCONT");
    }
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: "started late" } });
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.filter((state) => state.type === "CRASHED")).toHaveLength(1);
    expect(done.attempt).toBe(3);
    await worker.waitForLine(/job exited with code 1/); // the first attempt's, told it is stale
  });

  it("marks a run CRASHED when its worker and process are killed, then runs it again elsewhere", async () => {
    await api().createWorkPool({ body: { name: "fragile", type: "process" } });
    const deployment = await deploy("survivor", "once", "fragile");
    const first = await startWorker("fragile");
    const marker = join(mkdtempSync(join(tmpdir(), "baton-marker-")), "started");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { marker } },
    });
    await first.waitForLine(/first attempt: waiting to be killed/);
    process.kill(-first.child.pid!, "SIGKILL"); // the worker and its child process, at once
    await first.exited;

    await startWorker("fragile");
    const completed = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED"));
    expect(completed.state).toMatchObject({ type: "COMPLETED", data: { value: "survived" } });
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    const crashed = history.find((state) => state.type === "CRASHED");
    expect(crashed?.message).toMatch(/stopped sending heartbeats/);
    expect(history.map((state) => state.name)).toEqual(
      expect.arrayContaining(["Running", "Crashed", "Rescheduled", "Completed"]),
    );
    expect(completed.runCount).toBe(2);
  });

  it("starts each run in a runner process started ahead of it, one process per run, none left behind", async () => {
    await api().createWorkPool({ body: { name: "warm", type: "process" } });
    const deployment = await deploy("whoAmI", "who", "warm", "--job-variable", 'env={"GREETING":"hi"}');
    const worker = await startWorker("warm");
    const runOnce = async () => {
      const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
      const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
      expect(done.state?.type).toBe("COMPLETED");
      const seen = done.state?.data as unknown as {
        value: { pid: number; processStarted: string } & JsonObject;
      };
      return { run, done, seen: seen.value };
    };
    const first = await runOnce();
    // The first run's runner was started when it was claimed; the next one right after, ahead of its run.
    const second = await runOnce();
    expect(second.seen.processStarted < second.run.created).toBe(true);
    expect(second.seen).toMatchObject({ runId: second.run.id, greeting: "hi" });
    expect(second.seen.pid).not.toBe(first.seen.pid);
    expect(first.seen).toMatchObject({ runId: first.run.id, greeting: "hi" });

    // One runner waits for the next run; when its worker dies (SIGKILL, the worker alone), it goes too.
    // The runners of the runs just completed may take a moment to exit, and the next one a moment to
    // start (a quarter of a second after its predecessor was taken): the count passes through the
    // expected one on its way, so it is awaited with none of the finished runs' runners among them.
    const finished = [first.seen.pid, second.seen.pid];
    const settled = (pids: number[], count: number) =>
      pids.length === count && pids.every((pid) => !finished.includes(pid));
    const runners = async (count: number) => {
      for (let i = 0; i < 100 && !settled(warmRunnersOf(server.apiUrl), count); i++) await sleep(50);
      const pids = warmRunnersOf(server.apiUrl);
      expect(pids).toHaveLength(count);
      expect(pids.filter((pid) => finished.includes(pid))).toEqual([]);
    };
    // Two: one that imported nothing, one that imported the deployment's entrypoint (the test below).
    await runners(2);
    process.kill(worker.child.pid!, "SIGKILL");
    await worker.exited;
    await runners(0);
  });

  it("imports a deployment's code in a runner started ahead of its run, and never runs code edited since", async () => {
    // A project of its own, whose files the test edits between runs.
    const project = mkdtempSync(join(tmpdir(), "baton-edited-"));
    try {
      symlinkSync(join(root, "node_modules"), join(project, "node_modules"));
      writeFileSync(join(project, "package.json"), '{ "type": "module" }\n');
      writeFileSync(
        join(project, "flow.ts"),
        [
          'import { writeFileSync } from "node:fs";',
          'import { flow } from "@baton/sdk";',
          'import { version } from "./version.js";',
          "// Imported ahead of its run, the module knows no run yet; each process importing it leaves a mark.",
          "const importedFor = process.env.BATON_FLOW_RUN_ID ?? null;",
          'export const edited = flow({ name: "edited" }, async () => ({ version, importedFor, pid: process.pid }));',
          "writeFileSync(`imported-${process.pid}`, '');",
        ].join("\n"),
      );
      const version = join(project, "version.ts");
      writeFileSync(version, "export const version = 1;\n");
      const minuteAgo = new Date(Date.now() - 60_000);
      utimesSync(version, minuteAgo, minuteAgo);

      await api().createWorkPool({ body: { name: "edited", type: "process" } });
      const deployed = await batonAt(server.apiUrl, {}, project)(
        "deploy",
        "flow.ts:edited",
        "--name",
        "edited",
        "--pool",
        "edited",
        "--json",
      );
      const deployment = json<{ id: string }>(deployed);
      await startWorker("edited");
      const runOnce = async () => {
        const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
        const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
        expect(done.state?.type).toBe("COMPLETED");
        const { value } = done.state?.data as unknown as {
          value: { version: number; importedFor: string | null; pid: number };
        };
        return { id: run.id, ...value };
      };
      const importers = () =>
        readdirSync(project)
          .filter((name) => name.startsWith("imported-"))
          .map((name) => Number(name.slice("imported-".length)));
      const known = importers(); // `baton deploy` imported it too
      /** The next process that imported the flow (a runner ahead of its run, as no run is made meanwhile). */
      const nextImporter = async () => {
        const fresh = () => importers().filter((pid) => !known.includes(pid));
        for (let i = 0; i < 200 && fresh().length === 0; i++) await sleep(50);
        const [pid, ...more] = fresh();
        expect(more).toEqual([]);
        known.push(pid!);
        return pid!;
      };
      const ranIn = (run: { pid: number }) => known.push(run.pid);

      const first = await runOnce(); // no runner ahead yet: imported once claimed
      expect(first).toMatchObject({ version: 1, importedFor: first.id });
      ranIn(first);
      const ahead = await nextImporter();
      const second = await runOnce();
      expect(second).toEqual({ id: second.id, version: 1, importedFor: null, pid: ahead });

      // A file the entrypoint imports is edited while the next runner waits with the old code.
      const stale = await nextImporter();
      writeFileSync(version, "export const version = 2;\n");
      const third = await runOnce();
      expect(third).toMatchObject({ version: 2, importedFor: third.id });
      expect(third.pid).not.toBe(stale);
      ranIn(third);
      const alive = () => {
        try {
          process.kill(stale, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 100 && alive(); i++) await sleep(50);
      expect(alive(), "the runner with the old code was stopped").toBe(false);

      // The next runner ahead imports the edited code, and is used again.
      const current = await nextImporter();
      const fourth = await runOnce();
      expect(fourth).toEqual({ id: fourth.id, version: 2, importedFor: null, pid: current });
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  });
});
