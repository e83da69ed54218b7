import {
  admit,
  BatonError,
  EventName,
  isEvent,
  makeState,
  notFound,
  type BatonEvent,
  type ClaimedRun,
  type ClaimRequest,
  type ClaimResult,
  type JsonObject,
  type StateType,
} from "@baton/core";
import type { ExpressionBuilder, Transaction } from "kysely";
import type { z } from "zod";
import type { Database } from "../db/schema.js";
import { fromJson, type StoreContext } from "./context.js";
import { readDeployment } from "./deployments.js";
import { selectFlowRuns, toFlowRun } from "./flow-runs.js";
import { publishStateChange, transitionInTransaction, type Applied } from "./set-state.js";
import { jobVariableDefaults, jobVariablesForRun } from "./work-pools.js";

type Trx = Transaction<Database>;
type Request = z.output<typeof ClaimRequest>;

/** The states in which a run holds its place against queue, pool and deployment limits. */
export const IN_FLIGHT_STATES = ["PENDING", "RUNNING", "CANCELLING"] as const;

/**
 * Runs a process holds: in flight, or awaiting a retry that their process carries out itself (such a
 * run keeps its heartbeat; see set-state.ts). They count against the limits and nobody else claims them.
 */
export const heldByProcess = (eb: ExpressionBuilder<Database, "flowRuns">) =>
  eb.or([
    eb("flowRuns.stateType", "in", IN_FLIGHT_STATES),
    eb.and([eb("flowRuns.stateType", "=", "SCHEDULED"), eb("flowRuns.lastHeartbeat", "is not", null)]),
  ]);

interface Pass {
  claimed: Applied[];
  /** Runs cancelled because their deployment was full and cancels new runs (CANCEL_NEW). */
  cancelled: Applied[];
  /** When each claimed run became due: its scheduled time, or its creation when that was later. */
  claimedDue: string[];
  /** When the earliest run that is not due yet becomes due, to wake a long poll then. */
  nextDue: string | null;
  poolDefaults: JsonObject;
}

/**
 * Claims runs ready to start, waiting up to `waitSeconds` for one. Each pass is one transaction that
 * locks the pool (or the serve process's limited deployments) first, so concurrent claims are decided
 * one after the other and no limit is ever exceeded, on SQLite and PostgreSQL alike.
 */
export async function claimFlowRuns(
  ctx: StoreContext,
  request: Request,
  closed?: AbortSignal,
): Promise<ClaimResult> {
  if ((request.workPoolName === undefined) === (request.deploymentIds === undefined)) {
    throw new BatonError(
      "invalid_argument",
      "give workPoolName (a worker claims from its pool) or deploymentIds (a serve process), not both",
    );
  }
  await markPolled(ctx, request);
  const deadline = Date.now() + request.waitSeconds * 1000;
  // Subscribed before the first pass, so a run created during a pass is not missed.
  let changed = false;
  let wake: (() => void) | undefined;
  const unsubscribe = ctx.events.subscribe((event) => {
    if (!mayFreeWork(event)) return;
    changed = true;
    wake?.();
  });
  const onClose = () => wake?.();
  closed?.addEventListener("abort", onClose);
  ctx.stopping?.addEventListener("abort", onClose);
  try {
    for (;;) {
      if (ctx.stopping?.aborted) return { runs: [] };
      changed = false;
      const started = performance.now();
      const pass = await ctx.db.kysely.transaction().execute((trx) => claimPass(ctx, trx, request));
      ctx.observer?.claimPass((performance.now() - started) / 1000, pass.claimedDue, new Date());
      for (const applied of [...pass.cancelled, ...pass.claimed]) publishStateChange(ctx, applied);
      if (pass.claimed.length > 0) return { runs: await describeClaimed(ctx, pass) };
      const now = Date.now();
      if (now >= deadline || closed?.aborted || ctx.stopping?.aborted) return { runs: [] };
      if (changed) continue;
      const until = Math.min(deadline, pass.nextDue ? Date.parse(pass.nextDue) : Infinity);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, until - now));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    closed?.removeEventListener("abort", onClose);
    ctx.stopping?.removeEventListener("abort", onClose);
  }
}

/**
 * Records when the queues (or a serve process's deployments) were last asked for runs, once per
 * claim: the dashboard and the CLI show from it whether anything serves them.
 */
async function markPolled(ctx: StoreContext, request: Request): Promise<void> {
  const lastPolled = new Date().toISOString();
  if (request.workPoolName !== undefined) {
    let queues = ctx.db.kysely
      .updateTable("workQueues")
      .set({ lastPolled })
      .where("workPoolId", "in", (eb) =>
        eb.selectFrom("workPools").select("id").where("name", "=", request.workPoolName!),
      );
    if (request.workQueueNames?.length) queues = queues.where("name", "in", request.workQueueNames);
    await queues.execute();
  } else if (request.deploymentIds?.length) {
    await ctx.db.kysely
      .updateTable("deployments")
      .set({ lastPolled })
      .where("id", "in", request.deploymentIds)
      .execute();
  }
}

const holdsLimit = (type: StateType | null): boolean =>
  type !== null && (IN_FLIGHT_STATES as readonly StateType[]).includes(type);

/**
 * Events after which a claim may find work: a run became due or left the limits (PENDING → RUNNING
 * frees nothing, so it wakes nobody), a limit or pause changed.
 */
function mayFreeWork(event: BatonEvent): boolean {
  if (isEvent(event, EventName.FlowRunStateChanged)) {
    const { state, previousType } = event.payload;
    return state.type === "SCHEDULED" || (holdsLimit(previousType) && !holdsLimit(state.type));
  }
  return (
    event.name === EventName.WorkPoolUpdated ||
    event.name === EventName.WorkQueueUpdated ||
    event.name === EventName.DeploymentUpdated
  );
}

async function claimPass(ctx: StoreContext, trx: Trx, request: Request): Promise<Pass> {
  const now = new Date();
  const nowIso = now.toISOString();
  const empty: Pass = { claimed: [], cancelled: [], claimedDue: [], nextDue: null, poolDefaults: {} };

  // Lock order: pool, then deployments. Touching a row with an UPDATE takes its lock on PostgreSQL
  // (SQLite's BEGIN IMMEDIATE already serializes writers).
  let queues: { id: string; limit: number | null }[] = [];
  let poolLimit: number | null = null;
  let poolName: string | null = null;
  if (request.workPoolName !== undefined) {
    poolName = request.workPoolName;
    await trx
      .updateTable("workPools")
      .set((eb) => ({ updated: eb.ref("updated") }))
      .where("name", "=", poolName)
      .execute();
    const pool = await trx
      .selectFrom("workPools")
      .selectAll()
      .where("name", "=", poolName)
      .executeTakeFirst();
    if (!pool) throw notFound("work pool", poolName);
    empty.poolDefaults = jobVariableDefaults(fromJson(pool.baseJobTemplate, {}));
    if (pool.paused === 1) return empty;
    poolLimit = pool.concurrencyLimit;
    let query = trx
      .selectFrom("workQueues")
      .select(["id", "name", "concurrencyLimit", "paused"])
      .where("workPoolId", "=", pool.id);
    if (request.workQueueNames?.length) query = query.where("name", "in", request.workQueueNames);
    const rows = await query.orderBy("priority").orderBy("name").execute();
    const missing = (request.workQueueNames ?? []).filter((name) => !rows.some((row) => row.name === name));
    if (missing.length > 0) throw notFound("work queue", `${poolName}/${missing[0]}`);
    queues = rows
      .filter((row) => row.paused === 0)
      .map((row) => ({ id: row.id, limit: row.concurrencyLimit }));
    if (queues.length === 0) return empty;
  }

  // Candidate runs: due, SCHEDULED, in the caller's queues (by priority) or deployments.
  const due = await candidates(trx, request, queues, nowIso);
  if (due.length === 0) return { ...empty, nextDue: await nextDueTime(trx, request, queues, nowIso) };

  const deploymentIds = [...new Set(due.map((run) => run.deploymentId).filter((id) => id !== null))];
  const limitedDeployments =
    deploymentIds.length === 0
      ? []
      : await trx
          .selectFrom("deployments")
          .select(["id", "concurrencyLimit", "collisionStrategy"])
          .where("id", "in", deploymentIds)
          .where("concurrencyLimit", "is not", null)
          .orderBy("id")
          .execute();
  if (limitedDeployments.length > 0) {
    await trx
      .updateTable("deployments")
      .set((eb) => ({ updated: eb.ref("updated") }))
      .where(
        "id",
        "in",
        limitedDeployments.map((row) => row.id),
      )
      .execute();
  }

  const scopes: string[] = limitedDeployments.map((row) => row.id);
  const inFlight =
    poolName === null && scopes.length === 0
      ? []
      : await trx
          .selectFrom("flowRuns")
          .select(["workPoolName", "workQueueId", "deploymentId"])
          .where(heldByProcess)
          .where((eb) =>
            eb.or([
              ...(poolName !== null ? [eb("workPoolName", "=", poolName)] : []),
              ...(scopes.length > 0 ? [eb("deploymentId", "in", scopes)] : []),
            ]),
          )
          .execute();

  const { admitted, cancelled: colliding } = admit(
    due,
    {
      ...(poolName !== null ? { pool: { name: poolName, limit: poolLimit } } : {}),
      queues,
      deployments: limitedDeployments.map((row) => ({
        id: row.id,
        limit: row.concurrencyLimit!,
        cancelNew: row.collisionStrategy === "CANCEL_NEW",
      })),
    },
    inFlight,
    request.limit,
  );
  const cancelled: Applied[] = [];
  for (const run of colliding) {
    const limit = limitedDeployments.find((row) => row.id === run.deploymentId)!.concurrencyLimit;
    const state = makeState({
      type: "CANCELLED",
      message: `its deployment had all ${limit} concurrency slot(s) in use when it was due, and cancels new runs then (collision strategy CANCEL_NEW)`,
    });
    const applied = await transitionInTransaction(trx, "flow", run.id, state, { force: false });
    if (applied.changed) cancelled.push(applied);
  }
  const claimed: Applied[] = [];
  const claimedDue: string[] = [];
  for (const run of admitted) {
    const applied = await transitionInTransaction(trx, "flow", run.id, makeState({ type: "PENDING" }), {
      force: false,
      claimedBy: request.workerName,
    });
    // Refused (its state changed since it was read): it is not claimed, and its room is left unused.
    if (applied.result.status === "ACCEPT" && applied.changed) {
      claimed.push(applied);
      const scheduled = run.nextScheduledStartTime ?? run.created;
      claimedDue.push(scheduled > run.created ? scheduled : run.created);
    }
  }
  return { ...empty, claimed, cancelled, claimedDue };
}

/** At most this many candidates are read per pass; limits may skip some of them. */
const CANDIDATES_PER_PASS = 200;

function scheduledRuns(trx: Trx, request: Request, queues: { id: string }[]) {
  const query = trx
    .selectFrom("flowRuns")
    .select([
      "flowRuns.id",
      "flowRuns.workPoolName",
      "flowRuns.workQueueId",
      "flowRuns.deploymentId",
      "flowRuns.nextScheduledStartTime",
      "flowRuns.created",
    ])
    .where("flowRuns.stateType", "=", "SCHEDULED")
    .where("flowRuns.lastHeartbeat", "is", null); // not awaiting a retry in its own process
  return request.workPoolName !== undefined
    ? query.where(
        "flowRuns.workQueueId",
        "in",
        queues.map((queue) => queue.id),
      )
    : query
        .where("flowRuns.deploymentId", "in", request.deploymentIds ?? [])
        .where("flowRuns.workPoolName", "is", null);
}

/** Due runs, higher-priority queues first and, within a queue, the earliest due first. */
async function candidates(trx: Trx, request: Request, queues: { id: string }[], nowIso: string) {
  return scheduledRuns(trx, request, queues)
    .leftJoin("workQueues", "workQueues.id", "flowRuns.workQueueId")
    .where("flowRuns.nextScheduledStartTime", "<=", nowIso)
    .orderBy("workQueues.priority")
    .orderBy("flowRuns.nextScheduledStartTime")
    .orderBy("flowRuns.id")
    .limit(CANDIDATES_PER_PASS)
    .execute();
}

async function nextDueTime(
  trx: Trx,
  request: Request,
  queues: { id: string }[],
  nowIso: string,
): Promise<string | null> {
  const row = await scheduledRuns(trx, request, queues)
    .where("flowRuns.nextScheduledStartTime", ">", nowIso)
    .orderBy("flowRuns.nextScheduledStartTime")
    .limit(1)
    .executeTakeFirst();
  return row?.nextScheduledStartTime ?? null;
}

async function describeClaimed(ctx: StoreContext, pass: Pass): Promise<ClaimedRun[]> {
  const ids = pass.claimed.map((applied) => applied.changed!.runId);
  const rows = await selectFlowRuns(ctx).where("flowRuns.id", "in", ids).execute();
  const runs = ids.map((id) => toFlowRun(rows.find((row) => row.id === id)!));
  const deployments = new Map<string, Awaited<ReturnType<typeof readDeployment>> | null>();
  for (const run of runs) {
    if (run.deploymentId && !deployments.has(run.deploymentId)) {
      deployments.set(
        run.deploymentId,
        await readDeployment(ctx, { id: run.deploymentId }).catch(() => null), // deleted since
      );
    }
  }
  const poolNames = [...new Set(runs.flatMap((run) => (run.workPoolName ? [run.workPoolName] : [])))];
  const allowingCommand = new Set(
    poolNames.length === 0
      ? []
      : (
          await ctx.db.kysely
            .selectFrom("workPools")
            .select("name")
            .where("name", "in", poolNames)
            .where("allowCommandOverride", "=", 1)
            .execute()
        ).map((pool) => pool.name),
  );
  return runs.map((flowRun) => ({
    flowRun,
    deployment: flowRun.deploymentId ? (deployments.get(flowRun.deploymentId) ?? null) : null,
    jobVariables: jobVariablesForRun(
      pass.poolDefaults,
      flowRun.jobVariables,
      flowRun.workPoolName !== null && allowingCommand.has(flowRun.workPoolName),
    ),
  }));
}
