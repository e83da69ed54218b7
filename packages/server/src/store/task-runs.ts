import {
  BatonError,
  EventName,
  isTerminal,
  makeState,
  newId,
  notFound,
  type Heartbeat,
  type State,
  type TaskRun,
  type TaskRunCreate,
  type TaskRunQuery,
  type TaskRunRecord,
} from "@baton/core";
import type { Insertable, Selectable } from "kysely";
import type { z } from "zod";
import { connectionLostUnder, INSERT_TRIES, retryIdempotent } from "../db/connection-loss.js";
import { constraintError, isForeignKeyError, speaksPostgres } from "../db/database.js";
import type { StateTable, TaskRunTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";
import { recordEvents } from "./events.js";
import { runsAsWrittenBy } from "./runs-as-written.js";
import {
  endTaskRunsAfter,
  findCachedState,
  insertTaskRunWithFirstState,
  newRunColumns,
  publishStateChange,
  type Applied,
} from "./set-state.js";

export function toTaskRun(row: Selectable<TaskRunTable>): TaskRun {
  return {
    id: row.id,
    flowRunId: row.flowRunId,
    name: row.name,
    taskKey: row.taskKey,
    dynamicKey: row.dynamicKey,
    tags: fromJson(row.tags, []),
    cacheKey: row.cacheKey,
    cacheExpiration: row.cacheExpiration,
    taskInputs: fromJson(row.taskInputs, {}),
    parameters: fromJson(row.parameters, {}),
    workerName: row.workerName,
    attempt: row.attempt,
    state: fromJson<State | null>(row.state, null),
    runCount: row.runCount,
    retries: row.retries,
    retryDelaySeconds: fromJson(row.retryDelaySeconds, []),
    timeoutSeconds: row.timeoutSeconds,
    startTime: row.startTime,
    endTime: row.endTime,
    created: row.created,
    updated: row.updated,
  };
}

export async function readTaskRun({ db }: StoreContext, id: string): Promise<TaskRun> {
  const row = await db.kysely.selectFrom("taskRuns").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound("task run", id);
  return toTaskRun(row);
}

/**
 * Creates a task run with its first state (PENDING unless said), atomically (insertTaskRunWithFirstState);
 * with `start`, proposes RUNNING in the same transaction and answers with the run as the rules left it.
 */
export async function createTaskRun(ctx: StoreContext, input: TaskRunCreate): Promise<TaskRun> {
  const id = input.id ?? newId();
  const now = nowIso();
  const firstState = makeState(input.state ?? { type: "PENDING" });
  const start = input.start
    ? { proposed: makeState({ type: "RUNNING" }), attempt: input.attempt }
    : undefined;
  const row = {
    id,
    flowRunId: input.flowRunId ?? null,
    name: input.name,
    taskKey: input.taskKey,
    dynamicKey: input.dynamicKey ?? "0",
    tags: toJson(input.tags ?? []),
    cacheKey: input.cacheKey ?? null,
    cacheExpiration: input.cacheExpiration ?? null,
    taskInputs: toJson(input.taskInputs ?? {}),
    parameters: toJson(input.parameters ?? {}),
    ...newRunColumns(input, now),
  };
  const announce = (run: TaskRun): TaskRun => {
    ctx.events.publish(EventName.TaskRunCreated, { kind: "task-run", id }, run.flowRunId, { taskRun: run });
    return run;
  };
  const saved = () =>
    ctx.db.kysely.selectFrom("taskRuns").selectAll().where("id", "=", id).executeTakeFirst();
  let applied: { first: Applied; next: Applied | null } | undefined;
  let lost = false;
  for (let tries = 1; !applied; tries++) {
    try {
      applied = await insertTaskRunWithFirstState(ctx, row, firstState, start);
    } catch (error) {
      // As for a flow run: the connection lost before the database confirmed a run written by one
      // statement. Its id tells whether it was saved (its first state's event, stored with it, reaches
      // the bus from the database); it is sent again if not.
      if (tries < INSERT_TRIES && connectionLostUnder(error)) {
        lost = true;
        const run = await saved();
        if (run) return announce(toTaskRun(run));
        continue;
      }
      // Sent again and refused (a duplicate, or its flow run ended since: the rules may decide before
      // the insert): the first, still under way when read back, was saved.
      const run = lost ? await saved() : undefined;
      if (run) return announce(toTaskRun(run));
      // The one row a new task run refers to: its flow run.
      if (input.flowRunId && isForeignKeyError(error)) throw notFound("flow run", input.flowRunId);
      throw constraintError(error, `task run '${id}'`) ?? error;
    }
  }
  const { first, next } = applied;
  const run = announce(toTaskRun(next?.taskRunRow ?? first.taskRunRow!));
  publishStateChange(ctx, first);
  if (next) publishStateChange(ctx, next);
  return run;
}

export async function listTaskRuns({ db }: StoreContext, query: z.output<typeof TaskRunQuery>) {
  let q = db.kysely.selectFrom("taskRuns").selectAll();
  if (query.flowRunId) q = q.where("flowRunId", "=", query.flowRunId);
  if (query.background) q = q.where("flowRunId", "is", null);
  if (query.taskKey) q = q.where("taskKey", "=", query.taskKey);
  if (query.stateType?.length) q = q.where("stateType", "in", query.stateType);
  if (query.tag) q = q.where("tags", "like", `%${JSON.stringify(query.tag)}%`);
  const order = query.newestFirst ? "desc" : "asc";
  const rows = await q
    .orderBy("created", order)
    .orderBy("id", order)
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toTaskRun), query.limit, query.offset);
}

/**
 * Records that the task worker running a background task run is alive; one carrying a stale attempt
 * (the run was crashed or claimed again since) is told to stop with a conflict, as for a flow run.
 */
export async function heartbeatTaskRun({ db }: StoreContext, id: string, { attempt }: Heartbeat) {
  let update = db.kysely
    .updateTable("taskRuns")
    .set({ lastHeartbeat: nowIso() })
    .where("id", "=", id)
    .where("flowRunId", "is", null);
  if (attempt !== undefined) update = update.where("attempt", "=", attempt);
  const result = await retryIdempotent(() => update.executeTakeFirst());
  if (result.numUpdatedRows > 0n) return;
  const run = await db.kysely
    .selectFrom("taskRuns")
    .select(["attempt", "flowRunId"])
    .where("id", "=", id)
    .executeTakeFirst();
  if (!run) throw notFound("task run", id);
  if (run.flowRunId !== null) {
    throw new BatonError(
      "invalid_argument",
      `task run ${id} belongs to flow run ${run.flowRunId}: send heartbeats for the flow run instead`,
    );
  }
  throw new BatonError(
    "conflict",
    `attempt ${attempt} of task run ${id} is stale: attempt ${run.attempt} holds it now, so this process must stop`,
  );
}

export async function deleteTaskRun(ctx: StoreContext, id: string): Promise<void> {
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const result = await trx.deleteFrom("taskRuns").where("id", "=", id).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound("task run", id);
    await trx.deleteFrom("concurrencySlots").where("taskRunId", "=", id).execute();
    await trx.deleteFrom("logs").where("taskRunId", "=", id).execute();
  });
  runsAsWrittenBy(ctx.events).forget({ kind: "task-run", id });
}

/** For a task the client orchestrates itself: the cached result it would use instead of running. */
export async function readCachedState(ctx: StoreContext, cacheKey: string): Promise<{ state: State | null }> {
  return { state: await findCachedState(ctx.db.kysely, cacheKey, new Date()) };
}

/**
 * Records task runs that the client orchestrated itself (the fast path for tasks that need no
 * server decision): one upsert of the runs and one insert of their states per chunk, in one
 * transaction. A run recorded again gets the new states appended and its current state updated.
 */
export async function recordTaskRuns(ctx: StoreContext, batch: TaskRunRecord[]): Promise<{ count: number }> {
  // One row per run even if a batch names a run twice (PostgreSQL refuses to upsert a row twice).
  const byId = new Map<string, TaskRunRecord>();
  for (const record of batch) {
    const seen = byId.get(record.id);
    byId.set(record.id, seen ? { ...record, states: [...seen.states, ...record.states] } : record);
  }
  const records = [...byId.values()];
  const now = nowIso();
  const runs: Insertable<TaskRunTable>[] = records.map((record) => {
    const last = record.states[record.states.length - 1]!;
    return {
      id: record.id,
      flowRunId: record.flowRunId,
      name: record.name,
      taskKey: record.taskKey,
      dynamicKey: record.dynamicKey,
      tags: toJson(record.tags),
      cacheKey: record.cacheKey ?? null,
      cacheExpiration: record.cacheExpiration ?? null,
      taskInputs: "{}",
      state: toJson(last),
      stateType: last.type,
      stateName: last.name,
      runCount: record.runCount,
      retries: record.retries,
      retryDelaySeconds: toJson(record.retryDelaySeconds),
      timeoutSeconds: record.timeoutSeconds,
      startTime: record.states.find((state) => state.type === "RUNNING")?.timestamp ?? null,
      endTime: isTerminal(last.type) ? last.timestamp : null,
      created: record.states[0]!.timestamp,
      updated: now,
    };
  });
  const states: Insertable<StateTable>[] = records.flatMap((record) =>
    record.states.map((state) => ({
      id: newId(),
      flowRunId: null,
      taskRunId: record.id,
      type: state.type,
      name: state.name,
      timestamp: state.timestamp,
      state: toJson(state),
    })),
  );
  const flowRunIds = [...new Set(records.flatMap(({ flowRunId }) => (flowRunId ? [flowRunId] : [])))].sort();
  const { events, ended } = await ctx.db.kysely
    .transaction()
    .execute(async (trx) => {
      // Their flow runs held as they go in (holdFlowRun), in one order; one that has ended meanwhile
      // ends the runs recorded open, as its end would have.
      const flowRuns =
        flowRunIds.length === 0
          ? []
          : await trx
              .selectFrom("flowRuns")
              .select(["id", "state"])
              .where("id", "in", flowRunIds)
              .orderBy("id")
              .$if(speaksPostgres(trx), (query) => query.forShare())
              .execute();
      // Bounded statements: SQLite allows at most 32766 bound values.
      for (let start = 0; start < runs.length; start += 500) {
        await trx
          .insertInto("taskRuns")
          .values(runs.slice(start, start + 500))
          .onConflict((oc) =>
            oc.column("id").doUpdateSet((eb) => ({
              state: eb.ref("excluded.state"),
              stateType: eb.ref("excluded.stateType"),
              stateName: eb.ref("excluded.stateName"),
              runCount: eb.ref("excluded.runCount"),
              endTime: eb.ref("excluded.endTime"),
              updated: eb.ref("excluded.updated"),
              startTime: eb.fn.coalesce("taskRuns.startTime", "excluded.startTime"),
            })),
          )
          .execute();
      }
      for (let start = 0; start < states.length; start += 1000) {
        await trx
          .insertInto("states")
          .values(states.slice(start, start + 1000))
          .execute();
      }
      // One event per run, for the state it ended the batch in.
      const events = await recordEvents(
        trx,
        records.map((record) => ({
          name: EventName.TaskRunStateChanged,
          resource: { kind: "task-run", id: record.id },
          flowRunId: record.flowRunId,
          payload: { state: record.states[record.states.length - 1]!, previousType: null },
          related: { tags: record.tags },
        })),
      );
      const ended: Applied[] = [];
      for (const { id, state } of flowRuns) {
        const flowState = fromJson<State | null>(state, null);
        if (!flowState) continue;
        const recorded = records.filter(({ flowRunId }) => flowRunId === id).map((record) => record.id);
        ended.push(...(await endTaskRunsAfter(trx, id, flowState, recorded)));
      }
      return { events, ended };
    })
    .catch((error: unknown) => {
      throw constraintError(error, "a recorded task run") ?? error;
    });
  for (const event of events) ctx.events.emit(event);
  for (const change of ended) publishStateChange(ctx, change);
  return { count: records.length };
}
