/** Pausing and resuming flow runs through the API, on both databases: races and refusals. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, type Pause } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { isType, waitForRunState } from "../../../test/runs.js";

describe.each(DIALECTS)("pauses on %s", (dialect) => {
  let server: TestServer;
  const api = () => server.client.api;
  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => null,
      (error: unknown) => BatonError.from(error),
    );

  /** A RUNNING flow run of no deployment that proposes a PAUSED state with these details. */
  async function pausing(pause: Partial<Pause> = {}) {
    const run = await api().createFlowRun({ body: { flowName: "pausing", state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    const details: Pause = {
      key: "pause-1",
      timeout: null,
      reschedule: false,
      inputSchema: null,
      description: null,
    };
    const verdict = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "PAUSED", pause: { ...details, ...pause } } },
    });
    return { run, verdict };
  }

  beforeAll(async () => {
    server = await startTestServer(dialect, { serviceLoopSeconds: 0.2 });
  });
  afterAll(async () => {
    await server.stop();
  });

  it("a run of no deployment is not suspended, saying why: it goes on RUNNING", async () => {
    const { run, verdict } = await pausing({ reschedule: true });
    expect(verdict.status).toBe("REJECT");
    expect(verdict.reason).toMatch(/no deployment, so nothing would start it again/);
    expect((await api().readFlowRun({ params: { id: run.id } })).state?.type).toBe("RUNNING");
  });

  it("a pause whose input schema is not a JSON Schema is refused naming it, and the run goes on", async () => {
    const error = await failure(pausing({ inputSchema: { type: "nonsense" } }));
    expect(error?.code).toBe("invalid_argument");
    expect(error?.message).toMatch(/^state\.pause\.inputSchema is not a valid JSON Schema/);
    const [run] = (await api().listFlowRuns({ query: { flowName: "pausing" } })).items;
    expect(run?.state?.type).toBe("RUNNING");
  });

  it("resumed by many at once: exactly one resume wins, and its input is the one kept", async () => {
    const inputSchema = { type: "object", properties: { who: { type: "integer" } }, required: ["who"] };
    const { run, verdict } = await pausing({ inputSchema });
    expect(verdict.status).toBe("ACCEPT");
    // Each answer: "won", or the code of the error it got.
    const answers: string[] = await Promise.all(
      Array.from({ length: 8 }, (_, who) =>
        api()
          .resumeFlowRun({ params: { id: run.id }, body: { input: { who } } })
          .then(
            () => "won",
            (error: unknown) => BatonError.from(error).code,
          ),
      ),
    );
    expect(answers.filter((answer) => answer === "won")).toHaveLength(1);
    expect(answers.filter((answer) => answer === "conflict")).toHaveLength(7);
    const input = await api().readFlowRunInput({ params: { id: run.id, key: "pause-1" } });
    expect(input.value).toEqual({ who: answers.indexOf("won") });
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.filter((state) => state.name === "Resumed")).toHaveLength(1);
  });

  it("a rerun of a finished run forgets the answers its pauses were given; a retry keeps them", async () => {
    const { run } = await pausing();
    await api().updateFlowRun({ params: { id: run.id }, body: { retries: 1 } });
    await api().resumeFlowRun({ params: { id: run.id }, body: {} });
    const read = () => failure(api().readFlowRunInput({ params: { id: run.id, key: "pause-1" } }));
    const failed = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "FAILED" } },
    });
    expect(failed.state?.name).toBe("AwaitingRetry");
    expect(await read()).toBeNull();
    for (const type of ["PENDING", "RUNNING", "COMPLETED"] as const)
      await api().setFlowRunState({ params: { id: run.id }, body: { state: { type } } });
    expect(await read()).toBeNull();
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "SCHEDULED" } } });
    expect((await read())?.code).toBe("not_found");
  });

  it("a run paused in its process holds its queue's place, and ending it answers a waiting claim at once", async () => {
    await api().createWorkPool({ body: { name: "one-at-a-time", type: "process" } });
    await api().updateWorkQueue({
      params: { pool: "one-at-a-time", name: "default" },
      body: { concurrencyLimit: 1 },
    });
    const deployment = await api().createDeployment({
      body: { name: "held", flowName: "held", workPoolName: "one-at-a-time" },
    });
    const first = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    const request = { workerName: "w", workPoolName: "one-at-a-time", start: true };
    const [claimed] = (await api().claimFlowRuns({ body: request })).runs;
    const details: Pause = {
      key: "k",
      timeout: null,
      reschedule: false,
      inputSchema: null,
      description: null,
    };
    await api().setFlowRunState({
      params: { id: first.id },
      body: { attempt: claimed!.flowRun.attempt, state: { type: "PAUSED", pause: details } },
    });
    const next = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    expect((await api().claimFlowRuns({ body: request })).runs).toEqual([]);
    // The long poll outlasts the test (and its late-runs wake-up too): only the cancel's answers in time.
    const waiting = api().claimFlowRuns({ body: { ...request, waitSeconds: 60 } });
    await api().setFlowRunState({ params: { id: first.id }, body: { state: { type: "CANCELLING" } } });
    expect((await waiting).runs.map((run) => run.flowRun.id)).toEqual([next.id]);
  }, 10_000);

  it("a resume after the pause's timeout is refused, and the run fails TimedOut", async () => {
    const { run } = await pausing({ timeout: new Date(Date.now() - 1000).toISOString() });
    const late = await failure(api().resumeFlowRun({ params: { id: run.id }, body: {} }));
    expect(late?.code).toBe("conflict");
    // Whichever comes first, the refusal says so: the pause timed out, or the run failed TimedOut.
    expect(late?.message).toMatch(/timed out|TimedOut/);
    const failed = await waitForRunState(server.client, run.id, isType("FAILED"));
    expect(failed.state?.name).toBe("TimedOut");
    const missing = await failure(api().readFlowRunInput({ params: { id: run.id, key: "pause-1" } }));
    expect(missing?.code).toBe("not_found");
  });
});
