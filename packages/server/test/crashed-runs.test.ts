import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FlowRun, State } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { failure } from "../../../test/runs.js";
import { crashedRunsService, MAX_CRASHES_BEFORE_START } from "../src/services/crashed-runs.js";

const TIMEOUT_SECONDS = 1;

describe.each(DIALECTS)("crashed runs on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, {
      flowRunHeartbeatTimeoutSeconds: TIMEOUT_SECONDS,
      serviceLoopSeconds: 0.1,
    });
  });
  afterAll(async () => {
    await server.stop();
  });
  const api = () => server.client.api;

  /** A deployment of its own for each test, so that no test claims another's runs. */
  let deployments = 0;
  async function newDeployment(): Promise<string> {
    deployments += 1;
    const deployment = await api().createDeployment({
      body: { name: `lazarus-${deployments}`, flowName: "lazarus" },
    });
    return deployment.id;
  }

  /** Claims runs of the deployment as a serve process would; claiming sets their first heartbeat. */
  async function claim(deploymentId: string, workerName: string, limit = 1, waitSeconds = 0) {
    const { runs } = await api().claimFlowRuns({
      body: { workerName, deploymentIds: [deploymentId], limit, waitSeconds },
    });
    expect(runs).toHaveLength(limit);
    return runs.map((claimed) => claimed.flowRun);
  }

  /** A run of a new deployment, claimed by worker 'w1' (PENDING), with the given retries. */
  async function claimedRun(retries = 0): Promise<FlowRun> {
    const deploymentId = await newDeployment();
    await api().createDeploymentRun({ params: { id: deploymentId }, body: {} });
    const [run] = await claim(deploymentId, "w1");
    expect(run?.state?.type).toBe("PENDING");
    if (retries > 0) await api().updateFlowRun({ params: { id: run!.id }, body: { retries } });
    return run!;
  }

  async function propose(id: string, type: State["type"]) {
    return api().setFlowRunState({ params: { id }, body: { state: { type } } });
  }

  /** The first state of the flow run that matches, whether it is already in its history or comes later. */
  async function stateOf(flowRunId: string, matches: (state: State) => boolean): Promise<State> {
    const controller = new AbortController();
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    let found!: (state: State) => void;
    const seen = new Promise<State>((resolve) => (found = resolve));
    const stream = server.client.events(
      { flowRunId, names: ["flow-run.state-changed"], signal: controller.signal, onOpen: opened },
      (event) => {
        const state = event.payload.state as State;
        if (matches(state)) found(state);
      },
    );
    await Promise.race([open, stream]);
    // The server subscribes before it answers, so what the stream misses is already in the history.
    const earlier = (await api().listFlowRunStates({ params: { id: flowRunId } })).find(matches);
    if (earlier) found(earlier);
    try {
      return await seen;
    } finally {
      controller.abort();
      await stream;
    }
  }

  const stateNames = async (flowRunId: string) =>
    (await api().listFlowRunStates({ params: { id: flowRunId } })).map((state) => state.name);

  it("crashes a RUNNING run that stops heartbeating and leaves alone one that keeps on", async () => {
    const deploymentId = await newDeployment();
    for (let i = 0; i < 2; i++) await api().createDeploymentRun({ params: { id: deploymentId }, body: {} });
    const [alive, silent] = (await claim(deploymentId, "w1", 2)) as [FlowRun, FlowRun];
    await propose(alive.id, "RUNNING");
    await propose(silent.id, "RUNNING");

    let detected = false;
    const crashed = stateOf(silent.id, (state) => state.type === "CRASHED").finally(() => (detected = true));
    // Heartbeats well within the timeout, a bounded number of times, until the silent run is caught.
    for (let beat = 0; beat < 100 && !detected; beat++) {
      await api().heartbeatFlowRun({ params: { id: alive.id }, body: {} });
      await sleep(100);
    }
    const state = await crashed;

    expect(state.message).toContain("the process running this flow run stopped sending heartbeats");
    expect(state.message).toContain(`worker 'w1'; timeout ${TIMEOUT_SECONDS} s`);
    // No retries: the crash stands (the reschedule would have been in the same transaction).
    const after = await api().readFlowRun({ params: { id: silent.id } });
    expect(after.state?.type).toBe("CRASHED");
    expect(after.workerName).toBe("w1");
    expect(await stateNames(silent.id)).toEqual(["Scheduled", "Pending", "Running", "Crashed"]);
    expect((await api().readFlowRun({ params: { id: alive.id } })).state?.type).toBe("RUNNING");
    expect((await propose(alive.id, "COMPLETED")).status).toBe("ACCEPT");
  });

  it("reschedules a crashed run with retries left, keeping its run count, to run again", async () => {
    const run = await claimedRun(1);
    await api().updateFlowRun({ params: { id: run.id }, body: { retryDelaySeconds: [1] } });
    await propose(run.id, "RUNNING");

    const rescheduled = await stateOf(run.id, (state) => state.name === "Rescheduled");
    expect(rescheduled.type).toBe("SCHEDULED");
    expect(rescheduled.message).toContain("retry 1 of 1");
    // The retry delay of the attempt that crashed.
    expect(Date.parse(rescheduled.scheduledTime!) - Date.parse(rescheduled.timestamp)).toBe(1000);
    expect(await stateNames(run.id)).toEqual(["Scheduled", "Pending", "Running", "Crashed", "Rescheduled"]);
    const waiting = await api().readFlowRun({ params: { id: run.id } });
    expect(waiting).toMatchObject({ runCount: 1, workerName: null, endTime: null });

    // A long poll returns it once it is due.
    const [again] = await claim(run.deploymentId!, "w2", 1, 30);
    expect(again).toMatchObject({ id: run.id, workerName: "w2", runCount: 1 });
    await propose(run.id, "RUNNING");
    expect((await propose(run.id, "COMPLETED")).status).toBe("ACCEPT");
    expect(await api().readFlowRun({ params: { id: run.id } })).toMatchObject({
      runCount: 2,
      state: { type: "COMPLETED" },
    });
  });

  it("reschedules a run that was claimed but never started, even without retries", async () => {
    const run = await claimedRun(0);
    const rescheduled = await stateOf(run.id, (state) => state.name === "Rescheduled");
    expect(rescheduled.message).toContain("before it started");
    expect(await stateNames(run.id)).toEqual(["Scheduled", "Pending", "Crashed", "Rescheduled"]);
    expect(await api().readFlowRun({ params: { id: run.id } })).toMatchObject({
      runCount: 0,
      workerName: null,
      lastHeartbeat: null,
      state: { type: "SCHEDULED" },
    });
  });

  it("stops rescheduling a run that keeps crashing before it starts, and says why", async () => {
    const run = await claimedRun(0);
    // Claimed again once each crash has rescheduled it (a long poll), by a process that never reports.
    for (let crash = 1; crash < MAX_CRASHES_BEFORE_START; crash++) {
      await claim(run.deploymentId!, "w1", 1, 30);
    }
    const last = await stateOf(
      run.id,
      (state) => state.type === "CRASHED" && /not rescheduled/.test(state.message ?? ""),
    );
    expect(last.message).toContain(
      `it crashed ${MAX_CRASHES_BEFORE_START} times before it started, so it is not rescheduled again`,
    );
    const names = await stateNames(run.id);
    expect(names.filter((name) => name === "Crashed")).toHaveLength(MAX_CRASHES_BEFORE_START);
    expect(names.filter((name) => name === "Rescheduled")).toHaveLength(MAX_CRASHES_BEFORE_START - 1);
    expect(names.at(-1)).toBe("Crashed");
    expect(await api().readFlowRun({ params: { id: run.id } })).toMatchObject({
      runCount: 0,
      state: { type: "CRASHED" },
    });
  });

  it("takes a worker's heartbeat for a starting run only while it is PENDING and of the attempt claimed", async () => {
    const run = await claimedRun(0);
    const beat = (attempt: number) =>
      api().heartbeatFlowRun({ params: { id: run.id }, body: { attempt, whileStarting: true } });
    await beat(run.attempt);
    const before = await api().readFlowRun({ params: { id: run.id } });
    expect(before.lastHeartbeat).not.toBeNull();

    const stale = await failure(beat(run.attempt - 1));
    expect(stale.code).toBe("conflict");
    expect(stale.message).toContain(`attempt ${run.attempt - 1} of flow run ${run.id} is stale`);

    // From RUNNING on the flow's own heartbeats count, and its worker's would keep a hung flow alive.
    await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "RUNNING" }, attempt: run.attempt },
    });
    const running = await failure(beat(run.attempt));
    expect(running.code).toBe("conflict");
    expect(running.message).toContain("is RUNNING, no longer starting");
    await api().heartbeatFlowRun({ params: { id: run.id }, body: { attempt: run.attempt } });
    await propose(run.id, "COMPLETED");
  });

  it("crashes an ad-hoc run (no deployment) and does not reschedule it, retries or not", async () => {
    const run = await api().createFlowRun({
      body: { flowName: "ad-hoc", state: { type: "PENDING" }, retries: 2 },
    });
    await api().heartbeatFlowRun({ params: { id: run.id }, body: {} });
    await propose(run.id, "RUNNING");

    const crashed = await stateOf(run.id, (state) => state.type === "CRASHED");
    expect(crashed.message).toContain("stopped sending heartbeats (last at ");
    expect(crashed.message).not.toContain("worker");
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("CRASHED");
    expect(await stateNames(run.id)).toEqual(["Pending", "Running", "Crashed"]);
  });

  it("ends a silent CANCELLING run CANCELLED, not rescheduled", async () => {
    const run = await claimedRun(1);
    await propose(run.id, "RUNNING");
    await propose(run.id, "CANCELLING");

    const cancelled = await stateOf(run.id, (state) => state.type === "CANCELLED");
    expect(cancelled.message).toContain("while it was being cancelled");
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("CANCELLED");
    expect(await stateNames(run.id)).toEqual(["Scheduled", "Pending", "Running", "Cancelling", "Cancelled"]);
  });

  it("crashes the unfinished task runs of a crashed run and gives back their tag slots", async () => {
    const tag = `crash-${dialect}`;
    await api().createConcurrencyLimit({ body: { tag, limit: 1 } });
    const run = await claimedRun(0);
    await propose(run.id, "RUNNING");
    const holding = await api().createTaskRun({
      body: { flowRunId: run.id, name: "hold", taskKey: "hold", tags: [tag] },
    });
    expect(
      (await api().setTaskRunState({ params: { id: holding.id }, body: { state: { type: "RUNNING" } } }))
        .status,
    ).toBe("ACCEPT");
    const done = await api().createTaskRun({ body: { flowRunId: run.id, name: "done", taskKey: "done" } });
    await api().setTaskRunState({ params: { id: done.id }, body: { state: { type: "RUNNING" } } });
    await api().setTaskRunState({ params: { id: done.id }, body: { state: { type: "COMPLETED" } } });
    expect((await api().readConcurrencyLimit({ params: { tag } })).activeSlots).toEqual([holding.id]);

    await stateOf(run.id, (state) => state.type === "CRASHED");

    expect((await api().readConcurrencyLimit({ params: { tag } })).activeSlots).toEqual([]);
    const task = await api().readTaskRun({ params: { id: holding.id } });
    expect(task.state).toMatchObject({ type: "CRASHED", name: "Crashed" });
    expect(task.state?.message).toContain(
      "its flow run ended Crashed: the process running this flow run stopped sending heartbeats",
    );
    expect(task.endTime).toBe(task.state?.timestamp);
    const history = await api().listTaskRunStates({ params: { id: holding.id } });
    expect(history.map((state) => state.type)).toEqual(["PENDING", "RUNNING", "CRASHED"]);
    expect((await api().readTaskRun({ params: { id: done.id } })).state?.type).toBe("COMPLETED");
  });

  it("ends each silent run once when two services race over the same runs", async () => {
    // Services off: the test runs two of them itself, at once, over one database.
    const quiet = await startTestServer(dialect, { services: false, flowRunHeartbeatTimeoutSeconds: 1 });
    try {
      const deployment = await quiet.client.api.createDeployment({
        body: { name: "race", flowName: "race" },
      });
      for (let i = 0; i < 6; i++) {
        await quiet.client.api.createDeploymentRun({ params: { id: deployment.id }, body: {} });
      }
      const { runs } = await quiet.client.api.claimFlowRuns({
        body: { workerName: "w1", deploymentIds: [deployment.id], limit: 6 },
      });
      const started = runs.slice(0, 3).map((claimed) => claimed.flowRun.id);
      for (const id of started) {
        await quiet.client.api.setFlowRunState({ params: { id }, body: { state: { type: "RUNNING" } } });
      }

      // A pass "a minute from now" finds every run silent, without waiting for it.
      const later = new Date(Date.now() + 60_000);
      const services = [0, 1].map(() => crashedRunsService(quiet.ctx, quiet.settings));
      await Promise.all(services.map((service) => service.runOnce(later)));

      for (const { flowRun } of runs) {
        const names = (await quiet.client.api.listFlowRunStates({ params: { id: flowRun.id } })).map(
          (state) => state.name,
        );
        // Started runs have no retries left and stay crashed; the others never started and run again.
        expect(names).toEqual(
          started.includes(flowRun.id)
            ? ["Scheduled", "Pending", "Running", "Crashed"]
            : ["Scheduled", "Pending", "Crashed", "Rescheduled"],
        );
      }
    } finally {
      await quiet.stop();
    }
  });
});
