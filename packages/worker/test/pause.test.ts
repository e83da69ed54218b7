import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BatonError, type FlowRun } from "@baton/core";
import { batonAt, json } from "../../cli/test/run-baton.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import type { TestProcess } from "../../../test/processes.js";
import { isType, waitForRunState } from "../../../test/runs.js";
import { fixtures, startWorker as startWorkerProcess } from "./workers.js";

const pausing = `${fixtures}/pausing.ts`;

describe.each(DIALECTS)("pause and suspend on %s", (dialect) => {
  let server: TestServer;
  let baton: ReturnType<typeof batonAt>;
  const api = () => server.client.api;
  const workers: TestProcess[] = [];
  const startWorker = async (pool: string, ...args: string[]) => {
    const worker = await startWorkerProcess(server.apiUrl, pool, args, {
      BATON_HEARTBEAT_INTERVAL_SECONDS: "0.2",
    });
    workers.push(worker);
    return worker;
  };
  const deploy = async (flowName: string, name: string, pool: string, ...args: string[]) =>
    json<{ id: string }>(
      await baton("deploy", `${pausing}:${flowName}`, "--name", name, "--pool", pool, "--json", ...args),
    );
  const paused = (run: { id: string }) =>
    waitForRunState(server.client, run.id, isType("PAUSED", "COMPLETED", "FAILED", "CRASHED"));
  const finished = (run: { id: string }) =>
    waitForRunState(server.client, run.id, isType("COMPLETED", "FAILED", "CRASHED", "CANCELLED"));

  beforeAll(async () => {
    server = await startTestServer(dialect, { flowRunHeartbeatTimeoutSeconds: 2, serviceLoopSeconds: 0.2 });
    baton = batonAt(server.apiUrl);
    await api().createWorkPool({ body: { name: "people", type: "process" } });
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop()));
  });
  afterAll(async () => {
    await server.stop();
  });

  it("pauses a deployment run for typed input: wrong input is refused naming the field, the right one completes it", async () => {
    const deployment = await deploy("approval", "approve", "people");
    await startWorker("people");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { amount: 7 } },
    });
    const waiting = await paused(run);
    expect(waiting.state).toMatchObject({
      type: "PAUSED",
      name: "Paused",
      pause: { key: "pause-1", reschedule: false, description: "Approve a payout of 7" },
    });
    expect(waiting.state?.pause?.inputSchema).toMatchObject({ required: ["approved", "note"] });

    const wrong = await api()
      .resumeFlowRun({ params: { id: run.id }, body: { input: { approved: "yes" } } })
      .catch((error: unknown) => error as BatonError);
    expect(wrong).toBeInstanceOf(BatonError);
    expect((wrong as BatonError).code).toBe("invalid_argument");
    expect((wrong as BatonError).message).toMatch(/approved/);
    expect((wrong as BatonError).message).toMatch(/note is required/);
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("PAUSED");

    const resumed = await api().resumeFlowRun({
      params: { id: run.id },
      body: { input: { approved: true, note: "fine" } },
    });
    expect(resumed.state?.name).toBe("Resumed");
    const done = await finished(run);
    expect(done.state).toMatchObject({
      type: "COMPLETED",
      data: { value: { amount: 7, approved: true, note: "fine" } },
    });
    // Resuming in the same process is not another run of it.
    expect(done.runCount).toBe(1);
    const again = await api()
      .resumeFlowRun({ params: { id: run.id }, body: {} })
      .catch((error: unknown) => error as BatonError);
    expect((again as BatonError).code).toBe("conflict");
  });

  it("resumes from the CLI with --input, each value as JSON", async () => {
    const deployment = await deploy("approval", "approve-cli", "people");
    await startWorker("people");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { amount: 3 } },
    });
    await paused(run);
    const refused = await baton("flow-run", "resume", run.id, "--input", "approved=true");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/note is required/);
    const ok = await baton(
      "flow-run",
      "resume",
      run.id,
      "--input",
      "approved=false",
      "--input",
      'note="not now"',
    );
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toMatch(/is Resumed/);
    const done = await finished(run);
    expect(done.state?.data).toMatchObject({ value: { amount: 3, approved: false, note: "not now" } });
  });

  it("fails a pause nobody answered within its timeout, saying so", async () => {
    const deployment = await deploy("approval", "approve-soon", "people");
    await startWorker("people");
    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { amount: 1, timeoutSeconds: 1 } },
    });
    const done = await finished(run);
    expect(done.state).toMatchObject({ type: "FAILED", name: "TimedOut" });
    expect(done.state?.message).toMatch(/pause 'pause-1'.*past its timeout/);
  });

  it("a suspended run frees its worker slot and resumes in a new process without running its completed tasks again", async () => {
    await api().createWorkPool({ body: { name: "single", type: "process" } });
    await api().updateWorkQueue({
      params: { pool: "single", name: "default" },
      body: { concurrencyLimit: 1 },
    });
    const suspending = await deploy("suspending", "two-step", "single");
    const approving = await deploy("approval", "meanwhile", "single");
    await startWorker("single");
    const ledger = join(mkdtempSync(join(tmpdir(), "baton-suspend-")), "ledger");
    const first = await api().createDeploymentRun({
      params: { id: suspending.id },
      body: { parameters: { ledger, amount: 21 } },
    });
    const suspended = await paused(first);
    expect(suspended.state).toMatchObject({ type: "PAUSED", name: "Suspended", pause: { reschedule: true } });

    // The queue runs one at a time: another run starts while the first waits.
    const other = await api().createDeploymentRun({
      params: { id: approving.id },
      body: { parameters: { amount: 5 } },
    });
    expect((await paused(other)).state?.type).toBe("PAUSED");
    await api().resumeFlowRun({ params: { id: other.id }, body: { input: { approved: true, note: "ok" } } });
    expect((await finished(other)).state?.type).toBe("COMPLETED");

    const resumed = await api().resumeFlowRun({
      params: { id: first.id },
      body: { input: { approved: true, note: "go" } },
    });
    expect(resumed.state).toMatchObject({ type: "SCHEDULED", name: "Resuming" });
    const done: FlowRun = await finished(first);
    expect(done.state).toMatchObject({
      type: "COMPLETED",
      data: { value: { doubled: 42, approved: true, note: "go" } },
    });
    expect(done.resumeCount).toBe(1);
    const lines = readFileSync(ledger, "utf8").trim().split("\n");
    expect(lines.filter((line) => line === "prepare")).toHaveLength(1);
    expect(lines.filter((line) => line.startsWith("finish"))).toHaveLength(1);
    const history = await api().listFlowRunStates({ params: { id: first.id } });
    expect(history.map((state) => state.name)).toEqual([
      "Scheduled",
      "Pending",
      "Running",
      "Suspended",
      "Resuming",
      "Pending",
      "Running",
      "Completed",
    ]);
  });

  it("automations resume a paused run with templated input, and suspend a running one until resumed", async () => {
    const approving = await deploy("approval", "auto", "people");
    const interruptible = await deploy("interruptible", "held", "people");
    await startWorker("people");
    await api().createAutomation({
      body: {
        name: "approve small payouts",
        trigger: {
          events: ["flow-run.state-changed"],
          deployments: ["approval/auto"],
          stateNames: ["Paused"],
        },
        actions: [{ type: "resume-flow-run", input: { approved: true, note: "by {{ automation.name }}" } }],
      },
    });
    const run = await api().createDeploymentRun({
      params: { id: approving.id },
      body: { parameters: { amount: 2 } },
    });
    const done = await finished(run);
    expect(done.state?.data).toMatchObject({
      value: { amount: 2, approved: true, note: "by approve small payouts" },
    });

    const hold = await api().createAutomation({
      body: {
        name: "hold it",
        trigger: { events: ["task-run.state-changed"], flows: ["interruptible"], stateNames: ["Completed"] },
        actions: [{ type: "pause-flow-run" }],
      },
    });
    const folder = mkdtempSync(join(tmpdir(), "baton-hold-"));
    const [ledger, gate] = [join(folder, "ledger"), join(folder, "gate")];
    const held = await api().createDeploymentRun({
      params: { id: interruptible.id },
      body: { parameters: { ledger, gate } },
    });
    const suspended = await paused(held);
    expect(suspended.state).toMatchObject({
      type: "PAUSED",
      name: "Suspended",
      message: "Suspended by automation 'hold it'",
    });
    await api().updateAutomation({ params: { id: hold.id }, body: { enabled: false } });
    writeFileSync(gate, "open");
    await api().resumeFlowRun({ params: { id: held.id }, body: {} });
    const ended = await finished(held);
    expect(ended.state?.data).toMatchObject({ value: ["first", "second"] });
    expect(readFileSync(ledger, "utf8")).toBe("first\nsecond\n");
  });
});
