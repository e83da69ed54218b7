import {
  BatonError,
  defaultBaseJobTemplate,
  EventName,
  newId,
  notFound,
  type JsonObject,
  type Worker,
  type WorkerHeartbeat,
  type WorkPool,
  type WorkPoolCreate,
  type WorkPoolUpdate,
  type WorkQueue,
  type WorkQueueCreate,
  type WorkQueueUpdate,
} from "@baton/core";
import type { Kysely, Selectable, Updateable } from "kysely";
import type { z } from "zod";
import { retryIdempotent } from "../db/connection-loss.js";
import { constraintError } from "../db/database.js";
import type { Database, WorkerTable, WorkPoolTable, WorkQueueTable } from "../db/schema.js";
import { fromJson, nowIso, toFlag, toJson, toPage, type StoreContext } from "./context.js";
import { recordEvent } from "./events.js";
import { checkBaseJobTemplate, checkJobVariables } from "./job-variables.js";

const toWorkPool = (row: Selectable<WorkPoolTable>): WorkPool => ({
  ...row,
  baseJobTemplate: fromJson(row.baseJobTemplate, {}),
  paused: row.paused === 1,
  allowCommandOverride: row.allowCommandOverride === 1,
});

const toWorkQueue = (row: Selectable<WorkQueueTable> & { workPoolName: string }): WorkQueue => ({
  ...row,
  paused: row.paused === 1,
});

/** A worker is online while its heartbeats keep coming: up to three intervals may be missed. */
export const workerIsOnline = (
  worker: Pick<WorkerTable, "lastHeartbeat" | "heartbeatIntervalSeconds">,
  now = Date.now(),
): boolean => now - Date.parse(worker.lastHeartbeat) <= worker.heartbeatIntervalSeconds * 3000;

const toWorker = (
  { offlineSince: _announced, ...row }: Selectable<WorkerTable>,
  now = Date.now(),
): Worker => ({
  ...row,
  status: workerIsOnline(row, now) ? "ONLINE" : "OFFLINE",
});

/** The job variable that replaces what a worker runs (a process's command, a container's). */
const COMMAND = "command";

const setsCommand = (variables: JsonObject): boolean =>
  variables[COMMAND] !== undefined && variables[COMMAND] !== null;

/**
 * Refuses job variables of `what` (a deployment, a run) that its pool does not take: variables its
 * schema does not allow (see checkJobVariables), and `command` where the pool does not allow it.
 * Whoever may set `command` may run anything on the pool's workers, so deployments and runs may set
 * it only in a pool that allows it (`allowCommandOverride`); the pool's own default command, in its
 * base job template, is its owner's and always applies.
 */
export async function checkPoolJobVariables(
  db: Kysely<Database>,
  poolName: string | null,
  variables: JsonObject,
  what: string,
): Promise<void> {
  if (poolName === null || Object.keys(variables).length === 0) return;
  const pool = await db
    .selectFrom("workPools")
    .select(["allowCommandOverride", "type", "baseJobTemplate"])
    .where("name", "=", poolName)
    .executeTakeFirst();
  if (setsCommand(variables) && pool?.allowCommandOverride !== 1) {
    const fix = pool
      ? `let the pool's owner allow it with 'baton work-pool update ${poolName} --allow-command-override'`
      : `the pool does not exist yet; create it with 'baton work-pool create ${poolName} --allow-command-override'`;
    throw new BatonError(
      "permission_denied",
      `${what} sets the job variable '${COMMAND}', which work pool '${poolName}' does not allow (it would let anyone who can deploy run any command on the pool's workers): leave '${COMMAND}' out, or ${fix}`,
    );
  }
  // A pool created later is checked then: its runs' variables are read by its workers' schema.
  if (!pool) return;
  checkJobVariables(
    { name: poolName, type: pool.type, baseJobTemplate: fromJson(pool.baseJobTemplate, {}) },
    variables,
    what,
  );
}

/**
 * The job variables a worker gets for a run: the pool's defaults under the run's own (its
 * deployment's and its creator's), without the run's `command` unless the pool allows it. Writes are
 * checked too; this also covers runs written before the pool's setting existed or changed.
 */
export function jobVariablesForRun(
  poolDefaults: JsonObject,
  runVariables: JsonObject,
  allowCommandOverride: boolean,
): JsonObject {
  if (allowCommandOverride) return { ...poolDefaults, ...runVariables };
  const { [COMMAND]: _dropped, ...allowed } = runVariables;
  return { ...poolDefaults, ...allowed };
}

async function poolRow({ db }: StoreContext, name: string): Promise<Selectable<WorkPoolTable>> {
  const row = await db.kysely.selectFrom("workPools").selectAll().where("name", "=", name).executeTakeFirst();
  if (!row) throw notFound("work pool", name);
  return row;
}

export const readWorkPool = async (ctx: StoreContext, name: string): Promise<WorkPool> =>
  toWorkPool(await poolRow(ctx, name));

const recordWorkPoolUpdated = (ctx: StoreContext, pool: WorkPool) =>
  recordEvent(ctx, {
    name: EventName.WorkPoolUpdated,
    resource: { kind: "work-pool", id: pool.id },
    flowRunId: null,
    payload: { workPool: pool },
    related: { workPoolName: pool.name },
  });

/** Creates a pool with its 'default' queue, as Prefect does. */
export async function createWorkPool(
  ctx: StoreContext,
  input: z.output<typeof WorkPoolCreate>,
): Promise<WorkPool> {
  if (input.baseJobTemplate) checkBaseJobTemplate(input.type, input.baseJobTemplate);
  const now = nowIso();
  const id = newId();
  try {
    await ctx.db.kysely.transaction().execute(async (trx) => {
      await trx
        .insertInto("workPools")
        .values({
          id,
          name: input.name,
          type: input.type,
          description: input.description ?? null,
          baseJobTemplate: toJson(input.baseJobTemplate ?? defaultBaseJobTemplate(input.type)),
          concurrencyLimit: input.concurrencyLimit ?? null,
          paused: toFlag(input.paused),
          allowCommandOverride: toFlag(input.allowCommandOverride),
          created: now,
          updated: now,
        })
        .execute();
      await trx
        .insertInto("workQueues")
        .values({
          id: newId(),
          workPoolId: id,
          name: "default",
          description: "The pool's default queue",
          priority: 1,
          concurrencyLimit: null,
          paused: 0,
          lastPolled: null,
          created: now,
          updated: now,
        })
        .execute();
    });
  } catch (error) {
    throw constraintError(error, `work pool '${input.name}'`) ?? error;
  }
  const pool = await readWorkPool(ctx, input.name);
  await recordWorkPoolUpdated(ctx, pool);
  return pool;
}

export async function listWorkPools({ db }: StoreContext, query: { limit: number; offset: number }) {
  const rows = await db.kysely
    .selectFrom("workPools")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toWorkPool), query.limit, query.offset);
}

export async function updateWorkPool(
  ctx: StoreContext,
  name: string,
  input: z.output<typeof WorkPoolUpdate>,
): Promise<WorkPool> {
  const columns: Updateable<WorkPoolTable> = { updated: nowIso() };
  if (input.description !== undefined) columns.description = input.description;
  if (input.baseJobTemplate !== undefined) {
    checkBaseJobTemplate((await poolRow(ctx, name)).type, input.baseJobTemplate);
    columns.baseJobTemplate = toJson(input.baseJobTemplate);
  }
  if (input.concurrencyLimit !== undefined) columns.concurrencyLimit = input.concurrencyLimit;
  if (input.paused !== undefined) columns.paused = toFlag(input.paused);
  if (input.allowCommandOverride !== undefined)
    columns.allowCommandOverride = toFlag(input.allowCommandOverride);
  const result = await ctx.db.kysely
    .updateTable("workPools")
    .set(columns)
    .where("name", "=", name)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("work pool", name);
  const pool = await readWorkPool(ctx, name);
  await recordWorkPoolUpdated(ctx, pool);
  return pool;
}

export async function deleteWorkPool(ctx: StoreContext, name: string): Promise<void> {
  const result = await ctx.db.kysely.deleteFrom("workPools").where("name", "=", name).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("work pool", name);
}

const selectQueues = ({ db }: StoreContext) =>
  db.kysely
    .selectFrom("workQueues")
    .innerJoin("workPools", "workPools.id", "workQueues.workPoolId")
    .selectAll("workQueues")
    .select("workPools.name as workPoolName");

export async function readWorkQueue(ctx: StoreContext, pool: string, name: string): Promise<WorkQueue> {
  await poolRow(ctx, pool);
  const row = await selectQueues(ctx)
    .where("workPools.name", "=", pool)
    .where("workQueues.name", "=", name)
    .executeTakeFirst();
  if (!row) throw notFound("work queue", `${pool}/${name}`);
  return toWorkQueue(row);
}

/** New queues go last in priority unless told, as in Prefect. */
export async function createWorkQueue(
  ctx: StoreContext,
  pool: string,
  input: z.output<typeof WorkQueueCreate>,
): Promise<WorkQueue> {
  const poolId = (await poolRow(ctx, pool)).id;
  const now = nowIso();
  let priority = input.priority;
  if (priority === undefined) {
    const last = await ctx.db.kysely
      .selectFrom("workQueues")
      .select((eb) => eb.fn.max("priority").as("max"))
      .where("workPoolId", "=", poolId)
      .executeTakeFirst();
    priority = (last?.max ?? 0) + 1;
  }
  try {
    await ctx.db.kysely
      .insertInto("workQueues")
      .values({
        id: newId(),
        workPoolId: poolId,
        name: input.name,
        description: input.description ?? null,
        priority,
        concurrencyLimit: input.concurrencyLimit ?? null,
        paused: toFlag(input.paused),
        lastPolled: null,
        created: now,
        updated: now,
      })
      .execute();
  } catch (error) {
    throw constraintError(error, `work queue '${pool}/${input.name}'`) ?? error;
  }
  return readWorkQueue(ctx, pool, input.name);
}

export async function listWorkQueues(
  ctx: StoreContext,
  pool: string,
  query: { limit: number; offset: number },
) {
  await poolRow(ctx, pool);
  const rows = await selectQueues(ctx)
    .where("workPools.name", "=", pool)
    .orderBy("workQueues.priority")
    .orderBy("workQueues.name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toWorkQueue), query.limit, query.offset);
}

export async function updateWorkQueue(
  ctx: StoreContext,
  pool: string,
  name: string,
  input: z.output<typeof WorkQueueUpdate>,
): Promise<WorkQueue> {
  const queue = await readWorkQueue(ctx, pool, name);
  const columns: Updateable<WorkQueueTable> = { updated: nowIso() };
  if (input.description !== undefined) columns.description = input.description;
  if (input.priority !== undefined) columns.priority = input.priority;
  if (input.concurrencyLimit !== undefined) columns.concurrencyLimit = input.concurrencyLimit;
  if (input.paused !== undefined) columns.paused = toFlag(input.paused);
  await ctx.db.kysely.updateTable("workQueues").set(columns).where("id", "=", queue.id).execute();
  const updated = await readWorkQueue(ctx, pool, name);
  // A queue resumed or given room wakes the workers waiting on it.
  ctx.events.publish(EventName.WorkQueueUpdated, { kind: "work-queue", id: queue.id }, null, {
    workQueue: updated,
  });
  return updated;
}

export async function deleteWorkQueue(ctx: StoreContext, pool: string, name: string): Promise<void> {
  const queue = await readWorkQueue(ctx, pool, name);
  await ctx.db.kysely.deleteFrom("workQueues").where("id", "=", queue.id).execute();
}

export async function heartbeatWorker(
  ctx: StoreContext,
  pool: string,
  input: z.output<typeof WorkerHeartbeat>,
): Promise<Worker> {
  const poolId = (await poolRow(ctx, pool)).id;
  const now = nowIso();
  const upsert = ctx.db.kysely
    .insertInto("workers")
    .values({
      id: newId(),
      workPoolId: poolId,
      name: input.name,
      lastHeartbeat: now,
      heartbeatIntervalSeconds: input.heartbeatIntervalSeconds,
      created: now,
      updated: now,
    })
    .onConflict((oc) =>
      oc.columns(["workPoolId", "name"]).doUpdateSet({
        lastHeartbeat: now,
        heartbeatIntervalSeconds: input.heartbeatIntervalSeconds,
        updated: now,
        // Back online: going offline again is announced again.
        offlineSince: null,
      }),
    );
  await retryIdempotent(() => upsert.execute());
  const row = await ctx.db.kysely
    .selectFrom("workers")
    .selectAll()
    .where("workPoolId", "=", poolId)
    .where("name", "=", input.name)
    .executeTakeFirstOrThrow();
  return toWorker(row);
}

export async function listWorkers(ctx: StoreContext, pool: string, query: { limit: number; offset: number }) {
  const poolId = (await poolRow(ctx, pool)).id;
  const rows = await ctx.db.kysely
    .selectFrom("workers")
    .selectAll()
    .where("workPoolId", "=", poolId)
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  const now = Date.now();
  return toPage(
    rows.map((row) => toWorker(row, now)),
    query.limit,
    query.offset,
  );
}

export async function deleteWorker(ctx: StoreContext, pool: string, name: string): Promise<void> {
  const poolId = (await poolRow(ctx, pool)).id;
  const result = await ctx.db.kysely
    .deleteFrom("workers")
    .where("workPoolId", "=", poolId)
    .where("name", "=", name)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("worker", `${pool}/${name}`);
}
