/**
 * The dashboard's queries on flow runs: the history the overview charts (runs counted by the time
 * they were created and the type of their state now, grouped in SQL), and the runs list's filters
 * by time, tag and work pool, on SQLite and PostgreSQL alike; and the migration that gives the runs
 * already stored their rows of tags.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, newId, type FlowRunHistoryBucket, type StateInput, type StateType } from "@baton/core";
import { Migrator } from "kysely";
import { migrateToLatest, openDatabase, type Db } from "@baton/server";
import { migrationProvider } from "../src/db/migrations.js";
import { DIALECTS, startTestServer, throwawayDatabase, type TestServer } from "../../../test/helpers.js";

async function rejection(promise: Promise<unknown>): Promise<BatonError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BatonError) return error;
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** The non-zero counts of a bucket, for short expectations. */
const nonZero = (bucket: FlowRunHistoryBucket | undefined) =>
  Object.fromEntries(Object.entries(bucket?.counts ?? {}).filter(([, n]) => n > 0));

describe.each(DIALECTS)("the flow-run history and the runs list's filters on %s", (dialect) => {
  let server: TestServer;
  /** A second connection to the store, to give runs the creation times the cases need. */
  let db: Db;
  const api = () => server.client.api;

  /** A run of `flow` created at `created`, moved through `states`. */
  async function runAt(flow: string, created: string, ...states: StateInput[]) {
    const run = await api().createFlowRun({ body: { flowName: flow, tags: ["history"] } });
    for (const state of states) {
      const result = await api().setFlowRunState({ params: { id: run.id }, body: { state } });
      expect(result.status).toBe("ACCEPT");
    }
    await db.kysely.updateTable("flowRuns").set({ created }).where("id", "=", run.id).execute();
    await db.kysely.updateTable("flowRunTags").set({ created }).where("flowRunId", "=", run.id).execute();
    return run;
  }
  const failed: StateInput[] = [{ type: "PENDING" }, { type: "RUNNING" }, { type: "FAILED" }];
  const completed: StateInput[] = [{ type: "PENDING" }, { type: "RUNNING" }, { type: "COMPLETED" }];

  beforeAll(async () => {
    server = await startTestServer(dialect);
    db = openDatabase(server.database.url);
    // Runs in 2026-03-10, away from any run the server makes now.
    await runAt("history", "2026-03-10T09:59:59.999Z", ...completed); // before the range
    await runAt("history", "2026-03-10T10:00:00.000Z", ...completed); // its first instant
    await runAt("history", "2026-03-10T10:30:00.000Z", ...failed);
    await runAt("history", "2026-03-10T10:59:59.999Z"); // still SCHEDULED
    await runAt("history", "2026-03-10T12:15:00.000Z", ...completed);
    await runAt("history", "2026-03-10T12:45:00.000Z", { type: "CANCELLED" });
    await runAt("history", "2026-03-10T13:00:00.000Z", ...completed); // at `until`: left out
  });

  afterAll(async () => {
    await db?.close();
    await server?.stop();
  });

  it("counts runs by hour and the type of their state now, every bucket answered", async () => {
    const history = await api().flowRunHistory({
      query: { since: "2026-03-10T10:00:00Z", until: "2026-03-10T13:00:00Z" },
    });
    expect(history.map((bucket) => bucket.start)).toEqual([
      "2026-03-10T10:00:00.000Z",
      "2026-03-10T11:00:00.000Z",
      "2026-03-10T12:00:00.000Z",
    ]);
    expect(nonZero(history[0])).toEqual({ COMPLETED: 1, FAILED: 1, SCHEDULED: 1 });
    expect(nonZero(history[1])).toEqual({});
    expect(nonZero(history[2])).toEqual({ COMPLETED: 1, CANCELLED: 1 });
    // Every state type is there, zeros included, so that a chart needs no filling in.
    expect(Object.keys(history[1]!.counts).sort()).toEqual(
      (
        [
          "CANCELLED",
          "CANCELLING",
          "COMPLETED",
          "CRASHED",
          "FAILED",
          "PAUSED",
          "PENDING",
          "RUNNING",
          "SCHEDULED",
        ] satisfies StateType[]
      ).sort(),
    );
  });

  it("follows buckets that are not whole hours, and times with an offset", async () => {
    // 90-minute buckets from 09:30 (UTC, written as 11:30 at +02:00): 09:30–11:00, 11:00–12:30, 12:30–13:00.
    const history = await api().flowRunHistory({
      query: { since: "2026-03-10T11:30:00+02:00", until: "2026-03-10T13:00:00Z", bucketSeconds: 5400 },
    });
    expect(history.map((bucket) => bucket.start)).toEqual([
      "2026-03-10T09:30:00.000Z",
      "2026-03-10T11:00:00.000Z",
      "2026-03-10T12:30:00.000Z",
    ]);
    expect(nonZero(history[0])).toEqual({ COMPLETED: 2, FAILED: 1, SCHEDULED: 1 });
    expect(nonZero(history[1])).toEqual({ COMPLETED: 1 });
    expect(nonZero(history[2])).toEqual({ CANCELLED: 1 });

    const days = await api().flowRunHistory({
      query: { since: "2026-03-09T00:00:00Z", until: "2026-03-11T00:00:00Z", bucketSeconds: 86_400 },
    });
    expect(days.map((bucket) => nonZero(bucket))).toEqual([
      {},
      { COMPLETED: 4, FAILED: 1, SCHEDULED: 1, CANCELLED: 1 },
    ]);

    // A start off any whole second still groups exactly (by the millisecond, then).
    const odd = await api().flowRunHistory({
      query: { since: "2026-03-10T10:29:59.999Z", until: "2026-03-10T10:30:01Z", bucketSeconds: 1 },
    });
    expect(odd.map((bucket) => bucket.start)).toEqual([
      "2026-03-10T10:29:59.999Z",
      "2026-03-10T10:30:00.999Z",
    ]);
    expect(odd.map((bucket) => nonZero(bucket))).toEqual([{ FAILED: 1 }, {}]);
  });

  it("ends at now when no end is given", async () => {
    const since = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000).toISOString();
    const run = await api().createFlowRun({ body: { flowName: "history-now" } });
    const history = await api().flowRunHistory({ query: { since } });
    expect(history.length).toBeGreaterThanOrEqual(2);
    expect(history.reduce((sum, bucket) => sum + bucket.counts.SCHEDULED, 0)).toBeGreaterThanOrEqual(1);
    await api().deleteFlowRun({ params: { id: run.id } });
  });

  it("refuses an empty or too long range", async () => {
    const backwards = await rejection(
      api().flowRunHistory({ query: { since: "2026-03-10T10:00:00Z", until: "2026-03-10T09:00:00Z" } }),
    );
    expect(backwards.code).toBe("invalid_argument");
    expect(backwards.message).toContain("until must be later than since");
    const tooMany = await rejection(
      api().flowRunHistory({
        query: { since: "2026-01-01T00:00:00Z", until: "2026-03-10T00:00:00Z", bucketSeconds: 60 },
      }),
    );
    expect(tooMany.code).toBe("invalid_argument");
    expect(tooMany.message).toContain("at most 1000");
    const missing = await rejection(api().flowRunHistory({ query: {} as never }));
    expect(missing.code).toBe("invalid_argument");
  });

  it("filters the runs list by creation time given with an offset or without milliseconds", async () => {
    const names = async (query: { createdAfter?: string; createdBefore?: string }) =>
      (await api().listFlowRuns({ query: { flowName: "history", ...query } })).items.map(
        (run) => run.created,
      );
    // 12:15 UTC written as 14:15 at +02:00: only the runs created from then on, before 13:00.
    expect(
      await names({ createdAfter: "2026-03-10T14:15:00+02:00", createdBefore: "2026-03-10T13:00:00Z" }),
    ).toEqual(["2026-03-10T12:45:00.000Z", "2026-03-10T12:15:00.000Z"]);
    // "10:00:00Z" is the same instant as the stored "10:00:00.000Z", which sorts before it as text.
    expect(
      await names({ createdAfter: "2026-03-10T10:00:00Z", createdBefore: "2026-03-10T10:30:00Z" }),
    ).toEqual(["2026-03-10T10:00:00.000Z"]);
  });
  it("filters by tag exactly, newest first, across pages and with other filters", async () => {
    // A tag alone is read from its rows; with a filter such as the flow, that filter's runs are read
    // and each is asked for the tag: both ways answer alike.
    const read = async (query: Record<string, unknown>) =>
      (await api().listFlowRuns({ query })).items.map((run) => run.name);
    const names = async (query: Record<string, unknown>) => {
      const alone = await read(query);
      expect(await read({ flowName: "tagged", ...query })).toEqual(alone);
      return alone;
    };
    for (const [name, tags] of [
      ["t-0", ["a_c", "team"]],
      ["t-1", ["abc", "team"]],
      ["t-2", ["team", "team", "Team"]],
      ["t-3", []],
      ["t-4", ["a%", "team"]],
    ] as const) {
      await api().createFlowRun({ body: { flowName: "tagged", name, tags: [...tags] } });
    }
    expect(await names({ tag: "team" })).toEqual(["t-4", "t-2", "t-1", "t-0"]);
    // No wildcards, and case counts, on both databases (LIKE on the JSON list had neither).
    expect(await names({ tag: "a_c" })).toEqual(["t-0"]);
    expect(await names({ tag: "a%" })).toEqual(["t-4"]);
    expect(await names({ tag: "Team" })).toEqual(["t-2"]);
    expect(await names({ tag: "tea" })).toEqual([]);
    for (const flowName of [undefined, "tagged"]) {
      const first = await api().listFlowRuns({ query: { tag: "team", flowName, limit: 3 } });
      expect(first.items.map((run) => run.name)).toEqual(["t-4", "t-2", "t-1"]);
      expect(first.nextOffset).toBe(3);
      const next = await api().listFlowRuns({ query: { tag: "team", flowName, limit: 3, offset: 3 } });
      expect(next.items.map((run) => run.name)).toEqual(["t-0"]);
      expect(next.nextOffset).toBeNull();
    }
    // The tag with a state, and with a time range (taken from the tags' rows).
    const t1 = (await api().listFlowRuns({ query: { flowName: "tagged", limit: 5 } })).items.find(
      (run) => run.name === "t-1",
    )!;
    await api().setFlowRunState({ params: { id: t1.id }, body: { state: { type: "CANCELLED" } } });
    expect(await read({ tag: "team", stateType: "CANCELLED" })).toEqual(["t-1"]);
    expect(await names({ tag: "team", createdAfter: t1.created })).toEqual(["t-4", "t-2", "t-1"]);
    expect(await names({ tag: "team", createdBefore: t1.created })).toEqual(["t-0"]);
    // The old runs tagged "history" have their rows too, at the times they were given.
    expect(
      (
        await api().listFlowRuns({ query: { tag: "history", createdBefore: "2026-03-10T10:30:00Z" } })
      ).items.map((run) => run.created),
    ).toEqual(["2026-03-10T10:00:00.000Z", "2026-03-10T09:59:59.999Z"]);
    // A deleted run's tags go with it.
    await api().deleteFlowRun({ params: { id: t1.id } });
    expect(await names({ tag: "team" })).toEqual(["t-4", "t-2", "t-0"]);
    const left = await db.kysely
      .selectFrom("flowRunTags")
      .select("tag")
      .where("flowRunId", "=", t1.id)
      .execute();
    expect(left).toEqual([]);
  });

  it("filters by work pool", async () => {
    await api().createWorkPool({ body: { name: "dash-pool", type: "process" } });
    const deployment = await api().createDeployment({
      body: { flowName: "pooled", name: "d", workPoolName: "dash-pool" },
    });
    const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
    await api().createFlowRun({ body: { flowName: "pooled" } });
    const pooled = await api().listFlowRuns({ query: { workPoolName: "dash-pool" } });
    expect(pooled.items.map((item) => item.id)).toEqual([run.id]);
  });
});

describe.each(DIALECTS)("the migration of the dashboard's queries on %s", (dialect) => {
  it("gives the runs stored before it their rows of tags", async () => {
    const database = await throwawayDatabase(dialect);
    const db = openDatabase(database.url);
    try {
      const migrator = new Migrator({ db: db.kysely, provider: migrationProvider(db.dialect) });
      const before = await migrator.migrateTo("0003_automations");
      expect(before.error).toBeUndefined();
      // The runs are made as the server made them then: no rows of tags (the table is not there yet).
      const tagged = await createFlowRunWithoutTagRows(db, ["nightly", "etl", "nightly"]);
      await createFlowRunWithoutTagRows(db, []);
      await migrateToLatest(db);
      const rows = await db.kysely.selectFrom("flowRunTags").selectAll().orderBy("tag").execute();
      expect(rows).toEqual([
        { tag: "etl", created: tagged.created, flowRunId: tagged.id },
        { tag: "nightly", created: tagged.created, flowRunId: tagged.id },
      ]);
    } finally {
      await db.close();
      await database.drop();
    }
  });
});

/** A flow run as stores before flow_run_tags held it: the run's row alone. */
async function createFlowRunWithoutTagRows(db: Db, tags: string[]) {
  const created = new Date().toISOString();
  const id = newId();
  const flowId = newId();
  await db.kysely
    .insertInto("flows")
    .values({ id: flowId, name: `old-${id}`, description: null, tags: "[]", created, updated: created })
    .execute();
  await db.kysely
    .insertInto("flowRuns")
    .values({
      id,
      name: "old",
      flowId,
      deploymentId: null,
      deploymentName: null,
      parentFlowRunId: null,
      parentTaskRunId: null,
      parameters: "{}",
      tags: JSON.stringify(tags),
      labels: "{}",
      idempotencyKey: null,
      workPoolName: null,
      workQueueName: null,
      workQueueId: null,
      jobVariables: "{}",
      state: null,
      stateType: null,
      stateName: null,
      runCount: 0,
      retries: 0,
      retryDelaySeconds: "[]",
      timeoutSeconds: null,
      expectedStartTime: null,
      nextScheduledStartTime: null,
      startTime: null,
      endTime: null,
      lastHeartbeat: null,
      workerName: null,
      created,
      updated: created,
    })
    .execute();
  return { id, created };
}
