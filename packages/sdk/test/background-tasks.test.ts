import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatonClient } from "@baton/client";
import { EventName, isEvent, type State, type TaskRun } from "@baton/core";
import { getTaskRunResult, TaskRunFailedError } from "@baton/sdk";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";
import { add, boom, flaky, hold, record } from "./fixtures/background-tasks.js";

const TASKS = fileURLToPath(new URL("./fixtures/background-tasks.ts", import.meta.url));
const WORKER = fileURLToPath(new URL("./fixtures/task-worker.ts", import.meta.url));
const CLI = fileURLToPath(new URL("../../cli/src/bin.ts", import.meta.url));

/** Resolves with the task run once its state matches, following the event stream. */
async function waitForTaskRun(
  client: BatonClient,
  id: string,
  matches: (run: TaskRun) => boolean,
): Promise<TaskRun> {
  const stop = new AbortController();
  let found: TaskRun | undefined;
  let failure: Error | undefined;
  const check = () =>
    client.api.readTaskRun({ params: { id } }).then(
      (run) => {
        if (!matches(run)) return;
        found ??= run;
        stop.abort();
      },
      (error: unknown) => {
        failure = error as Error;
        stop.abort();
      },
    );
  await client
    .events(
      { names: [EventName.TaskRunStateChanged], signal: stop.signal, onOpen: () => void check() },
      (event) => {
        if (isEvent(event, EventName.TaskRunStateChanged) && event.resource.id === id) void check();
      },
    )
    .catch((error: unknown) => {
      if (!stop.signal.aborted) throw error;
    });
  if (failure) throw failure;
  return found!;
}

const types = (states: State[]) => states.map((state) => `${state.type}:${state.name}`);

describe.each(DIALECTS)("background tasks on %s", (dialect) => {
  let server: TestServer;
  let home: string;
  let runsFile: string;
  /** A task worker through serveTasks() and one through `baton task serve`, in processes of their own. */
  let sdkWorker: TestProcess;
  let cliWorker: TestProcess;
  const saved = { url: process.env.BATON_API_URL, home: process.env.BATON_HOME };

  beforeAll(async () => {
    server = await startTestServer(dialect, { flowRunHeartbeatTimeoutSeconds: 2, serviceLoopSeconds: 0.2 });
    home = mkdtempSync(join(tmpdir(), "baton-background-"));
    runsFile = join(home, "runs.txt");
    writeFileSync(runsFile, "");
    // delay() in this process and both workers reach the same server; results live in one BATON_HOME.
    process.env.BATON_API_URL = server.apiUrl;
    process.env.BATON_HOME = home;
    const env = { BATON_API_URL: server.apiUrl, BATON_HOME: home, BATON_TEST_RUNS_FILE: runsFile };
    sdkWorker = startProcess([WORKER, "add,flaky,boom,record"], {
      env: { ...env, BATON_TEST_WORKER: "sdk-worker" },
    });
    cliWorker = startProcess(
      [CLI, "task", "serve", `${TASKS}:add`, `${TASKS}:record`, "--limit", "4", "--name", "cli-worker"],
      { env: { ...env, BATON_TEST_WORKER: "cli-worker" } },
    );
    await Promise.all([sdkWorker.waitForLine(/^ready$/), cliWorker.waitForLine(/^Serving tasks/)]);
  });

  afterAll(async () => {
    expect(await sdkWorker.stop()).toBe(0);
    expect(sdkWorker.lines).toContain("stopped");
    await cliWorker.stop();
    await server.stop();
    process.env.BATON_API_URL = saved.url;
    process.env.BATON_HOME = saved.home;
    rmSync(home, { recursive: true, force: true });
  });

  it("runs a delayed task in a task worker of another process, and reads its result back", async () => {
    const future = add.delay(2, 3);
    expect(future.id).toMatch(/^[0-9a-f-]{36}$/);
    const result = await future.result();
    expect(result.sum).toBe(5);
    expect(["sdk-worker", "cli-worker"]).toContain(result.worker);
    // From anywhere, by id: the same (persisted) result.
    expect(await getTaskRunResult(future.id)).toEqual(result);
    const run = await server.client.api.readTaskRun({ params: { id: future.id } });
    expect(run).toMatchObject({
      flowRunId: null,
      taskKey: "bg-add",
      parameters: { args: [2, 3] },
      workerName: result.worker,
      runCount: 1,
      state: { type: "COMPLETED", data: { kind: "stored" } },
    });
    expect(await future.state()).toMatchObject({ type: "COMPLETED" });
    const history = await server.client.api.listTaskRunStates({ params: { id: future.id } });
    expect(types(history)).toEqual([
      "SCHEDULED:Scheduled",
      "PENDING:Pending",
      "RUNNING:Running",
      "COMPLETED:Completed",
    ]);

    // The CLI lists it, as JSON too.
    const ls = startProcess([CLI, "task-run", "ls", "--task", "bg-add", "--json"], {
      env: { BATON_API_URL: server.apiUrl },
    });
    expect(await ls.exited).toBe(0);
    const listed = JSON.parse(ls.lines.join("\n")) as TaskRun[];
    expect(listed.map((listedRun) => listedRun.id)).toContain(future.id);
  });

  it("retries a task that fails once, in its worker, and completes", async () => {
    const future = flaky.delay("k1");
    expect(await future.result()).toBe("k1 done");
    const run = await server.client.api.readTaskRun({ params: { id: future.id } });
    expect(run).toMatchObject({ runCount: 2, state: { type: "COMPLETED" } });
    const history = await server.client.api.listTaskRunStates({ params: { id: future.id } });
    expect(types(history)).toContain("SCHEDULED:AwaitingRetry");
    expect(history.find((state) => state.name === "AwaitingRetry")?.message).toMatch(/first try of k1 fails/);
  });

  it("gives a failure back as an error with its message", async () => {
    const future = boom.delay("no luck");
    const error = await future.result().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TaskRunFailedError);
    expect((error as Error).message).toMatch(/ended Failed: Error: boom: no luck/);
    await expect(getTaskRunResult(future.id)).rejects.toThrow(/boom: no luck/);
  });

  it("stops waiting after timeoutSeconds, and a run cancelled before any worker took it rejects", async () => {
    // No worker serves bg-hold yet.
    const future = hold.delay();
    const waited = await future.result({ timeoutSeconds: 0.2 }).catch((caught: unknown) => caught);
    expect(waited).toMatchObject({ code: "timeout" });
    expect((waited as Error).message).toMatch(/has no result yet: it is Scheduled/);
    await server.client.api.setTaskRunState({
      params: { id: future.id },
      body: { state: { type: "CANCELLING" } },
    });
    const cancelled = await future.result().catch((caught: unknown) => caught);
    expect(cancelled).toBeInstanceOf(TaskRunFailedError);
    expect(cancelled).toMatchObject({ code: "cancelled" });
  });

  it("never runs a task run twice when two task workers race for them", async () => {
    const futures = Array.from({ length: 40 }, (_, n) => record.delay(n));
    const results = await Promise.all(futures.map((future) => future.result()));
    expect(results).toEqual(Array.from({ length: 40 }, (_, n) => n));
    // Each ran once: once in the file its runs write to, and with one start in the store.
    const lines = readFileSync(runsFile, "utf8").trim().split("\n");
    const ids = futures.map((future) => future.id);
    for (const id of ids) expect(lines.filter((line) => line.startsWith(`${id} `))).toHaveLength(1);
    for (const id of ids) {
      const history = await server.client.api.listTaskRunStates({ params: { id } });
      expect(history.filter((state) => state.type === "RUNNING")).toHaveLength(1);
      expect(history.filter((state) => state.type === "PENDING")).toHaveLength(1);
    }
  });

  it("cancels a running run: its worker stops it, and its future rejects as cancelled", async () => {
    const holder = startProcess([WORKER, "hold"], {
      env: { BATON_API_URL: server.apiUrl, BATON_TEST_WORKER: "holder", BATON_TEST_HOLD: "1" },
    });
    try {
      await holder.waitForLine(/^ready$/);
      const future = hold.delay();
      await future.state(); // created
      await waitForTaskRun(server.client, future.id, (run) => run.state?.type === "RUNNING");
      await server.client.api.setTaskRunState({
        params: { id: future.id },
        body: { state: { type: "CANCELLING" } },
      });
      const error = await future.result().catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TaskRunFailedError);
      expect(error).toMatchObject({ code: "cancelled" });
      const run = await server.client.api.readTaskRun({ params: { id: future.id } });
      expect(run).toMatchObject({ workerName: "holder", state: { type: "CANCELLED" } });
    } finally {
      // It stops at once: no run of its is left going.
      expect(await holder.stop()).toBe(0);
    }
  });

  it("retries in another task worker a run whose worker was killed", async () => {
    const env = { BATON_API_URL: server.apiUrl, BATON_HOME: home, BATON_HEARTBEAT_INTERVAL_SECONDS: "0.2" };
    const doomed = startProcess([WORKER, "hold"], {
      env: { ...env, BATON_TEST_WORKER: "doomed", BATON_TEST_HOLD: "1" },
    });
    await doomed.waitForLine(/^ready$/);
    const future = hold.delay();
    await future.state(); // created
    await waitForTaskRun(server.client, future.id, (run) => run.state?.type === "RUNNING");
    doomed.child.kill("SIGKILL");
    expect(await doomed.exited).toBe("SIGKILL");
    const rescuer = startProcess([WORKER, "hold"], { env: { ...env, BATON_TEST_WORKER: "rescuer" } });
    try {
      expect(await future.result()).toBe("held by rescuer");
      const run = await server.client.api.readTaskRun({ params: { id: future.id } });
      // Attempts: the first claim, the crash detection that fenced the killed worker off, the second claim.
      expect(run).toMatchObject({ workerName: "rescuer", runCount: 2, attempt: 3 });
      const history = await server.client.api.listTaskRunStates({ params: { id: future.id } });
      const retry = history.find((state) => state.name === "AwaitingRetry");
      expect(retry?.message).toMatch(/task worker 'doomed' .*stopped sending heartbeats/);
      expect(history.filter((state) => state.type === "RUNNING")).toHaveLength(2);
    } finally {
      expect(await rescuer.stop()).toBe(0);
    }
  });
});
