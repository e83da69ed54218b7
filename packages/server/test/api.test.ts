import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, newId, type BatonEvent } from "@baton/core";
import { BatonClient } from "@baton/client";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { openDatabase } from "../src/index.js";

/** Awaits the first error a call throws, typed. */
async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

describe.each(DIALECTS)("the HTTP API on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => {
    await server.stop();
  });
  const api = () => server.client.api;
  /** What a task run recorded by its client (recordTaskRuns) carries besides its id, name and states. */
  const recordedTask = (flowRunId: string) => ({
    flowRunId,
    taskKey: "fast",
    dynamicKey: "0",
    tags: [],
    retries: 0,
    retryDelaySeconds: [],
    timeoutSeconds: null,
  });

  it("creates a run of a flow deleted since it was last named, behind the server's back", async () => {
    const first = await api().createFlowRun({ body: { flowName: "passing" } });
    const second = await api().createFlowRun({ body: { flowName: "passing" } });
    expect(second.flowId).toBe(first.flowId);
    // Deleted by another server (or an operator), with its runs: this server still knows its old id.
    const db = openDatabase(server.database.url);
    try {
      await db.kysely.deleteFrom("flows").where("name", "=", "passing").execute();
    } finally {
      await db.close();
    }
    const third = await api().createFlowRun({ body: { flowName: "passing" } });
    const flow = await api().readFlowByName({ params: { name: "passing" } });
    expect(flow.id).not.toBe(first.flowId);
    expect(third.flowId).toBe(flow.id);
    expect(await rejection(api().readFlowRun({ params: { id: first.id } }))).toMatchObject({
      code: "not_found",
    });
    // A flow given by id is the run's flow, whatever flow the server knows by the name given beside it.
    const other = await api().createFlow({ body: { name: "passing-other" } });
    const byId = await api().createFlowRun({ body: { flowId: other.id, flowName: "passing" } });
    expect(byId.flowId).toBe(other.id);
  });

  it("answers health with the database kind", async () => {
    expect(await api().health()).toEqual({
      status: "ok",
      version: expect.any(String) as string,
      database: dialect,
    });
  });

  it("creates flows idempotently by name, reads, lists and deletes them", async () => {
    const first = await api().createFlow({ body: { name: "etl", tags: ["nightly"] } });
    const again = await api().createFlow({ body: { name: "etl" } });
    expect(again.id).toBe(first.id);
    expect(await api().readFlowByName({ params: { name: "etl" } })).toEqual(first);
    expect((await api().listFlows({ query: { name: "et" } })).items.map((flow) => flow.name)).toEqual([
      "etl",
    ]);
    await api().deleteFlow({ params: { id: first.id } });
    const missing = await rejection(api().readFlow({ params: { id: first.id } }));
    expect(missing.code).toBe("not_found");
    expect(missing.message).toContain(first.id);
  });

  it("runs a flow run through its lifecycle with the rules' verdicts and a state history", async () => {
    const run = await api().createFlowRun({
      body: { flowName: "lifecycle", parameters: { n: 3 }, tags: ["t1"] },
    });
    expect(run.state?.type).toBe("SCHEDULED");
    expect(run.flowName).toBe("lifecycle");

    const early = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "RUNNING" } },
    });
    expect(early.status).toBe("REJECT");
    expect(early.state?.type).toBe("SCHEDULED");

    expect(
      (await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } })).status,
    ).toBe("ACCEPT");
    const second = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "PENDING" } },
    });
    expect(second.status).toBe("ABORT");
    expect(
      (await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } })).status,
    ).toBe("ACCEPT");
    const done = await api().setFlowRunState({
      params: { id: run.id },
      body: {
        state: { type: "COMPLETED", data: { kind: "inline", serializer: "json", value: { total: 6 } } },
      },
    });
    expect(done.status).toBe("ACCEPT");
    expect(
      (await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } })).status,
    ).toBe("REJECT");
    const forced = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "RUNNING" }, force: true },
    });
    expect(forced.status).toBe("ACCEPT");

    const read = await api().readFlowRun({ params: { id: run.id } });
    expect(read.runCount).toBe(2);
    expect(read.startTime).not.toBeNull();
    expect(read.endTime).not.toBeNull();
    const history = await api().listFlowRunStates({ params: { id: run.id } });
    expect(history.map((state) => state.type)).toEqual([
      "SCHEDULED",
      "PENDING",
      "RUNNING",
      "COMPLETED",
      "RUNNING",
    ]);
    expect(history[3]?.data).toEqual({ kind: "inline", serializer: "json", value: { total: 6 } });
  });

  it("decides several flow runs' proposals in one call, each with its own verdict or error, in order", async () => {
    const started = async () => {
      const run = await api().createFlowRun({ body: { flowName: "together", state: { type: "PENDING" } } });
      await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
      return run;
    };
    const [ending, pausing, held] = [await started(), await started(), await started()];
    const waiting = await api().createFlowRun({ body: { flowName: "together", state: { type: "PENDING" } } });
    const missing = newId();
    const result = { kind: "inline", serializer: "json", value: { total: 6 } } as const;
    const badPause = { key: "p", timeout: null, reschedule: false, description: null };
    const { results } = await api().setFlowRunStates({
      body: {
        proposals: [
          { id: ending.id, state: { type: "COMPLETED", data: result } },
          { id: missing, state: { type: "COMPLETED" } },
          { id: waiting.id, state: { type: "RUNNING" } },
          {
            id: pausing.id,
            state: { type: "PAUSED", pause: { ...badPause, inputSchema: { type: "nonsense" } } },
          },
          { id: ending.id, state: { type: "COMPLETED" } },
          { id: held.id, state: { type: "COMPLETED" }, attempt: held.attempt + 5 },
        ],
      },
    });
    expect(results.map((answer) => ("error" in answer ? answer.error.code : answer.status))).toEqual([
      "ACCEPT",
      "not_found",
      "ACCEPT",
      "invalid_argument",
      "REJECT",
      "ABORT",
    ]);
    const [completed, notFound, running, refused, again, stale] = results;
    expect(completed).toMatchObject({ state: { type: "COMPLETED", data: result } });
    expect(notFound).toMatchObject({ error: { message: expect.stringContaining(missing) as string } });
    expect(running).toMatchObject({ state: { type: "RUNNING" } });
    expect(refused).toMatchObject({
      error: { message: expect.stringMatching(/^state\.pause\.inputSchema/) as string },
    });
    // Decided on the run as the proposal before it in the call left it: completed already.
    expect(again).toMatchObject({ state: { type: "COMPLETED", data: result } });
    expect(stale).toMatchObject({
      reason: expect.stringMatching(/stale/) as string,
      state: { type: "RUNNING" },
    });
    const types = async (id: string) =>
      (await api().listFlowRunStates({ params: { id } })).map((state) => state.type);
    expect(await types(ending.id)).toEqual(["PENDING", "RUNNING", "COMPLETED"]);
    expect(await types(waiting.id)).toEqual(["PENDING", "RUNNING"]);
    expect(await types(pausing.id)).toEqual(["PENDING", "RUNNING"]);
    expect(await types(held.id)).toEqual(["PENDING", "RUNNING"]);
    const read = await api().readFlowRun({ params: { id: ending.id } });
    expect([read.state?.type, read.endTime]).toEqual(["COMPLETED", read.state?.timestamp]);

    const tooMany = Array.from({ length: 101 }, () => ({
      id: ending.id,
      state: { type: "COMPLETED" as const },
    }));
    for (const proposals of [[], tooMany]) {
      const error = await rejection(api().setFlowRunStates({ body: { proposals } }));
      expect([error.code, error.message]).toEqual([
        "invalid_argument",
        expect.stringContaining("body.proposals"),
      ]);
    }
  });

  it("ends a flow run's unfinished task runs with it, proposed alone or with others, and leaves finished ones", async () => {
    const taskRun = async (flowRunId: string, name: string, states: ("RUNNING" | "COMPLETED")[]) => {
      const run = await api().createTaskRun({
        body: { flowRunId, name, taskKey: name, dynamicKey: "0", state: { type: "PENDING" } },
      });
      for (const type of states) {
        await api().setTaskRunState({ params: { id: run.id }, body: { state: { type } } });
      }
      return run.id;
    };
    const flowWithTasks = async () => {
      const run = await api().createFlowRun({ body: { flowName: "ends", state: { type: "PENDING" } } });
      await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
      const done = await taskRun(run.id, "done", ["RUNNING", "COMPLETED"]);
      return { id: run.id, done };
    };
    const taskTypes = async (flowRunId: string) =>
      (await api().listTaskRuns({ query: { flowRunId } })).items
        .map((run) => [run.name, run.state?.type])
        .sort();
    for (const together of [false, true]) {
      // One with a task run still running, one whose task runs all finished.
      const open = await flowWithTasks();
      await taskRun(open.id, "busy", ["RUNNING"]);
      const closed = await flowWithTasks();
      const proposals = [open, closed].map(({ id }) => ({ id, state: { type: "COMPLETED" as const } }));
      const answers = together
        ? (await api().setFlowRunStates({ body: { proposals } })).results
        : await Promise.all(
            proposals.map(({ id, state }) => api().setFlowRunState({ params: { id }, body: { state } })),
          );
      expect(answers.map((answer) => ("status" in answer ? answer.status : answer))).toEqual([
        "ACCEPT",
        "ACCEPT",
      ]);
      expect(await taskTypes(open.id)).toEqual([
        ["busy", "CRASHED"],
        ["done", "COMPLETED"],
      ]);
      expect(await taskTypes(closed.id)).toEqual([["done", "COMPLETED"]]);
      const history = await api().listTaskRunStates({ params: { id: closed.done } });
      expect(history.map((state) => state.type)).toEqual(["PENDING", "RUNNING", "COMPLETED"]);
    }
  });

  it("retries a failed flow run after its delay as AwaitingRetry", async () => {
    const run = await api().createFlowRun({
      body: { flowName: "flaky", retries: 1, retryDelaySeconds: [30], state: { type: "PENDING" } },
    });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    const failed = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "FAILED", message: "boom" } },
    });
    expect(failed.status).toBe("REJECT");
    expect(failed.state?.name).toBe("AwaitingRetry");
    const delay = Date.parse(failed.state!.scheduledTime!) - Date.parse(failed.state!.timestamp);
    expect(delay).toBe(30_000);
    const early = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "PENDING" } },
    });
    expect(early.status).toBe("WAIT");
    expect(early.delaySeconds).toBeGreaterThan(25);
  });

  it("reruns a finished flow run from the start, with all its retries", async () => {
    const run = await api().createFlowRun({
      body: { flowName: "rerun", retries: 1, state: { type: "PENDING" } },
    });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "FAILED" } } }); // retry 1
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    const failed = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "FAILED" } },
    });
    expect(failed.status).toBe("ACCEPT");
    const rerun = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "SCHEDULED" } },
    });
    expect(rerun.status).toBe("ACCEPT");
    const read = await api().readFlowRun({ params: { id: run.id } });
    expect([read.runCount, read.endTime]).toEqual([0, null]);
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    const retried = await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "FAILED" } },
    });
    expect(retried.state?.name).toBe("AwaitingRetry");
  });

  it("filters and paginates flow runs, newest first", async () => {
    const flow = await api().createFlow({ body: { name: "paged" } });
    const made = [];
    for (let i = 0; i < 5; i++)
      made.push(await api().createFlowRun({ body: { flowId: flow.id, name: `paged-${i}` } }));
    await api().setFlowRunState({ params: { id: made[0]!.id }, body: { state: { type: "CANCELLING" } } });
    const first = await api().listFlowRuns({ query: { flowId: flow.id, limit: 2 } });
    expect(first.items.map((run) => run.name)).toEqual(["paged-4", "paged-3"]);
    expect(first.nextOffset).toBe(2);
    const last = await api().listFlowRuns({ query: { flowId: flow.id, limit: 2, offset: 4 } });
    expect(last.items.map((run) => run.name)).toEqual(["paged-0"]);
    expect(last.nextOffset).toBeNull();
    const cancelled = await api().listFlowRuns({ query: { flowName: "paged", stateType: ["CANCELLED"] } });
    expect(cancelled.items.map((run) => run.name)).toEqual(["paged-0"]);
  });

  it("creates task runs with client-chosen ids, tracks states, caches results and holds tag slots", async () => {
    const flowRun = await api().createFlowRun({ body: { flowName: "tasks", state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: flowRun.id }, body: { state: { type: "RUNNING" } } });
    await api().createConcurrencyLimit({ body: { tag: "api-lock", limit: 1 } });
    const id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";
    const task = await api().createTaskRun({
      body: {
        id,
        flowRunId: flowRun.id,
        name: "load",
        taskKey: "load",
        tags: ["api-lock"],
        cacheKey: "load-v1",
      },
    });
    expect(task.id).toBe(id);
    expect(task.state?.type).toBe("PENDING");
    expect(
      (await api().setTaskRunState({ params: { id }, body: { state: { type: "RUNNING" } } })).status,
    ).toBe("ACCEPT");
    expect((await api().readConcurrencyLimit({ params: { tag: "api-lock" } })).activeSlots).toEqual([id]);

    const other = await api().createTaskRun({
      body: { flowRunId: flowRun.id, name: "load", taskKey: "load", tags: ["api-lock"] },
    });
    const blocked = await api().setTaskRunState({
      params: { id: other.id },
      body: { state: { type: "RUNNING" } },
    });
    expect(blocked.status).toBe("WAIT");

    await api().setTaskRunState({
      params: { id },
      body: { state: { type: "COMPLETED", data: { kind: "inline", serializer: "json", value: 42 } } },
    });
    expect((await api().readConcurrencyLimit({ params: { tag: "api-lock" } })).activeSlots).toEqual([]);

    const cachedRun = await api().createTaskRun({
      body: { flowRunId: flowRun.id, name: "load", taskKey: "load", cacheKey: "load-v1" },
    });
    const cached = await api().setTaskRunState({
      params: { id: cachedRun.id },
      body: { state: { type: "RUNNING" } },
    });
    expect(cached.status).toBe("REJECT");
    expect(cached.state).toMatchObject({ type: "COMPLETED", name: "Cached", data: { value: 42 } });

    expect((await api().listTaskRuns({ query: { flowRunId: flowRun.id } })).items).toHaveLength(3);
    const duplicate = await rejection(api().createTaskRun({ body: { id, name: "x", taskKey: "x" } }));
    expect(duplicate.code).toBe("already_exists");
  });

  it("starts a task run as it creates it when asked, in one round trip, by the same rules", async () => {
    const flowRun = await api().createFlowRun({ body: { flowName: "started", state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: flowRun.id }, body: { state: { type: "RUNNING" } } });
    await api().createConcurrencyLimit({ body: { tag: "start-lock", limit: 1 } });
    const start = (extra: { tags?: string[]; cacheKey?: string; attempt?: number }) =>
      api().createTaskRun({
        body: { flowRunId: flowRun.id, name: "step", taskKey: "step", start: true, ...extra },
      });
    const history = async (id: string) =>
      (await api().listTaskRunStates({ params: { id } })).map((state) => state.type);

    // Started: PENDING, then RUNNING, both recorded; the slot of its tag is taken.
    const holder = await start({ tags: ["start-lock"], cacheKey: "step-v1" });
    expect(holder.state?.type).toBe("RUNNING");
    expect(await history(holder.id)).toEqual(["PENDING", "RUNNING"]);
    expect((await api().readConcurrencyLimit({ params: { tag: "start-lock" } })).activeSlots).toEqual([
      holder.id,
    ]);
    // The tag is full: created, not started; its process asks again later.
    const waiting = await start({ tags: ["start-lock"] });
    expect(waiting.state?.type).toBe("PENDING");
    await api().setTaskRunState({
      params: { id: holder.id },
      body: { state: { type: "COMPLETED", data: { kind: "inline", serializer: "json", value: 7 } } },
    });
    // Its end gave the slot back (on PostgreSQL, with the end's one statement).
    const slots = async () =>
      (await api().readConcurrencyLimit({ params: { tag: "start-lock" } })).activeSlots;
    expect(await slots()).toEqual([]);
    // The waiting run starts now, taking the slot, and its failure gives it back.
    await api().setTaskRunState({ params: { id: waiting.id }, body: { state: { type: "RUNNING" } } });
    expect(await slots()).toEqual([waiting.id]);
    await api().setTaskRunState({ params: { id: waiting.id }, body: { state: { type: "FAILED" } } });
    expect(await slots()).toEqual([]);
    // A valid cached result: it ends COMPLETED at once, with that result.
    const cached = await start({ cacheKey: "step-v1" });
    expect(cached.state).toMatchObject({ type: "COMPLETED", name: "Cached", data: { value: 7 } });
    // Another attempt than the one holding its flow run is refused the start (fence-stale-attempts).
    const stale = await start({ attempt: flowRun.attempt + 1 });
    expect(stale.state?.type).toBe("PENDING");

    // Started or not (on PostgreSQL, two ways: in a transaction, or read first and inserted at once).
    for (const started of [true, false]) {
      const missing = await rejection(
        api().createTaskRun({
          body: {
            flowRunId: "0190a1b2-c3d4-7e5f-8a9b-000000000000",
            name: "x",
            taskKey: "x",
            start: started,
          },
        }),
      );
      expect(missing).toMatchObject({
        code: "not_found",
        message: expect.stringContaining("flow run") as string,
      });
    }
  });

  it("answers a cache key's valid cached result, for tasks orchestrated by their client; an expired one is none", async () => {
    const flowRun = await api().createFlowRun({ body: { flowName: "cache", state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: flowRun.id }, body: { state: { type: "RUNNING" } } });
    const cached = (cacheKey: string) => api().readCachedTaskRunState({ query: { cacheKey } });
    expect(await cached("nothing-yet")).toEqual({ state: null });

    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    const record = (id: string, cacheKey: string, cacheExpiration: string | undefined, value: number) =>
      api().recordTaskRuns({
        body: [
          {
            ...recordedTask(flowRun.id),
            id,
            name: "fast",
            cacheKey,
            ...(cacheExpiration ? { cacheExpiration } : {}),
            runCount: 1,
            states: [
              { type: "PENDING", name: "Pending", timestamp: at(-3) },
              { type: "RUNNING", name: "Running", timestamp: at(-2) },
              {
                type: "COMPLETED",
                name: "Completed",
                timestamp: at(-1),
                data: { kind: "inline", serializer: "json", value },
              },
            ],
          },
        ],
      });
    const expiration = at(3_600_000);
    await record(newId(), "recorded-v1", expiration, 5);
    expect((await cached("recorded-v1")).state).toMatchObject({
      type: "COMPLETED",
      data: { value: 5 },
      cacheKey: "recorded-v1",
      cacheExpiration: expiration,
    });
    await record(newId(), "expired-v1", at(-1), 6);
    expect(await cached("expired-v1")).toEqual({ state: null });

    // A task run the server started keeps the expiration it was created with when it completes:
    // this one expired already, so its result is not used.
    const start = (cacheKey: string) =>
      api().createTaskRun({
        body: {
          flowRunId: flowRun.id,
          name: "step",
          taskKey: "step",
          start: true,
          cacheKey,
          cacheExpiration: at(-1),
        },
      });
    const first = await start("expires-v1");
    expect(first.state?.type).toBe("RUNNING");
    await api().setTaskRunState({
      params: { id: first.id },
      body: { state: { type: "COMPLETED", data: { kind: "inline", serializer: "json", value: 7 } } },
    });
    expect((await api().readTaskRun({ params: { id: first.id } })).cacheExpiration).not.toBeNull();
    expect(await cached("expires-v1")).toEqual({ state: null });
    expect((await start("expires-v1")).state?.type).toBe("RUNNING");

    // A cached result used keeps its source's expiration, and makes it last no longer.
    const user = await api().createTaskRun({
      body: { flowRunId: flowRun.id, name: "load", taskKey: "load", start: true, cacheKey: "recorded-v1" },
    });
    expect(user.state).toMatchObject({ type: "COMPLETED", name: "Cached", data: { value: 5 } });
    expect((await api().readTaskRun({ params: { id: user.id } })).cacheExpiration).toBe(expiration);

    for (const bad of ["", "%00", "x".repeat(501)]) {
      const response = await fetch(`${server.apiUrl}/task-runs/cached?cacheKey=${bad}`);
      expect(response.status, bad).toBe(400);
      expect(((await response.json()) as { detail: string }).detail).toMatch(/cacheKey/);
    }
    expect((await fetch(`${server.apiUrl}/task-runs/cached`)).status).toBe(400);
  });

  it("records client-orchestrated task runs in batches, appending states to runs it knows", async () => {
    const flowRun = await api().createFlowRun({ body: { flowName: "recorded", state: { type: "PENDING" } } });
    const at = (ms: number) => new Date(Date.parse("2026-01-01T00:00:00Z") + ms).toISOString();
    const base = recordedTask(flowRun.id);
    const id = "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a60";
    await api().recordTaskRuns({
      body: [
        {
          ...base,
          id,
          name: "fast-0",
          runCount: 1,
          states: [
            { type: "PENDING", name: "Pending", timestamp: at(0) },
            { type: "RUNNING", name: "Running", timestamp: at(1) },
          ],
        },
      ],
    });
    expect((await api().readTaskRun({ params: { id } })).state?.type).toBe("RUNNING");
    await api().recordTaskRuns({
      body: [
        {
          ...base,
          id,
          name: "fast-0",
          runCount: 1,
          states: [{ type: "COMPLETED", name: "Completed", timestamp: at(5) }],
        },
      ],
    });
    const run = await api().readTaskRun({ params: { id } });
    expect([run.state?.type, run.runCount, run.startTime, run.endTime]).toEqual([
      "COMPLETED",
      1,
      at(1),
      at(5),
    ]);
    expect((await api().listTaskRunStates({ params: { id } })).map((state) => state.type)).toEqual([
      "PENDING",
      "RUNNING",
      "COMPLETED",
    ]);
    const orphan = await rejection(
      api().recordTaskRuns({
        body: [
          {
            ...base,
            id: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a61",
            flowRunId: "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a62",
            name: "x",
            runCount: 0,
            states: [{ type: "PENDING", name: "Pending", timestamp: at(0) }],
          },
        ],
      }),
    );
    expect(orphan.code).toBe("invalid_argument");
  });

  it("keeps tasks of a cancelling flow run from starting", async () => {
    const flowRun = await api().createFlowRun({
      body: { flowName: "cancel-me", state: { type: "PENDING" } },
    });
    await api().setFlowRunState({ params: { id: flowRun.id }, body: { state: { type: "RUNNING" } } });
    const task = await api().createTaskRun({
      body: { flowRunId: flowRun.id, name: "slow", taskKey: "slow" },
    });
    await api().setFlowRunState({ params: { id: flowRun.id }, body: { state: { type: "CANCELLING" } } });
    const verdict = await api().setTaskRunState({
      params: { id: task.id },
      body: { state: { type: "RUNNING" } },
    });
    expect(verdict.status).toBe("ABORT");
    expect(verdict.reason).toContain("Cancelling");
  });

  it("writes logs in batches and reads them back in order", async () => {
    const run = await api().createFlowRun({ body: { flowName: "logger" } });
    const base = Date.now();
    const logs = Array.from({ length: 1200 }, (_, i) => ({
      flowRunId: run.id,
      level: i % 2 ? 20 : 40,
      message: `line ${i}`,
      timestamp: new Date(base + i).toISOString(),
    }));
    expect(await api().createLogs({ body: logs })).toEqual({ count: 1200 });
    const page = await api().listLogs({ query: { flowRunId: run.id, limit: 1000 } });
    expect(page.items[0]?.message).toBe("line 0");
    expect(page.items[999]?.message).toBe("line 999");
    expect(page.nextOffset).toBe(1000);
    const errors = await api().listLogs({ query: { flowRunId: run.id, minLevel: 40, limit: 5000 } });
    expect(errors.items).toHaveLength(600);
    await api().deleteFlowRun({ params: { id: run.id } });
    expect((await api().listLogs({ query: { flowRunId: run.id } })).items).toEqual([]);
  });

  it("stores a log batch sent again after a lost answer once, by the ids its sender chose", async () => {
    const run = await api().createFlowRun({ body: { flowName: "logger" } });
    const line = (i: number) => ({
      id: newId(),
      flowRunId: run.id,
      level: 20,
      message: `line ${i}`,
      timestamp: new Date().toISOString(),
    });
    const first = [line(0), line(1)];
    expect(await api().createLogs({ body: first })).toEqual({ count: 2 });
    // The retry carries the same lines and one written since: only that one is new.
    expect(await api().createLogs({ body: [...first, line(2)] })).toEqual({ count: 1 });
    const stored = await api().listLogs({ query: { flowRunId: run.id } });
    expect(stored.items.map((log) => log.message)).toEqual(["line 0", "line 1", "line 2"]);
    expect(stored.items.map((log) => log.id)).toEqual([first[0]!.id, first[1]!.id, expect.any(String)]);
  });

  it("manages work pools with a default queue, queues by priority, and workers", async () => {
    const pool = await api().createWorkPool({ body: { name: "lock-pool", type: "process" } });
    expect(pool.paused).toBe(false);
    await api().createWorkQueue({
      params: { pool: "lock-pool" },
      body: { name: "priority", priority: 2, concurrencyLimit: 1 },
    });
    const minority = await api().createWorkQueue({
      params: { pool: "lock-pool" },
      body: { name: "minority" },
    });
    expect(minority.priority).toBe(3);
    const queues = await api().listWorkQueues({ params: { pool: "lock-pool" } });
    expect(queues.items.map((queue) => [queue.name, queue.priority, queue.concurrencyLimit])).toEqual([
      ["default", 1, null],
      ["priority", 2, 1],
      ["minority", 3, null],
    ]);
    const paused = await api().updateWorkPool({
      params: { name: "lock-pool" },
      body: { paused: true, concurrencyLimit: 4 },
    });
    expect([paused.paused, paused.concurrencyLimit]).toEqual([true, 4]);
    const cleared = await api().updateWorkQueue({
      params: { pool: "lock-pool", name: "priority" },
      body: { concurrencyLimit: null },
    });
    expect(cleared.concurrencyLimit).toBeNull();
    const worker = await api().heartbeatWorker({
      params: { pool: "lock-pool" },
      body: { name: "hard-worker" },
    });
    expect(worker.status).toBe("ONLINE");
    expect((await api().listWorkers({ params: { pool: "lock-pool" } })).items.map((w) => w.name)).toEqual([
      "hard-worker",
    ]);
    const duplicate = await rejection(api().createWorkPool({ body: { name: "lock-pool" } }));
    expect(duplicate.code).toBe("already_exists");
    expect(duplicate.message).toContain("lock-pool");
    await api().deleteWorkQueue({ params: { pool: "lock-pool", name: "minority" } });
    await api().deleteWorkPool({ params: { name: "lock-pool" } });
    expect((await rejection(api().listWorkQueues({ params: { pool: "lock-pool" } }))).code).toBe("not_found");
  });

  it("upserts deployments, validates run parameters against their schema and keeps runs when deleted", async () => {
    await api().createWorkPool({ body: { name: "deploy-pool" } });
    const schema = {
      type: "object",
      properties: {
        data_info: {
          type: "object",
          properties: {
            object_storage_urls: { type: "array", items: { type: "string" } },
            dataset: { type: "string" },
          },
          required: ["dataset"],
        },
      },
      required: ["data_info"],
      additionalProperties: false,
    };
    // Scheduled runs get the defaults: an active schedule without defaults for required parameters is refused.
    const unschedulable = await api()
      .createDeployment({
        body: {
          flowName: "server-b-flow",
          name: "PrefectDeployerB",
          parameterSchema: schema,
          workPoolName: "deploy-pool",
          schedules: [{ schedule: { interval: 60 } }],
        },
      })
      .catch((error: unknown) => error as BatonError);
    expect(unschedulable).toBeInstanceOf(BatonError);
    expect((unschedulable as BatonError).message).toMatch(
      /^parameters for the runs of schedule \S+ \(every 60 s UTC\) of deployment 'server-b-flow\/PrefectDeployerB' \(they get its default parameters and the schedule's over them; give the required ones to either\) do not match its schema: data_info is required$/,
    );
    const deployment = await api().createDeployment({
      body: {
        flowName: "server-b-flow",
        name: "PrefectDeployerB",
        parameterSchema: schema,
        workPoolName: "deploy-pool",
        schedules: [{ schedule: { interval: 60 }, active: false }],
      },
    });
    expect(deployment.schedules).toHaveLength(1);
    const updated = await api().createDeployment({
      body: { flowName: "server-b-flow", name: "PrefectDeployerB", paused: true },
    });
    expect(updated.id).toBe(deployment.id);
    expect(updated.paused).toBe(true);
    const byName = await api().readDeploymentByName({
      params: { flowName: "server-b-flow", deploymentName: "PrefectDeployerB" },
    });
    expect(byName.parameterSchema).toEqual(schema);

    const bad = await rejection(
      api().createDeploymentRun({
        params: { id: deployment.id },
        body: { parameters: { data_info: { dataset: 5 } } },
      }),
    );
    expect(bad.code).toBe("invalid_argument");
    expect(bad.issues).toEqual([{ path: "data_info.dataset", message: "must be string" }]);
    const unknown = await rejection(
      api().createDeploymentRun({
        params: { id: deployment.id },
        body: { parameters: { data_info: { dataset: "b" }, extra: 1 } },
      }),
    );
    expect(unknown.message).toContain("extra");

    const run = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { data_info: { object_storage_urls: ["a"], dataset: "b" } } },
    });
    expect(run).toMatchObject({
      deploymentName: "PrefectDeployerB",
      workPoolName: "deploy-pool",
      workQueueName: "default",
    });
    await api().deleteDeployment({ params: { id: deployment.id } });
    expect((await api().readFlowRun({ params: { id: run.id } })).deploymentId).toBe(deployment.id);
  });

  it("validates each deployment's runs against its own schema when two schemas carry the same $id", async () => {
    const deployments = [];
    for (const type of ["string", "integer"]) {
      deployments.push(
        await api().createDeployment({
          body: {
            flowName: "same-id",
            name: type,
            parameterSchema: {
              $id: "https://example.com/params.json",
              type: "object",
              properties: { n: { type } },
            },
          },
        }),
      );
    }
    const [text, whole] = deployments;
    const run = (id: string, n: string | number) =>
      api().createDeploymentRun({ params: { id }, body: { parameters: { n } } });
    expect((await run(text!.id, "1")).parameters).toEqual({ n: "1" });
    expect((await run(whole!.id, 1)).parameters).toEqual({ n: 1 });
    expect((await rejection(run(whole!.id, "1"))).issues).toEqual([
      { path: "n", message: "must be integer" },
    ]);
    expect((await rejection(run(text!.id, 1))).issues).toEqual([{ path: "n", message: "must be string" }]);
  });

  it("stores tag limits, variables, write-only secrets and automations", async () => {
    await api().createConcurrencyLimit({ body: { tag: "db-lock", limit: 1 } });
    expect((await api().createConcurrencyLimit({ body: { tag: "db-lock", limit: 2 } })).limit).toBe(2);
    expect((await api().listConcurrencyLimits()).items.some((limit) => limit.tag === "db-lock")).toBe(true);
    expect((await api().resetConcurrencyLimit({ params: { tag: "db-lock" } })).activeSlots).toEqual([]);
    await api().deleteConcurrencyLimit({ params: { tag: "db-lock" } });

    await api().createVariable({ body: { name: "region", value: { zone: "a" } } });
    expect((await api().updateVariable({ params: { name: "region" }, body: { value: "b" } })).value).toBe(
      "b",
    );

    const secret = await api().setSecret({
      body: { name: "slack-webhook", value: "https://hooks.example/secret-token" },
    });
    expect(JSON.stringify(secret)).not.toContain("secret-token");
    expect(secret.valueLength).toBe("https://hooks.example/secret-token".length);
    expect(JSON.stringify(await api().listSecrets())).not.toContain("secret-token");

    const automation = await api().createAutomation({
      body: {
        name: "notify",
        trigger: { events: ["flow-run.state-changed"] },
        actions: [{ type: "slack", secret: "slack-webhook" }],
      },
    });
    expect(
      (await api().updateAutomation({ params: { id: automation.id }, body: { enabled: false } })).enabled,
    ).toBe(false);
    await api().deleteAutomation({ params: { id: automation.id } });
  });

  it("streams state changes and logs of one flow run as they happen", async () => {
    const run = await api().createFlowRun({ body: { flowName: "watched", state: { type: "PENDING" } } });
    const other = await api().createFlowRun({ body: { flowName: "ignored", state: { type: "PENDING" } } });
    const controller = new AbortController();
    const received: BatonEvent[] = [];
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    let sawLog!: () => void;
    const logSeen = new Promise<void>((resolve) => (sawLog = resolve));
    const streaming = server.client.events(
      { flowRunId: run.id, signal: controller.signal, onOpen: () => opened() },
      (event) => {
        received.push(event);
        if (event.name === "log") sawLog();
      },
    );
    await open;
    await api().setFlowRunState({ params: { id: other.id }, body: { state: { type: "RUNNING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    await api().createLogs({
      body: [{ flowRunId: run.id, level: 20, message: "hello", timestamp: new Date().toISOString() }],
    });
    await logSeen;
    controller.abort();
    await streaming;
    expect(received.map((event) => event.name)).toEqual(["flow-run.state-changed", "log"]);
    expect(received[0]?.payload).toMatchObject({ state: { type: "RUNNING" }, previousType: "PENDING" });
    expect(received.every((event) => event.flowRunId === run.id)).toBe(true);
  });
});

describe("a server with an API key", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer("sqlite", { apiKey: "s3cret-key" });
  });
  afterAll(async () => {
    await server.stop();
  });

  it("refuses requests without the key, with a message saying how to send it", async () => {
    const anonymous = new BatonClient({ url: server.apiUrl });
    const error = await rejection(anonymous.api.listFlows());
    expect(error.code).toBe("unauthenticated");
    expect(error.message).toContain("BATON_API_KEY");
    const wrong = new BatonClient({ url: server.apiUrl, apiKey: "s3cret-kez" });
    expect((await rejection(wrong.api.listFlows())).code).toBe("unauthenticated");
    expect((await rejection(anonymous.events({}, () => undefined))).code).toBe("unauthenticated");
  });

  it("serves health, and everything to a client with the key", async () => {
    expect((await new BatonClient({ url: server.apiUrl }).api.health()).status).toBe("ok");
    expect((await server.client.api.listFlows()).items).toEqual([]);
  });
});

describe("a client pointed at no server", () => {
  it("says which URL it tried and how to fix it", async () => {
    const client = new BatonClient({ url: "http://127.0.0.1:9/api" });
    const error = await rejection(client.api.health());
    expect(error.code).toBe("unavailable");
    expect(error.message).toContain("http://127.0.0.1:9/api");
    expect(error.message).toContain("BATON_API_URL");
  });
});
