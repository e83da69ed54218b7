import { createHash } from "node:crypto";
import { EventName, type JsonObject, type ScheduleSpec } from "@baton/core";
import { sql, type ExpressionBuilder } from "kysely";
import type { Database } from "../db/schema.js";
import { fromJson, type StoreContext } from "../store/context.js";
import { deploymentRunInsert, readDeployment } from "../store/deployments.js";
import { insertFlowRun, type FlowRunInsert } from "../store/flow-runs.js";
import type { ServiceFactory } from "./index.js";
import { nextRunTimes } from "./schedules.js";

/**
 * How far ahead runs are made, as in Prefect: runs are added until there are at least MIN_RUNS of
 * them and they reach at least MIN_AHEAD ahead, but never more than MAX_RUNS nor beyond MAX_AHEAD.
 */
const MAX_RUNS = 100;
const MAX_AHEAD_MS = 100 * 24 * 3600 * 1000;
const MIN_RUNS = 3;
const MIN_AHEAD_MS = 3600 * 1000;

/** Keys of auto-scheduled runs are `scheduled:<deployment id>:<schedule hash>:<ISO time>`. */
const KEY_PREFIX = "scheduled:";
const HASH_LENGTH = 12;
/** The length of `scheduled:<deployment id>:<schedule hash>:` (deployment ids are UUIDs). */
const SCHEDULE_PREFIX_LENGTH = KEY_PREFIX.length + 36 + 1 + HASH_LENGTH + 1;

/** Idempotency keys are looked up this many at a time (both databases cap a statement's parameters). */
const KEYS_PER_QUERY = 1000;

/**
 * The schedule's identity in run keys: the same schedule, saved again (serve() upserts its deployment
 * on every start), keeps its runs; a changed one (its times or its parameters) gets new runs and its
 * old ones are removed. A schedule without parameters keeps the key it had before they existed.
 */
export function scheduleHash(spec: ScheduleSpec, parameters: JsonObject = {}): string {
  let canonical = JSON.stringify(spec, Object.keys(spec).sort());
  if (Object.keys(parameters).length > 0) canonical += JSON.stringify(sortedKeys(parameters));
  return createHash("sha256").update(canonical).digest("hex").slice(0, HASH_LENGTH);
}

/** The same JSON value with every object's keys in order, so equal parameters hash alike. */
function sortedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortedKeys);
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sortedKeys((value as Record<string, unknown>)[key])]),
  );
}

interface ActiveSchedule {
  deploymentId: string;
  flowId: string;
  spec: ScheduleSpec;
  /** Its runs get these over the deployment's default parameters. */
  parameters: JsonObject;
  /** `scheduled:<deployment id>:<schedule hash>:` */
  keyPrefix: string;
}

interface WantedRun {
  schedule: ActiveSchedule;
  time: string;
  key: string;
}

/**
 * Creates the runs of every active schedule of every deployment that is not paused ahead of time, and
 * removes the future runs of schedules that are no longer active. Run keys make it safe to restart, and
 * to run on several servers sharing a database: a run is never made twice.
 */
export const schedulerService: ServiceFactory = (ctx) => ({
  name: "scheduler",
  wakeOn: [EventName.DeploymentUpdated, EventName.DeploymentDeleted],
  async runOnce(now) {
    const schedules = await activeSchedules(ctx);
    await removeStaleRuns(ctx, schedules, now);
    await createMissingRuns(ctx, schedules, now);
  },
});

async function activeSchedules(ctx: StoreContext): Promise<ActiveSchedule[]> {
  const rows = await ctx.db.kysely
    .selectFrom("deploymentSchedules")
    .innerJoin("deployments", "deployments.id", "deploymentSchedules.deploymentId")
    .select([
      "deploymentSchedules.deploymentId",
      "deployments.flowId",
      "deploymentSchedules.schedule",
      "deploymentSchedules.parameters",
    ])
    .where("deploymentSchedules.active", "=", 1)
    .where("deployments.paused", "=", 0)
    .execute();
  return rows.map((row) => {
    const spec = fromJson<ScheduleSpec>(row.schedule, { cron: "", timezone: "UTC" });
    const parameters = fromJson<JsonObject>(row.parameters, {});
    return {
      deploymentId: row.deploymentId,
      flowId: row.flowId,
      spec,
      parameters,
      keyPrefix: `${KEY_PREFIX}${row.deploymentId}:${scheduleHash(spec, parameters)}:`,
    };
  });
}

/** The times a schedule should have runs at, from now on. */
function timesAhead(spec: ScheduleSpec, now: Date): Date[] {
  const times = nextRunTimes(spec, {
    after: now,
    until: new Date(now.getTime() + MAX_AHEAD_MS),
    max: MAX_RUNS,
  });
  const enough = times.findIndex(
    (time, index) => index + 1 >= MIN_RUNS && time.getTime() >= now.getTime() + MIN_AHEAD_MS,
  );
  return enough === -1 ? times : times.slice(0, enough + 1);
}

/**
 * Removes the future auto-scheduled runs that have not started and whose schedule is not among the
 * active ones: the deployment was paused or deleted, or the schedule was changed, deactivated or
 * removed. One read when there is nothing to remove (no write lock taken), one delete when there is.
 */
async function removeStaleRuns(ctx: StoreContext, schedules: ActiveSchedule[], now: Date): Promise<void> {
  const keep = [...new Set(schedules.map((schedule) => schedule.keyPrefix))];
  const stale = (eb: ExpressionBuilder<Database, "flowRuns">) =>
    eb.and([
      eb("stateType", "=", "SCHEDULED"),
      eb("runCount", "=", 0),
      eb("nextScheduledStartTime", ">", now.toISOString()),
      sql<boolean>`${sql.ref("idempotencyKey")} like (${KEY_PREFIX} || ${sql.ref("deploymentId")} || ':%')`,
      ...(keep.length > 0
        ? [
            eb(
              eb.fn<string>("substr", ["idempotencyKey", eb.lit(1), eb.lit(SCHEDULE_PREFIX_LENGTH)]),
              "not in",
              keep,
            ),
          ]
        : []),
    ]);
  const any = await ctx.db.kysely.selectFrom("flowRuns").select("id").where(stale).limit(1).execute();
  if (any.length === 0) return;
  const removed = await ctx.db.kysely.transaction().execute(async (trx) => {
    await trx
      .deleteFrom("logs")
      .where("flowRunId", "in", (eb) => eb.selectFrom("flowRuns").select("id").where(stale))
      .execute();
    const rows = await trx.deleteFrom("flowRuns").where(stale).returning("id").execute();
    return rows.map((row) => row.id);
  });
  for (const id of removed) ctx.events.publish(EventName.FlowRunDeleted, { kind: "flow-run", id }, id, {});
}

/**
 * Finds the wanted runs that do not exist yet (by key, on the unique index) and creates them, each
 * deployment's with its default parameters (and its schedule's over them) and work queue. A deployment whose runs cannot be created
 * (its work queue was deleted, say) does not hold up the others; the pass then fails naming it, so
 * that it is logged.
 */
async function createMissingRuns(ctx: StoreContext, schedules: ActiveSchedule[], now: Date): Promise<void> {
  const problems: string[] = [];
  const wanted: WantedRun[] = schedules.flatMap((schedule) => {
    try {
      return timesAhead(schedule.spec, now).map((date) => {
        const time = date.toISOString();
        return { schedule, time, key: schedule.keyPrefix + time };
      });
    } catch (error) {
      // Only a schedule saved before schedules were checked can fail here.
      problems.push(`deployment ${schedule.deploymentId}: ${messageOf(error)}`);
      return [];
    }
  });

  const existing = new Set<string>();
  for (let start = 0; start < wanted.length; start += KEYS_PER_QUERY) {
    const chunk = wanted.slice(start, start + KEYS_PER_QUERY);
    const rows = await ctx.db.kysely
      .selectFrom("flowRuns")
      .select("idempotencyKey")
      .where("flowId", "in", [...new Set(chunk.map((run) => run.schedule.flowId))])
      .where(
        "idempotencyKey",
        "in",
        chunk.map((run) => run.key),
      )
      .execute();
    for (const row of rows) existing.add(row.idempotencyKey!);
  }

  const missing = new Map<string, WantedRun[]>();
  for (const run of wanted) {
    if (existing.has(run.key)) continue;
    const runs = missing.get(run.schedule.deploymentId);
    if (runs) runs.push(run);
    else missing.set(run.schedule.deploymentId, [run]);
  }
  for (const [deploymentId, runs] of missing) {
    try {
      const deployment = await readDeployment(ctx, { id: deploymentId });
      const fieldsOf = new Map<ActiveSchedule, FlowRunInsert>();
      // insertFlowRun answers with the existing run when another server made it first.
      for (const run of runs) {
        let fields = fieldsOf.get(run.schedule);
        if (!fields) {
          fields = await deploymentRunInsert(ctx, deployment, { parameters: run.schedule.parameters });
          fieldsOf.set(run.schedule, fields);
        }
        await insertFlowRun(ctx, {
          ...fields,
          idempotencyKey: run.key,
          state: { type: "SCHEDULED", name: "Scheduled", scheduledTime: run.time },
        });
      }
    } catch (error) {
      problems.push(messageOf(error));
    }
  }
  if (problems.length > 0) {
    throw new Error(`some scheduled runs could not be created: ${problems.join("; ")}`);
  }
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));
