/**
 * Pauses under faults, with real process workers: a paused run cancelled, its process killed, and the
 * server killed and started again while runs wait.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BatonClient } from "@baton/client";
import { batonAt, json } from "../../cli/test/run-baton.js";
import { startServerProcess, type ServerProcess } from "../../server/test/server-process.js";
import { DIALECTS, startTestServer, throwawayDatabase, type TestServer } from "../../../test/helpers.js";
import { freePort, type TestProcess } from "../../../test/processes.js";
import { isType, waitForRunState } from "../../../test/runs.js";
import { cancelledMark } from "./fixtures/pausing.js";
import { fixtures, startWorker as startWorkerProcess } from "./workers.js";

const pausing = `${fixtures}/pausing.ts`;
const ledgerFile = () => join(mkdtempSync(join(tmpdir(), "baton-paused-")), "ledger");
const pids = (ledger: string) =>
  readFileSync(ledger, "utf8")
    .trim()
    .split("\n")
    .filter((line) => line.startsWith("pid "))
    .map((line) => Number(line.slice(4)));

describe.each(DIALECTS)("pauses under faults on %s", (dialect) => {
  let server: TestServer;
  const api = () => server.client.api;
  const workers: TestProcess[] = [];
  const startWorker = async (apiUrl: string, pool: string) => {
    const worker = await startWorkerProcess(apiUrl, pool, [], { BATON_HEARTBEAT_INTERVAL_SECONDS: "0.2" });
    workers.push(worker);
    return worker;
  };
  const deploy = async (apiUrl: string, flowName: string, name: string, pool: string) =>
    json<{ id: string }>(
      await batonAt(apiUrl)("deploy", `${pausing}:${flowName}`, "--name", name, "--pool", pool, "--json"),
    );

  beforeAll(async () => {
    server = await startTestServer(dialect, { flowRunHeartbeatTimeoutSeconds: 2, serviceLoopSeconds: 0.2 });
    await api().createWorkPool({ body: { name: "people", type: "process" } });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it("cancelling a paused run ends its waiting process CANCELLED, its cancellation hook run", async () => {
    const deployment = await deploy(server.apiUrl, "watched", "cancel-me", "people");
    const worker = await startWorker(server.apiUrl, "people");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ledger: ledgerFile() } },
    });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "CANCELLING" } } });
    await worker.waitForLine(new RegExp(`flow run '${run.name}' job exited`));
    const ended = await api().readFlowRun({ params: { id: run.id } });
    expect(ended.state?.type).toBe("CANCELLED");
    expect(existsSync(cancelledMark(run.id))).toBe(true);
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.type)).toEqual([
      "SCHEDULED",
      "PENDING",
      "RUNNING",
      "PAUSED",
      "CANCELLED",
    ]);
  });

  it("a paused run whose process is killed is tried again as a running one would be, and pauses again", async () => {
    const deployment = await deploy(server.apiUrl, "watched", "kill-me", "people");
    await startWorker(server.apiUrl, "people");
    const ledger = ledgerFile();
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ledger } },
    });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    process.kill(pids(ledger)[0]!, "SIGKILL");
    await waitForRunState(server.client, run.id, (state) => state.type !== "PAUSED");
    const again = await waitForRunState(server.client, run.id, isType("PAUSED", "CRASHED", "FAILED"));
    expect(again.state?.type).toBe("PAUSED");
    expect(pids(ledger)).toHaveLength(2);
    await api().resumeFlowRun({ params: { id: run.id }, body: { input: { approved: true, note: "twice" } } });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state).toMatchObject({
      type: "COMPLETED",
      data: { value: { approved: true, note: "twice" } },
    });
    expect(done.runCount).toBe(2);
  });

  it("a paused process frozen past the heartbeat timeout is fenced: woken, it ends, and only the next attempt goes on", async () => {
    const deployment = await deploy(server.apiUrl, "watched", "freeze-me", "people");
    const worker = await startWorker(server.apiUrl, "people");
    const ledger = ledgerFile();
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ledger } },
    });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    const [frozen] = pids(ledger);
    process.kill(frozen!, "SIGSTOP");
    // Crash detection ends the silent attempt; the retry pauses again in a new process.
    await waitForRunState(server.client, run.id, (state) => state.type !== "PAUSED");
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    process.kill(frozen!, "SIGCONT");
    // Its next heartbeat is refused (a stale attempt), and it stops without a word to the run.
    await worker.waitForLine(new RegExp(`flow run '${run.name}' job exited with code 1`));
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("PAUSED");
    await api().resumeFlowRun({ params: { id: run.id }, body: { input: { approved: true, note: "once" } } });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state?.type).toBe("COMPLETED");
    const [, second] = pids(ledger);
    expect(
      readFileSync(ledger, "utf8")
        .split("\n")
        .filter((line) => line.startsWith("resumed")),
    ).toEqual([`resumed ${second}`]);
  });

  it("a rerun of a finished run starts over: its pause asks again instead of taking the last run's answer", async () => {
    const deployment = await deploy(server.apiUrl, "suspending", "run-again", "people");
    await startWorker(server.apiUrl, "people");
    const ledger = ledgerFile();
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ledger, amount: 1 } },
    });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    await api().resumeFlowRun({ params: { id: run.id }, body: { input: { approved: true, note: "first" } } });
    await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));

    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "SCHEDULED" } } });
    const again = await waitForRunState(
      server.client,
      run.id,
      isType("PAUSED", "COMPLETED", "FAILED", "CRASHED"),
    );
    expect(again.state?.type).toBe("PAUSED");
    expect(again.resumeCount).toBe(0);
    await api().resumeFlowRun({
      params: { id: run.id },
      body: { input: { approved: false, note: "second" } },
    });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state?.data).toMatchObject({ value: { doubled: 2, approved: false, note: "second" } });
    // Its task ran again too, as a rerun's tasks do.
    expect(
      readFileSync(ledger, "utf8")
        .split("\n")
        .filter((line) => line === "prepare"),
    ).toHaveLength(2);
  });

  it("a suspended run resumed while no worker is online waits, and the next worker to come carries it on", async () => {
    await api().createWorkPool({ body: { name: "nights", type: "process" } });
    const deployment = await deploy(server.apiUrl, "suspending", "overnight", "nights");
    const first = await startWorker(server.apiUrl, "nights");
    const ledger = ledgerFile();
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ledger, amount: 3 } },
    });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    await first.stop();
    const resumed = await api().resumeFlowRun({
      params: { id: run.id },
      body: { input: { approved: true, note: "later" } },
    });
    expect(resumed).toMatchObject({ state: { type: "SCHEDULED", name: "Resuming" }, workerName: null });
    await startWorker(server.apiUrl, "nights");
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: { doubled: 6, note: "later" } } });
    expect(
      readFileSync(ledger, "utf8")
        .split("\n")
        .filter((line) => line === "prepare"),
    ).toHaveLength(1);
  });

  it("a flow that catches suspend()'s error stays suspended: its process's COMPLETED is refused", async () => {
    const deployment = await deploy(server.apiUrl, "swallowing", "careless", "people");
    const worker = await startWorker(server.apiUrl, "people");
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    await worker.waitForLine(new RegExp(`flow run '${run.name}' job exited`));
    expect((await api().readFlowRun({ params: { id: run.id } })).state).toMatchObject({
      type: "PAUSED",
      name: "Suspended",
    });
    await api().resumeFlowRun({ params: { id: run.id }, body: {} });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    expect(done.state?.data).toMatchObject({ value: "resumed" });
  });

  // Seven steps are 21 task run states: the batch of 20 goes out with the last step RUNNING, and its
  // COMPLETED after the suspension has ended the step (CANCELLED); the record must still stand.
  it.each([7])("a run suspended right after %i steps runs none of them again once resumed", async (count) => {
    const deployment = await deploy(server.apiUrl, "stepsThenSuspend", `steps-${count}`, "people");
    await startWorker(server.apiUrl, "people");
    const ledger = ledgerFile();
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ledger, count } },
    });
    await waitForRunState(server.client, run.id, isType("PAUSED"));
    await api().resumeFlowRun({ params: { id: run.id }, body: {} });
    const done = await waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED"));
    const steps = Array.from({ length: count }, (_, i) => `step ${i + 1}`);
    expect(done.state).toMatchObject({ type: "COMPLETED", data: { value: steps } });
    expect(readFileSync(ledger, "utf8").trim().split("\n")).toEqual(steps);
  });

  it("the server killed and started again while one run is paused and one suspended: both resume and complete", async () => {
    const database = await throwawayDatabase(dialect);
    const port = await freePort();
    let serverProcess: ServerProcess | undefined = await startServerProcess(database.url, port);
    try {
      const client = new BatonClient({ url: serverProcess.apiUrl });
      await client.api.createWorkPool({ body: { name: "restarts", type: "process" } });
      const approving = await deploy(serverProcess.apiUrl, "approval", "approve", "restarts");
      const suspending = await deploy(serverProcess.apiUrl, "suspending", "suspend", "restarts");
      await startWorker(serverProcess.apiUrl, "restarts");
      const ledger = ledgerFile();
      const paused = await client.api.createDeploymentRun({
        params: { id: approving.id },
        body: { parameters: { amount: 4 } },
      });
      const suspended = await client.api.createDeploymentRun({
        params: { id: suspending.id },
        body: { parameters: { ledger, amount: 5 } },
      });
      for (const run of [paused, suspended]) await waitForRunState(client, run.id, isType("PAUSED"));

      process.kill(serverProcess.process.child.pid!, "SIGKILL");
      await serverProcess.process.exited;
      serverProcess = await startServerProcess(database.url, port);

      await client.api.resumeFlowRun({
        params: { id: paused.id },
        body: { input: { approved: true, note: "a" } },
      });
      await client.api.resumeFlowRun({
        params: { id: suspended.id },
        body: { input: { approved: true, note: "b" } },
      });
      const done = await Promise.all(
        [paused, suspended].map((run) =>
          waitForRunState(client, run.id, isType("COMPLETED", "FAILED", "CRASHED")),
        ),
      );
      // Each state whole in the message: a failure says what the run ended with.
      expect(done[0]!.state, JSON.stringify(done[0]!.state)).toMatchObject({
        type: "COMPLETED",
        data: { value: { amount: 4, note: "a" } },
      });
      expect(done[1]!.state, JSON.stringify(done[1]!.state)).toMatchObject({
        type: "COMPLETED",
        data: { value: { doubled: 10, note: "b" } },
      });
    } finally {
      await Promise.all(workers.splice(0).map((worker) => worker.stop()));
      await serverProcess?.stop();
      await database.drop();
    }
  }, 120_000); // two servers started from sources, a worker and two runs' processes
});
