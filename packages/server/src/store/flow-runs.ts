import {
  BatonError,
  EventName,
  makeState,
  MAX_HISTORY_BUCKETS,
  STATE_TYPES,
  TERMINAL_STATE_TYPES,
  newId,
  notFound,
  type FlowRun,
  type FlowRunCreate,
  type FlowRunDeletion,
  type FlowRunsDeleted,
  type FlowRunHistoryBucket,
  type FlowRunHistoryQuery,
  type FlowRunQuery,
  type FlowRunUpdate,
  type Heartbeat,
  type State,
  type StateHistoryEntry,
  type StateType,
} from "@baton/core";
import { sql, type QueryCreator, type Updateable } from "kysely";
import type { z } from "zod";
import { connectionLostUnder, INSERT_TRIES, retryIdempotent } from "../db/connection-loss.js";
import { constraintError, isForeignKeyError } from "../db/database.js";
import type { Database, FlowRunTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, toStoredTime, type StoreContext } from "./context.js";
import { heldByProcess } from "./claims.js";
import { ensureFlow, forgetFlowIds, knownFlowId, readFlow } from "./flows.js";
import { runName } from "./names.js";
import {
  insertFlowRunWithFirstState,
  newRunColumns,
  publishStateChange,
  type Applied,
  type FlowRunRow,
} from "./set-state.js";

export function toFlowRun(row: FlowRunRow): FlowRun {
  return {
    id: row.id,
    name: row.name,
    flowId: row.flowId,
    flowName: row.flowName,
    deploymentId: row.deploymentId,
    deploymentName: row.deploymentName,
    parentFlowRunId: row.parentFlowRunId,
    parentTaskRunId: row.parentTaskRunId,
    parameters: fromJson(row.parameters, {}),
    tags: fromJson(row.tags, []),
    labels: fromJson(row.labels, {}),
    idempotencyKey: row.idempotencyKey,
    workPoolName: row.workPoolName,
    workQueueName: row.workQueueName,
    jobVariables: fromJson(row.jobVariables, {}),
    state: fromJson<State | null>(row.state, null),
    runCount: row.runCount,
    retries: row.retries,
    retryDelaySeconds: fromJson(row.retryDelaySeconds, []),
    timeoutSeconds: row.timeoutSeconds,
    expectedStartTime: row.expectedStartTime,
    startTime: row.startTime,
    endTime: row.endTime,
    lastHeartbeat: row.lastHeartbeat,
    workerName: row.workerName,
    attempt: row.attempt,
    resumeCount: row.resumeCount,
    created: row.created,
    updated: row.updated,
  };
}

/** Flow runs with their flow's name, as toFlowRun takes them, read by `db` (or a transaction). */
export const flowRunRows = (db: QueryCreator<Database>) =>
  db
    .selectFrom("flowRuns")
    .innerJoin("flows", "flows.id", "flowRuns.flowId")
    .selectAll("flowRuns")
    .select("flows.name as flowName");

export const selectFlowRuns = ({ db }: StoreContext) => flowRunRows(db.kysely);

export async function readFlowRun(ctx: StoreContext, id: string): Promise<FlowRun> {
  const row = await selectFlowRuns(ctx).where("flowRuns.id", "=", id).executeTakeFirst();
  if (!row) throw notFound("flow run", id);
  return toFlowRun(row);
}

/** Fields a run gets from where it was started: a flow called in code, or a deployment. */
export interface FlowRunInsert extends Omit<FlowRunCreate, "flowName"> {
  flowId: string;
  /** The flow's name, for the run's events. */
  flowName: string;
  deploymentId?: string;
  deploymentName?: string;
  workPoolName?: string | null;
  workQueueName?: string | null;
  workQueueId?: string | null;
  jobVariables?: Record<string, unknown>;
}

/**
 * Creates a flow run with its first state. A repeated idempotency key returns the run it made first,
 * so a scheduler or a retried request never creates a duplicate.
 */
export async function insertFlowRun(ctx: StoreContext, input: FlowRunInsert): Promise<FlowRun> {
  if (input.idempotencyKey) {
    const existing = await selectFlowRuns(ctx)
      .where("flowRuns.flowId", "=", input.flowId)
      .where("flowRuns.idempotencyKey", "=", input.idempotencyKey)
      .executeTakeFirst();
    if (existing) return toFlowRun(existing);
  }
  const now = nowIso();
  const id = input.id ?? newId();
  const firstState = makeState(input.state ?? { type: "SCHEDULED" });
  const row = {
    id,
    name: input.name ?? runName(),
    flowId: input.flowId,
    deploymentId: input.deploymentId ?? null,
    deploymentName: input.deploymentName ?? null,
    parentFlowRunId: input.parentFlowRunId ?? null,
    parentTaskRunId: input.parentTaskRunId ?? null,
    parameters: toJson(input.parameters ?? {}),
    tags: toJson(input.tags ?? []),
    labels: toJson(input.labels ?? {}),
    idempotencyKey: input.idempotencyKey ?? null,
    workPoolName: input.workPoolName ?? null,
    workQueueName: input.workQueueName ?? null,
    workQueueId: input.workQueueId ?? null,
    jobVariables: toJson(input.jobVariables ?? {}),
    ...newRunColumns(input, now),
    expectedStartTime: null,
    nextScheduledStartTime: null,
    lastHeartbeat: null,
    workerName: null,
  };
  const tags = [...new Set(input.tags ?? [])].map((tag) => ({ tag, created: now, flowRunId: id }));
  const announce = (run: FlowRun): FlowRun => {
    ctx.events.publish(EventName.FlowRunCreated, { kind: "flow-run", id }, id, { flowRun: run });
    return run;
  };
  let applied: Applied | undefined;
  for (let tries = 1; !applied; tries++) {
    try {
      applied = await insertFlowRunWithFirstState(ctx, { row, tags, flowName: input.flowName }, firstState);
    } catch (error) {
      // The connection lost before the database confirmed the run (on PostgreSQL one statement, with
      // no transaction to try again): its id tells whether it was saved, and it is sent again if not.
      // Its first state's event, stored with it, reaches the bus from the database.
      if (tries < INSERT_TRIES && connectionLostUnder(error)) {
        const saved = await selectFlowRuns(ctx).where("flowRuns.id", "=", id).executeTakeFirst();
        if (saved) return announce(toFlowRun(saved));
        continue;
      }
      const known = constraintError(error, `flow run '${id}'`);
      if (known?.code === "already_exists" && input.idempotencyKey) {
        // Another request with the same key won the race: answer with its run.
        const winner = await selectFlowRuns(ctx)
          .where("flowRuns.flowId", "=", input.flowId)
          .where("flowRuns.idempotencyKey", "=", input.idempotencyKey)
          .executeTakeFirst();
        if (winner) return toFlowRun(winner);
      }
      throw known ?? error;
    }
  }
  const run = announce(toFlowRun(applied.flowRunRow!));
  publishStateChange(ctx, applied);
  return run;
}

export async function createFlowRun(ctx: StoreContext, input: FlowRunCreate): Promise<FlowRun> {
  // A run of a flow named, not given by id, created without reading the flow when its id is known.
  const known = input.flowId === undefined && input.flowName ? knownFlowId(ctx, input.flowName) : undefined;
  if (known) {
    try {
      return await insertFlowRun(ctx, { ...input, flowId: known, flowName: input.flowName! });
    } catch (error) {
      // Refused by a foreign key: the flow may have been deleted since (found or made again below).
      if (!(error instanceof BatonError && isForeignKeyError(error.cause))) throw error;
      forgetFlowIds(ctx);
    }
  }
  const flow = input.flowId
    ? await readFlow(ctx, { id: input.flowId })
    : await ensureFlow(ctx, { name: input.flowName! });
  return insertFlowRun(ctx, { ...input, flowId: flow.id, flowName: flow.name });
}

export async function listFlowRuns(ctx: StoreContext, query: z.output<typeof FlowRunQuery>) {
  let q = selectFlowRuns(ctx);
  if (query.stateType?.length) q = q.where("flowRuns.stateType", "in", query.stateType);
  if (query.stateName) q = q.where("flowRuns.stateName", "=", query.stateName);
  if (query.flowId) q = q.where("flowRuns.flowId", "=", query.flowId);
  if (query.flowName) q = q.where("flows.name", "=", query.flowName);
  if (query.deploymentId) q = q.where("flowRuns.deploymentId", "=", query.deploymentId);
  if (query.workPoolName) q = q.where("flowRuns.workPoolName", "=", query.workPoolName);
  if (query.workQueueName) q = q.where("flowRuns.workQueueName", "=", query.workQueueName);
  if (query.parentFlowRunId) q = q.where("flowRuns.parentFlowRunId", "=", query.parentFlowRunId);
  // A tag's runs are read newest first from its rows in flow_run_tags, which hold each run's creation
  // time: that table then drives the query (time range and order), whatever share of all runs they
  // are. With a filter the store has an index for, which may leave far fewer runs than the tag (the
  // Running ones of a tag on nearly every run), those runs are read instead and each is asked whether
  // it has the tag: never more work than that filter alone.
  const tag = query.tag || undefined;
  const narrowed = Boolean(
    query.stateType?.length ||
    query.flowId ||
    query.flowName ||
    query.deploymentId ||
    query.workPoolName ||
    query.parentFlowRunId,
  );
  const byTag = tag !== undefined && !narrowed;
  if (tag !== undefined && narrowed) {
    q = q.where((eb) =>
      eb.exists(
        eb
          .selectFrom("flowRunTags")
          .select("flowRunTags.tag")
          .whereRef("flowRunTags.flowRunId", "=", "flowRuns.id")
          .where("flowRunTags.tag", "=", tag),
      ),
    );
  }
  q = q.$if(byTag, (qb) =>
    qb.innerJoin("flowRunTags", "flowRunTags.flowRunId", "flowRuns.id").where("flowRunTags.tag", "=", tag!),
  );
  const created = sql.ref<string>(byTag ? "flowRunTags.created" : "flowRuns.created");
  const id = sql.ref<string>(byTag ? "flowRunTags.flowRunId" : "flowRuns.id");
  if (query.createdAfter) q = q.where(created, ">=", toStoredTime(query.createdAfter));
  if (query.createdBefore) q = q.where(created, "<", toStoredTime(query.createdBefore));
  const rows = await q
    .orderBy(created, "desc")
    .orderBy(id, "desc")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toFlowRun), query.limit, query.offset);
}

/**
 * How finely the history query groups runs in SQL: by a prefix of the stored ISO time (day, hour,
 * minute, second or millisecond), the coarsest whose span divides both the bucket and its alignment,
 * so that no group straddles two buckets. `substr` on the text is the same SQL on SQLite and
 * PostgreSQL, and needs no date parsing per row.
 */
const TIME_PREFIXES = [
  { ms: 86_400_000, length: 10, rest: "T00:00:00.000Z" },
  { ms: 3_600_000, length: 13, rest: ":00:00.000Z" },
  { ms: 60_000, length: 16, rest: ":00.000Z" },
  { ms: 1000, length: 19, rest: ".000Z" },
  { ms: 1, length: 23, rest: "Z" },
] as const;

/** A prefix of the creation time, as the index flow_runs_created_hour spells it for 13 characters. */
const createdPrefix = (length: number) => sql<string>`substr(${sql.ref("created")}, 1, ${sql.lit(length)})`;

const zeroCounts = (): Record<StateType, number> =>
  Object.fromEntries(STATE_TYPES.map((type) => [type, 0])) as Record<StateType, number>;

/**
 * Flow runs created in [since, until), counted by bucket and the type of the state each is in now
 * (a run not yet given a state counts as SCHEDULED), in one GROUP BY. The hours of the range select
 * the runs from the index on (creation hour, state type, created), which holds all the query reads,
 * in the order that hourly groups need; every bucket is answered, empty ones too.
 */
export async function flowRunHistory(
  { db }: StoreContext,
  query: z.output<typeof FlowRunHistoryQuery>,
): Promise<FlowRunHistoryBucket[]> {
  const since = Date.parse(query.since);
  const until = query.until === undefined ? Date.now() : Date.parse(query.until);
  const bucketMs = query.bucketSeconds * 1000;
  if (until <= since) throw new BatonError("invalid_argument", "until must be later than since");
  const count = Math.ceil((until - since) / bucketMs);
  if (count > MAX_HISTORY_BUCKETS) {
    throw new BatonError(
      "invalid_argument",
      `that is ${count} buckets; ask for at most ${MAX_HISTORY_BUCKETS} (a longer bucketSeconds or a shorter range)`,
    );
  }
  const prefix = TIME_PREFIXES.find((p) => bucketMs % p.ms === 0 && since % p.ms === 0)!;
  const [from, to] = [new Date(since).toISOString(), new Date(until).toISOString()];
  const hour = createdPrefix(13);
  const bucket = createdPrefix(prefix.length);
  const rows = await db.kysely
    .selectFrom("flowRuns")
    .select([bucket.as("bucket"), "stateType", db.kysely.fn.countAll<number>().as("count")])
    .where(hour, ">=", from.slice(0, 13))
    .where(hour, "<=", to.slice(0, 13))
    .where("created", ">=", from)
    .where("created", "<", to)
    .groupBy([bucket, "stateType"])
    .execute();
  const buckets = Array.from({ length: count }, (_, index) => ({
    start: new Date(since + index * bucketMs).toISOString(),
    counts: zeroCounts(),
  }));
  for (const row of rows) {
    const index = Math.floor((Date.parse(row.bucket + prefix.rest) - since) / bucketMs);
    const type = (row.stateType ?? "SCHEDULED") as StateType;
    const target = buckets[index];
    if (target && type in target.counts) target.counts[type] += Number(row.count);
  }
  return buckets;
}

export async function deleteFlowRun(ctx: StoreContext, id: string): Promise<void> {
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const result = await trx.deleteFrom("flowRuns").where("id", "=", id).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound("flow run", id);
    await trx.deleteFrom("logs").where("flowRunId", "=", id).execute();
  });
  ctx.events.publish(EventName.FlowRunDeleted, { kind: "flow-run", id }, id, {});
}

/** Finished flow runs deleted per transaction: each batch holds its locks only briefly. */
const DELETE_BATCH = 500;

/**
 * Deletes the flow runs that ended before `before` in the final states given (all four by default),
 * with everything they hold: their task runs, states, tags and artifacts (by the foreign keys) and
 * their logs.
 * Oldest first, in batches of a transaction each; runs still in flight are never touched. SQLite's
 * file then gives the space back.
 */
export async function deleteFinishedFlowRuns(
  ctx: StoreContext,
  query: z.output<typeof FlowRunDeletion>,
  /** Only the runs of one deployment, or only those whose deployment has no retention of its own. */
  scope?: { deploymentId: string } | "without-own-retention",
): Promise<FlowRunsDeleted> {
  const before = toStoredTime(query.before);
  const states = query.stateType ?? TERMINAL_STATE_TYPES;
  let deleted = 0;
  for (;;) {
    const batch = await ctx.db.kysely.transaction().execute(async (trx) => {
      let oldest = trx
        .selectFrom("flowRuns")
        .select("id")
        .where("endTime", "<", before)
        .where("stateType", "in", states);
      if (scope === "without-own-retention") {
        oldest = oldest.where((eb) =>
          eb.not(
            eb.exists(
              eb
                .selectFrom("deployments")
                .select("deployments.id")
                .whereRef("deployments.id", "=", "flowRuns.deploymentId")
                .where("deployments.runRetentionDays", "is not", null),
            ),
          ),
        );
      } else if (scope) {
        oldest = oldest.where("deploymentId", "=", scope.deploymentId);
      }
      const rows = await oldest.orderBy("endTime").limit(DELETE_BATCH).execute();
      const ids = rows.map((row) => row.id);
      if (ids.length === 0) return 0;
      await trx.deleteFrom("logs").where("flowRunId", "in", ids).execute();
      await trx.deleteFrom("flowRuns").where("id", "in", ids).execute();
      return ids.length;
    });
    deleted += batch;
    if (batch < DELETE_BATCH) break;
  }
  if (deleted > 0) await ctx.db.reclaimSpace();
  return { deleted };
}

export async function listStates(
  { db }: StoreContext,
  kind: "flow" | "task",
  id: string,
): Promise<StateHistoryEntry[]> {
  const table = kind === "flow" ? "flowRuns" : "taskRuns";
  const exists = await db.kysely.selectFrom(table).select("id").where("id", "=", id).executeTakeFirst();
  if (!exists) throw notFound(kind === "flow" ? "flow run" : "task run", id);
  const rows = await db.kysely
    .selectFrom("states")
    .select(["id", "state"])
    .where(kind === "flow" ? "flowRunId" : "taskRunId", "=", id)
    .orderBy("timestamp")
    .orderBy("id")
    .execute();
  return rows.map((row) => ({ id: row.id, ...fromJson<State>(row.state, null as never) }));
}

/**
 * Records that the process running a flow run is alive. One that carries a stale attempt (its run was
 * crashed or claimed again since) is told to stop with a conflict, and its heartbeat changes nothing;
 * so is a worker speaking for a starting run (`whileStarting`) once the run has left PENDING.
 */
export async function heartbeatFlowRun(
  { db }: StoreContext,
  id: string,
  { attempt, whileStarting }: Heartbeat,
): Promise<void> {
  // Only a run a process holds takes heartbeats: a late one from the process of a suspended run
  // must not make the run look held again (and crash when the heartbeats stop).
  let update = db.kysely
    .updateTable("flowRuns")
    .set({ lastHeartbeat: nowIso() })
    .where("id", "=", id)
    .where(heldByProcess);
  if (attempt !== undefined) update = update.where("attempt", "=", attempt);
  if (whileStarting) update = update.where("stateType", "=", "PENDING");
  const result = await retryIdempotent(() => update.executeTakeFirst());
  if (result.numUpdatedRows > 0n) return;
  const run = await db.kysely
    .selectFrom("flowRuns")
    .select(["attempt", "stateType"])
    .where("id", "=", id)
    .executeTakeFirst();
  if (!run) throw notFound("flow run", id);
  if (attempt !== undefined && run.attempt !== attempt) {
    throw new BatonError(
      "conflict",
      `attempt ${attempt} of flow run ${id} is stale: attempt ${run.attempt} holds it now, so this process must stop`,
    );
  }
  throw new BatonError(
    "conflict",
    whileStarting
      ? `flow run ${id} is ${run.stateType}, no longer starting: its own process sends its heartbeats`
      : `flow run ${id} is ${run.stateType}: no process holds it, so it takes no heartbeats`,
  );
}

export async function updateFlowRun(
  ctx: StoreContext,
  id: string,
  input: z.output<typeof FlowRunUpdate>,
): Promise<FlowRun> {
  const columns: Updateable<FlowRunTable> = { updated: nowIso() };
  if (input.retries !== undefined) columns.retries = input.retries;
  if (input.retryDelaySeconds !== undefined) columns.retryDelaySeconds = toJson(input.retryDelaySeconds);
  if (input.timeoutSeconds !== undefined) columns.timeoutSeconds = input.timeoutSeconds;
  const result = await ctx.db.kysely
    .updateTable("flowRuns")
    .set(columns)
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("flow run", id);
  return readFlowRun(ctx, id);
}
