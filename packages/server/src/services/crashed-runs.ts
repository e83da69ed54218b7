import { makeState, retryDelayFor } from "@baton/core";
import type { ExpressionBuilder, Transaction } from "kysely";
import type { Database } from "../db/schema.js";
import { heldByProcess, IN_FLIGHT_STATES } from "../store/claims.js";
import { fromJson } from "../store/context.js";
import { publishStateChange, transitionInTransaction, type Applied } from "../store/set-state.js";
import type { ServiceFactory } from "./index.js";

type Trx = Transaction<Database>;

/**
 * Flow runs a process holds (see heldByProcess) whose last heartbeat is older than `cutoff`. Entering
 * PENDING or RUNNING counts as a heartbeat; a run in flight from before that rule has its last update.
 */
const silentSince = (cutoff: string) => (eb: ExpressionBuilder<Database, "flowRuns">) =>
  eb.and([heldByProcess(eb), eb(eb.fn.coalesce("flowRuns.lastHeartbeat", "flowRuns.updated"), "<", cutoff)]);

/**
 * Crash detection (Prefect 1's Lazarus): a flow run whose process stopped sending heartbeats is
 * ended, CANCELLED if it was being cancelled and CRASHED otherwise, with its unfinished task runs.
 * A crashed deployment run is put back to SCHEDULED ("Rescheduled") when it never started or has
 * retries left, so a worker or serve process picks it up again.
 */
export const crashedRunsService: ServiceFactory = (ctx, settings) => {
  const startedAt = Date.now();
  return {
    name: "crashed-runs",
    async runOnce(now) {
      const timeout = settings.flowRunHeartbeatTimeoutSeconds;
      // Heartbeats sent while this server was down were lost, not missed: a restarted server gives every
      // process one full timeout to reach it again before it takes silence for a crash.
      if (now.getTime() - startedAt < timeout * 1000) return;
      const cutoff = new Date(now.getTime() - timeout * 1000).toISOString();
      const silent = await ctx.db.kysely
        .selectFrom("flowRuns")
        .select("id")
        .where(silentSince(cutoff))
        .orderBy("lastHeartbeat")
        .execute();
      for (const { id } of silent) {
        const changes = await ctx.db.kysely
          .transaction()
          .execute((trx) => endSilentRun(trx, id, cutoff, timeout));
        for (const applied of changes) publishStateChange(ctx, applied);
      }
      const silentTasks = await ctx.db.kysely
        .selectFrom("taskRuns")
        .select("id")
        .where(silentTaskSince(cutoff))
        .orderBy("lastHeartbeat")
        .execute();
      for (const { id } of silentTasks) {
        const changes = await ctx.db.kysely
          .transaction()
          .execute((trx) => endSilentTaskRun(trx, id, cutoff, timeout));
        for (const applied of changes) publishStateChange(ctx, applied);
      }
    },
  };
};

/** Ends one silent run in the caller's transaction; returns the state changes to publish after commit. */
async function endSilentRun(trx: Trx, id: string, cutoff: string, timeout: number): Promise<Applied[]> {
  // Lock the row only if the run is still silent: a heartbeat or a state change since the query, or
  // another server that ended it first, leaves nothing to do. (On PostgreSQL an UPDATE that waited for
  // another transaction's lock checks its WHERE again against the row that transaction committed.)
  const locked = await trx
    .updateTable("flowRuns")
    // A new attempt number fences the silent process: if it wakes up, whatever it proposes is refused.
    .set((eb) => ({ attempt: eb("attempt", "+", 1) }))
    .where("id", "=", id)
    .where(silentSince(cutoff))
    .executeTakeFirst();
  if (locked.numUpdatedRows === 0n) return [];
  const run = await trx
    .selectFrom("flowRuns")
    .select([
      "id",
      "stateType",
      "lastHeartbeat",
      "workerName",
      "deploymentId",
      "runCount",
      "retries",
      "retryDelaySeconds",
    ])
    .where("id", "=", id)
    .executeTakeFirstOrThrow();

  const worker = run.workerName ? `, worker '${run.workerName}'` : "";
  const silence = `stopped sending heartbeats (last at ${run.lastHeartbeat}${worker}; timeout ${timeout} s)`;
  // Only a deployment run has somewhere to run again. One that did start uses up a retry, as a failure
  // would; one that never started (its process died or hung before RUNNING) is always safe to run,
  // but not forever: a run whose every start dies the same way would be rescheduled without end.
  const neverStarted = run.runCount === 0;
  const crashes = neverStarted ? (await crashesOf(trx, id)) + 1 : 0;
  const giveUp = neverStarted && crashes >= MAX_CRASHES_BEFORE_START;
  const retriesLeft = neverStarted ? !giveUp : run.runCount <= run.retries;
  const end =
    run.stateType === "CANCELLING"
      ? makeState({
          type: "CANCELLED",
          message: `the process running this flow run ${silence} while it was being cancelled`,
        })
      : makeState({
          type: "CRASHED",
          message:
            `the process running this flow run ${silence}` +
            (giveUp
              ? `; it crashed ${crashes} times before it started, so it is not rescheduled again: ` +
                "look at the output of the worker or serve process that claimed it"
              : ""),
        });
  // Retrying is decided below, not by the rules: they would turn the crash into AwaitingRetry even for
  // a run that nothing would ever pick up again.
  const ended = await transitionInTransaction(trx, "flow", id, end, { force: false, noAutomaticRetry: true });
  if (!ended.changed) return [];
  // Its unfinished task runs ended with it (see endUnfinishedTaskRuns).
  const changes: Applied[] = [ended];

  if (ended.changed.state.type === "CRASHED" && run.deploymentId !== null && retriesLeft) {
    const rescheduled = await reschedule(trx, run);
    if (rescheduled.changed) changes.push(rescheduled);
  }
  return changes;
}

/** Background task runs (no flow run) a task worker holds whose last heartbeat is older than `cutoff`. */
const silentTaskSince = (cutoff: string) => (eb: ExpressionBuilder<Database, "taskRuns">) =>
  eb.and([
    eb("taskRuns.flowRunId", "is", null),
    eb.or([
      eb("taskRuns.stateType", "in", IN_FLIGHT_STATES),
      eb.and([eb("taskRuns.stateType", "=", "SCHEDULED"), eb("taskRuns.lastHeartbeat", "is not", null)]),
    ]),
    eb(eb.fn.coalesce("taskRuns.lastHeartbeat", "taskRuns.updated"), "<", cutoff),
  ]);

/**
 * Ends one silent background task run, as endSilentRun a flow run: CANCELLED if it was being
 * cancelled, else CRASHED, which the retry rule turns into a retry that any task worker may claim
 * while it has retries left. One that was awaiting a retry in its worker is left to be claimed.
 */
async function endSilentTaskRun(trx: Trx, id: string, cutoff: string, timeout: number): Promise<Applied[]> {
  const locked = await trx
    .updateTable("taskRuns")
    // A new attempt fences the silent worker: if it wakes up, whatever it proposes is refused.
    .set((eb) => ({ attempt: eb("attempt", "+", 1) }))
    .where("id", "=", id)
    .where(silentTaskSince(cutoff))
    .returning(["stateType", "lastHeartbeat", "workerName"])
    .executeTakeFirst();
  if (!locked) return [];
  if (locked.stateType === "SCHEDULED") {
    await trx
      .updateTable("taskRuns")
      .set({ lastHeartbeat: null, workerName: null })
      .where("id", "=", id)
      .execute();
    return [];
  }
  const worker = locked.workerName ? ` '${locked.workerName}'` : "";
  const silence = `the task worker${worker} running this task run stopped sending heartbeats (last at ${locked.lastHeartbeat}; timeout ${timeout} s)`;
  const end =
    locked.stateType === "CANCELLING"
      ? makeState({ type: "CANCELLED", message: `${silence} while it was being cancelled` })
      : makeState({ type: "CRASHED", message: silence });
  const ended = await transitionInTransaction(trx, "task", id, end, { force: false });
  return ended.changed ? [ended] : [];
}

/** How many times a run that never started may crash before it is left CRASHED. */
export const MAX_CRASHES_BEFORE_START = 3;

/** The crashes in a run's history (for a run that never started: all of them were before its start). */
async function crashesOf(trx: Trx, id: string): Promise<number> {
  const row = await trx
    .selectFrom("states")
    .select((eb) => eb.fn.countAll<number>().as("count"))
    .where("flowRunId", "=", id)
    .where("type", "=", "CRASHED")
    .executeTakeFirstOrThrow();
  return Number(row.count);
}

/** Puts a crashed run back to SCHEDULED after the retry delay of the attempt that crashed. */
async function reschedule(
  trx: Trx,
  run: { id: string; runCount: number; retries: number; retryDelaySeconds: string },
): Promise<Applied> {
  const now = new Date();
  const delay = retryDelayFor(fromJson(run.retryDelaySeconds, []), Math.max(run.runCount, 1));
  const state = makeState(
    {
      type: "SCHEDULED",
      name: "Rescheduled",
      scheduledTime: new Date(now.getTime() + delay * 1000).toISOString(),
      message:
        run.runCount === 0
          ? "Rescheduled: it crashed before it started"
          : `Rescheduled: retry ${run.runCount} of ${run.retries} after the crash`,
    },
    now,
  );
  // A retry, not a rerun: the attempts made so far still count against the retries.
  const applied = await transitionInTransaction(trx, "flow", run.id, state, {
    force: false,
    keepRunCount: true,
  });
  if (applied.changed) {
    // The silent process's name and last heartbeat are not this run's any more: whoever claims it next
    // sets both, and until then it is not watched (an old heartbeat would crash it again at once).
    await trx
      .updateTable("flowRuns")
      .set({ workerName: null, lastHeartbeat: null })
      .where("id", "=", run.id)
      .execute();
  }
  return applied;
}
