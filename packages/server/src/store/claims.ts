import {
  admit,
  BatonError,
  EventName,
  isEvent,
  jobVariableDefaults,
  makeState,
  notFound,
  type BatonEvent,
  type ClaimedRun,
  type ClaimRequest,
  type ClaimResult,
  type JsonObject,
  type State,
  type StateType,
  type TaskRunClaimRequest,
  type TaskRunClaimResult,
} from "@baton/core";
import {
  sql,
  type ExpressionBuilder,
  type Kysely,
  type QueryCreator,
  type Selectable,
  type Transaction,
} from "kysely";
import type { z } from "zod";
import { compiledOnce } from "../db/compiled-once.js";
import { speaksPostgres } from "../db/database.js";
import type { Database, FlowRunTable, TaskRunTable } from "../db/schema.js";
import type { EventBus } from "../events.js";
import { chunked, fromJson, type StoreContext } from "./context.js";
import { readDeployments } from "./deployments.js";
import { flowRunRows, toFlowRun } from "./flow-runs.js";
import {
  decideUnwritten,
  lockedFlowRunColumns,
  lockRuns,
  publishStateChange,
  toLockedRun,
  transitionInTransaction,
  writeIfUnchanged,
  writeUnwritten,
  type Applied,
  type Claimant,
  type FlowRunRow,
  type LockedRun,
  type TransitionOptions,
  type UnchangedWrite,
} from "./set-state.js";
import { toTaskRun } from "./task-runs.js";
import { jobVariablesForRun } from "./work-pools.js";

type Trx = Transaction<Database>;
type Request = z.output<typeof ClaimRequest>;

/** The states in which a run holds its place against queue, pool and deployment limits. */
export const IN_FLIGHT_STATES = ["PENDING", "RUNNING", "CANCELLING"] as const;

/**
 * Runs a process holds: in flight, or awaiting a retry that their process carries out itself, or
 * paused in their process (such runs keep their heartbeat; a suspended one has none: see set-state.ts).
 * They count against the limits and nobody else claims them.
 */
export const heldByProcess = (eb: ExpressionBuilder<Database, "flowRuns">) => {
  // Written into the SQL, not bound: a plan PostgreSQL keeps for the statement can then use the
  // partial indexes of held runs (migrations.ts claimIndexes), which only match these very values.
  const states = (types: readonly StateType[]) => types.map((type) => sql.lit(type));
  return eb.or([
    eb("flowRuns.stateType", "in", states(IN_FLIGHT_STATES)),
    eb.and([
      eb("flowRuns.stateType", "in", states(["SCHEDULED", "PAUSED"])),
      eb("flowRuns.lastHeartbeat", "is not", null),
    ]),
  ]);
};

interface Pass extends PassOutcome<FlowRunRow> {
  /**
   * Every change of the pass in order, to publish once committed: claims, starts (serve), and runs
   * cancelled because their deployment was full and cancels new runs (CANCEL_NEW).
   */
  changes: Applied[];
  /** When each claimed run became due: its scheduled time, or its creation when that was later. */
  claimedDue: string[];
  /** When the earliest run that is not due yet becomes due, to wake a long poll then. */
  nextDue: string | null;
  poolDefaults: JsonObject;
  /** The pool lets a run's job variables override the command it is started with. */
  poolAllowsCommand: boolean;
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
  const kind = claimKind(request);
  if (serverClaimsOf(ctx.events).pollToMark(kind)) await markPolled(ctx, request);
  const pass = await longPoll(ctx, kind, request, closed, () => flowClaimPass(ctx, request, closed));
  return { runs: pass ? await describeClaimed(ctx, pass, request.withDeployments) : [] };
}

/** One claim pass of a worker or serve process: see claimPass, and unlockedServePass. */
async function flowClaimPass(ctx: StoreContext, request: Request, closed: AbortSignal | undefined) {
  const db = ctx.db.kysely;
  if (speaksPostgres(db) && request.deploymentIds !== undefined) {
    const pass = await unlockedServePass(db, request, closed);
    if (pass !== undefined) return pass;
  }
  return passInTransaction(ctx, closed, (trx) => claimPass(trx, request));
}

/**
 * Claims background task runs (`task.delay()`) of the given task keys for a task worker: the same
 * long poll, woken the same way, as deployment runs for a serve process. Each claimed run is moved
 * to PENDING, which raises its attempt and names its worker, and on to RUNNING in the same pass.
 */
export async function claimTaskRuns(
  ctx: StoreContext,
  request: z.output<typeof TaskRunClaimRequest>,
  closed?: AbortSignal,
): Promise<TaskRunClaimResult> {
  const kind = `tasks ${[...request.taskKeys].sort().join(",")}`;
  const pass = await longPoll(ctx, kind, request, closed, () =>
    passInTransaction(ctx, closed, (trx) => taskClaimPass(trx, request)),
  );
  return { runs: pass ? pass.claimed.map(toTaskRun) : [] };
}

/** What a claim pass leaves for its long poll. */
interface PassOutcome<Row = unknown> {
  /** The claimed runs' rows as the claim left them. */
  claimed: Row[];
  changes: Applied[];
  claimedDue: string[];
  nextDue: string | null;
}

/**
 * Makes claim passes until one claims a run or `waitSeconds` run out (answering null then). Between
 * passes it waits in its kind's line to be woken by a change that may free work, or by the time the
 * earliest run not yet due becomes due. A pass answers null when its claimer went away: it took
 * nothing, and the poll ends.
 */
async function longPoll<P extends PassOutcome>(
  ctx: StoreContext,
  kind: string,
  request: { limit: number; waitSeconds: number },
  closed: AbortSignal | undefined,
  pass: () => Promise<P | null>,
): Promise<P | null> {
  const claims = serverClaimsOf(ctx.events);
  const deadline = Date.now() + request.waitSeconds * 1000;
  // Joined before the first pass, so a run created during a pass is not missed.
  const waiter = claims.join(kind);
  let claimedAll = false;
  const onClose = () => waiter.wake?.();
  closed?.addEventListener("abort", onClose);
  ctx.stopping?.addEventListener("abort", onClose);
  try {
    for (;;) {
      if (ctx.stopping?.aborted) return null;
      waiter.changed = false;
      const started = performance.now();
      const done = await pass();
      if (done === null) return null;
      ctx.observer?.claimPass((performance.now() - started) / 1000, done.claimedDue, new Date());
      for (const applied of done.changes) publishStateChange(ctx, applied);
      if (done.claimed.length > 0) {
        claimedAll = done.claimed.length === request.limit;
        return done;
      }
      const now = Date.now();
      if (now >= deadline || closed?.aborted || ctx.stopping?.aborted) return null;
      if (waiter.changed) continue;
      const until = Math.min(deadline, done.nextDue ? Date.parse(done.nextDue) : Infinity);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, until - now));
        waiter.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      waiter.wake = undefined;
    }
  } finally {
    // Took all it asked for (there may be more), or heard a change it did not pass over: the next
    // claim of its kind looks instead.
    waiter.leave(claimedAll || waiter.changed);
    closed?.removeEventListener("abort", onClose);
    ctx.stopping?.removeEventListener("abort", onClose);
  }
}

/**
 * A claim pass in one transaction; null when its claimer went away during the pass (a process
 * stopping, a dropped connection): its answer could not reach it, so the pass is rolled back and takes
 * nothing. (Gone after the COMMIT, it sends the claim again, resent.)
 */
async function passInTransaction<P extends PassOutcome>(
  ctx: StoreContext,
  closed: AbortSignal | undefined,
  pass: (trx: Trx) => Promise<P>,
): Promise<P | null> {
  return ctx.db.kysely
    .transaction()
    .execute(async (trx) => {
      const outcome = await pass(trx);
      if (outcome.claimed.length > 0 && closed?.aborted) throw new ClaimerGone();
      return outcome;
    })
    .catch((error: unknown) => {
      if (error instanceof ClaimerGone) return null;
      throw error;
    });
}

/** Rolls back a claim pass whose claimer went away before its answer. */
class ClaimerGone extends Error {}

/** A claim in progress, as the claims waiting beside it know it. */
interface Waiter {
  /** A change that may free work came since its last pass began: it passes again before waiting. */
  changed: boolean;
  /** Ends its wait, while it waits. */
  wake: (() => void) | undefined;
  /** Leaves its kind's line; with `handOn`, the next in line is told of a change in its place. */
  leave(handOn: boolean): void;
}

/** Claims of one kind see the same runs: a pool and its queues, or a serve process's deployments. */
const claimKind = (request: Request): string =>
  request.workPoolName !== undefined
    ? `pool ${request.workPoolName} ${[...(request.workQueueNames ?? [])].sort().join(",")}`
    : `deployments ${[...(request.deploymentIds ?? [])].sort().join(",")}`;

/**
 * The claims in progress on one server, in line by kind, and when each kind's polls were last
 * recorded. A change that may free work is given to the first claim of each kind that has not heard
 * of one yet, not to all: when every waiting worker woke, each freed slot cost a pass under the pool's
 * lock per worker and all but one found nothing. A claim that took as many runs as it asked for (there
 * may be more), or leaves with a change it did not pass over, hands the change on to the next in line,
 * so no change is lost.
 */
class ServerClaims {
  readonly #lines = new Map<string, Waiter[]>();
  /** When each kind's last poll was recorded (markPolled). */
  readonly #marked = new Map<string, number>();

  constructor(events: EventBus) {
    events.subscribe((event) => {
      const forRuns = mayFreeWork(event);
      const forTasks = mayFreeTaskWork(event);
      if (!forRuns && !forTasks) return;
      for (const [kind, line] of this.#lines) {
        if (kind.startsWith("tasks ") ? forTasks : forRuns) ServerClaims.#tell(line);
      }
    });
  }

  join(kind: string): Waiter {
    const line = this.#lines.get(kind) ?? [];
    this.#lines.set(kind, line);
    const waiter: Waiter = {
      changed: false,
      wake: undefined,
      leave: (handOn) => {
        line.splice(line.indexOf(waiter), 1);
        if (line.length === 0) this.#lines.delete(kind);
        else if (handOn) ServerClaims.#tell(line);
      },
    };
    line.push(waiter);
    return waiter;
  }

  /**
   * Whether to record this poll: once per kind every few seconds is all "last polled" needs, and a
   * write per claim was one more statement on every run's way to its worker.
   */
  pollToMark(kind: string): boolean {
    const now = Date.now();
    if (now - (this.#marked.get(kind) ?? -Infinity) < POLL_MARK_INTERVAL_MS) return false;
    // Serve processes that come and go leave kinds behind: forgetting them all costs one write each.
    if (this.#marked.size >= MARKED_KINDS) this.#marked.clear();
    this.#marked.set(kind, now);
    return true;
  }

  static #tell(line: Waiter[]): void {
    const next = line.find((waiter) => !waiter.changed);
    if (!next) return;
    next.changed = true;
    next.wake?.();
  }
}

const POLL_MARK_INTERVAL_MS = 5000;
const MARKED_KINDS = 10_000;

const serverClaims = new WeakMap<EventBus, ServerClaims>();

/** The claims of one server, that is of one event bus. */
function serverClaimsOf(events: EventBus): ServerClaims {
  let claims = serverClaims.get(events);
  if (!claims) serverClaims.set(events, (claims = new ServerClaims(events)));
  return claims;
}

/**
 * Records when the queues (or a serve process's deployments) were last asked for runs, once per
 * claim: the dashboard and the CLI show from it whether anything serves them.
 */
async function markPolled(ctx: StoreContext, request: Request): Promise<void> {
  const db = ctx.db.kysely;
  const lastPolled = new Date().toISOString();
  // On PostgreSQL only the rows nobody holds: another claim marking them at this moment marks them for
  // this one, and two statements that waited for each other's rows (taken in another order) deadlocked.
  const free = <Q extends { forNoKeyUpdate(): { skipLocked(): unknown } }>(query: Q): Q =>
    speaksPostgres(db) ? (query.forNoKeyUpdate().skipLocked() as Q) : query;
  if (request.workPoolName !== undefined) {
    const names = request.workQueueNames;
    await db
      .updateTable("workQueues")
      .set({ lastPolled })
      .where("id", "in", (eb) =>
        free(
          eb
            .selectFrom("workQueues as polled")
            .select("polled.id")
            .where("polled.workPoolId", "in", (eb) =>
              eb.selectFrom("workPools").select("id").where("name", "=", request.workPoolName!),
            )
            .$if(names !== undefined && names.length > 0, (query) =>
              query.where("polled.name", "in", names!),
            ),
        ),
      )
      .execute();
  } else if (request.deploymentIds?.length) {
    const ids = request.deploymentIds;
    await db
      .updateTable("deployments")
      .set({ lastPolled })
      .where("id", "in", (eb) =>
        free(eb.selectFrom("deployments as polled").select("polled.id").where("polled.id", "in", ids)),
      )
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
    // A run paused in its process keeps its place; a suspended one gives it up. A paused run that
    // ends may have held its place (the event does not say whether it was suspended): wake anyway.
    const leaves = state.type === "PAUSED" ? state.pause?.reschedule === true : !holdsLimit(state.type);
    const held = holdsLimit(previousType) || previousType === "PAUSED";
    return state.type === "SCHEDULED" || (held && leaves);
  }
  return (
    event.name === EventName.WorkPoolUpdated ||
    event.name === EventName.WorkQueueUpdated ||
    event.name === EventName.DeploymentUpdated
  );
}

/** A background task run became due (created, retried or rescheduled): task workers may find it. */
function mayFreeTaskWork(event: BatonEvent): boolean {
  return (
    isEvent(event, EventName.TaskRunStateChanged) &&
    event.flowRunId === null &&
    event.payload.state.type === "SCHEDULED"
  );
}

/** A pass that claimed nothing (yet). */
const emptyPass = (): Pass => ({
  claimed: [],
  changes: [],
  claimedDue: [],
  nextDue: null,
  poolDefaults: {},
  poolAllowsCommand: false,
});

async function claimPass(trx: Trx, request: Request): Promise<Pass> {
  const now = new Date();
  const nowIso = now.toISOString();
  const empty = emptyPass();

  // Lock order: pool, then deployments. Touching a row with an UPDATE takes its lock on PostgreSQL
  // (SQLite's BEGIN IMMEDIATE already serializes writers).
  let queues: { id: string; limit: number | null; priority: number }[] = [];
  let poolLimit: number | null = null;
  let poolName: string | null = null;
  let locked: Awaited<ReturnType<typeof lockPool>> = null;
  if (request.workPoolName !== undefined) {
    poolName = request.workPoolName;
    locked = await lockPool(trx, poolName, request.workQueueNames);
    if (!locked) throw notFound("work pool", poolName);
    const { pool } = locked;
    empty.poolDefaults = jobVariableDefaults(fromJson(pool.baseJobTemplate, {}));
    empty.poolAllowsCommand = pool.allowCommandOverride === 1;
  }
  // Read once the pool is locked, so that a first claim of this name still in progress has committed;
  // answered even if the pool or queue was paused since, as its runs were taken before.
  if (request.resent && request.claimId !== undefined) {
    const earlier = await claimedEarlier(trx, request);
    if (earlier.length > 0) return { ...empty, claimed: earlier };
  }
  if (locked) {
    const { pool, queues: rows } = locked;
    if (pool.paused === 1) return empty;
    poolLimit = pool.concurrencyLimit;
    const missing = (request.workQueueNames ?? []).filter((name) => !rows.some((row) => row.name === name));
    if (missing.length > 0) throw notFound("work queue", `${poolName}/${missing[0]}`);
    queues = rows
      .filter((row) => row.paused === 0)
      .map((row) => ({ id: row.id, limit: row.concurrencyLimit, priority: row.priority }));
    if (queues.length === 0) return empty;
  }

  // Candidate runs: due, SCHEDULED, in the caller's queues (by priority) or deployments; for a pool,
  // read with the runs holding its limits (no run can start holding them without its lock, held now).
  const lookIn = scopesOf(request, queues);
  const { due, holding: poolHolding } =
    poolName !== null
      ? await candidatesWithHolding(trx, request, lookIn, nowIso, poolName)
      : { due: await candidates(trx, request, lookIn, nowIso), holding: [] };
  if (due.length === 0) return { ...empty, nextDue: await nextDueTime(trx, request, lookIn, nowIso) };

  // Locked in id order, as every claim locks them.
  const limitedDeployments = [
    ...new Map(
      due.flatMap(({ deploymentId: id, deploymentLimit: limit, collisionStrategy }) =>
        id !== null && limit !== null
          ? [[id, { id, limit, cancelNew: collisionStrategy === "CANCEL_NEW" }] as const]
          : [],
      ),
    ).values(),
  ].sort((a, b) => (a.id < b.id ? -1 : 1));
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

  // The limited deployments' runs held elsewhere (served, or in another pool), counted once locked.
  const scopes: string[] = limitedDeployments.map((row) => row.id);
  let elsewhereQuery = trx
    .selectFrom("flowRuns")
    .select(["workPoolName", "workQueueId", "deploymentId"])
    .where(heldByProcess)
    .where("deploymentId", "in", scopes);
  if (poolName !== null) {
    elsewhereQuery = elsewhereQuery.where((eb) =>
      eb.or([eb("workPoolName", "is", null), eb("workPoolName", "!=", poolName)]),
    );
  }
  const elsewhere = scopes.length === 0 ? [] : await elsewhereQuery.execute();
  const inFlight = [...poolHolding, ...elsewhere];

  const { admitted, cancelled: colliding } = admit(
    due,
    {
      ...(poolName !== null ? { pool: { name: poolName, limit: poolLimit } } : {}),
      queues,
      deployments: limitedDeployments,
    },
    inFlight,
    request.limit,
  );
  const changes: Applied[] = [];
  for (const run of colliding) {
    const limit = limitedDeployments.find((row) => row.id === run.deploymentId)!.limit;
    const state = makeState({
      type: "CANCELLED",
      message: `its deployment had all ${limit} concurrency slot(s) in use when it was due, and cancels new runs then (collision strategy CANCEL_NEW)`,
    });
    const applied = await transitionInTransaction(trx, "flow", run.id, state, { force: false });
    if (applied.changed) changes.push(applied);
  }
  const claimed: FlowRunRow[] = [];
  const claimedDue: string[] = [];
  const lockedRuns = await lockRuns(
    trx,
    "flow",
    admitted.map((run) => run.id),
  );
  for (const run of admitted) {
    const lockedRun = lockedRuns.get(run.id);
    if (!lockedRun) continue; // deleted since it was read
    const claim = await claimLocked(trx, "flow", run.id, lockedRun, claimantOf(request), request.start);
    if (claim.length === 0) continue;
    changes.push(...claim);
    claimed.push(claim.at(-1)!.flowRunRow!);
    claimedDue.push(dueTimeOf(run));
  }
  return { ...empty, claimed, changes, claimedDue };
}

/** The states a claim leaves its runs in: a claim sent again answers its runs while they are so. */
const CLAIMED_STATES: StateType[] = ["PENDING", "RUNNING"];

/** Who a claim is for. */
const claimantOf = (request: { workerName: string; claimId?: string | undefined }): Claimant => ({
  workerName: request.workerName,
  claimId: request.claimId ?? null,
});

/**
 * The runs an earlier claim of the same name took that are still held by its worker, PENDING or
 * RUNNING: its answer was lost, and they are answered again. Read through the indexes of the runs
 * held in the pool or by the deployments.
 */
async function claimedEarlier(trx: Kysely<Database>, request: Request): Promise<FlowRunRow[]> {
  const runs = flowRunRows(trx)
    .where(heldByProcess)
    .where("flowRuns.stateType", "in", CLAIMED_STATES)
    .where("flowRuns.workerName", "=", request.workerName)
    .where("flowRuns.claimId", "=", request.claimId!);
  if (request.workPoolName !== undefined) {
    return runs.where("flowRuns.workPoolName", "=", request.workPoolName).execute();
  }
  const deployments = request.deploymentIds ?? [];
  return deployments.length === 0 ? [] : runs.where("flowRuns.deploymentId", "in", deployments).execute();
}

/** Decides one of a claim's changes on its run (`after`); see claimRun. */
type Decide = (
  proposed: State,
  options: TransitionOptions & { after: LockedRun },
) => Promise<Applied | undefined>;

/**
 * Decides one due run's claim: PENDING for its claimer (a new attempt) and, with `start`, RUNNING: the
 * claimer runs it at once, and RUNNING with the claim saves it a round trip. The PENDING is left
 * unwritten, for the RUNNING's statement to write both. Answers the run's changes in order, none when
 * the rules refused the claim (its state changed since it was read: it is not claimed, and its room is
 * left unused). The last is left unwritten (`unwritten`) when no change came after to write it (a
 * RUNNING the rules refused: the run stays PENDING and its claimer proposes RUNNING itself), and, with
 * `writeLater`, always: its caller writes it. Undefined when `decide` could not leave the PENDING
 * unwritten.
 */
async function claimRun(
  decide: Decide,
  run: LockedRun,
  claimedBy: Claimant,
  start: boolean,
  writeLater: boolean,
): Promise<Applied[] | undefined> {
  const pending = await decide(makeState({ type: "PENDING" }), {
    force: false,
    claimedBy,
    deferWrite: start || writeLater,
    after: run,
  });
  if (!pending) return undefined;
  if (pending.result.status !== "ACCEPT" || !pending.changed) return [];
  if (!start) return [pending];
  // A task run with a valid cached result is COMPLETED by it, and its claimer only reads the result.
  const started = await decide(makeState({ type: "RUNNING" }), {
    force: false,
    after: pending.locked!,
    carry: pending.unwritten,
    deferWrite: writeLater,
  });
  return started?.changed ? [pending, started] : [pending];
}

/** A run's claim decided and written under its lock, in the caller's transaction (see claimRun). */
async function claimLocked(
  trx: Trx,
  kind: "flow" | "task",
  id: string,
  run: LockedRun,
  claimedBy: Claimant,
  start: boolean,
): Promise<Applied[]> {
  const decide: Decide = (proposed, options) => transitionInTransaction(trx, kind, id, proposed, options);
  const changes = (await claimRun(decide, run, claimedBy, start, false))!;
  const last = changes.at(-1);
  if (last?.unwritten) changes[changes.length - 1] = await writeUnwritten(trx, kind, id, last);
  return changes;
}

/** When a claimed run became due: its scheduled time, or its creation when that was later. */
function dueTimeOf(run: { nextScheduledStartTime: string | null; created: string }): string {
  const scheduled = run.nextScheduledStartTime ?? run.created;
  return scheduled > run.created ? scheduled : run.created;
}

/**
 * A serve process's claim pass on PostgreSQL without a transaction or a lock, when none of the runs
 * it would take has a deployment concurrency limit: there is nothing to count, so nothing to decide
 * one claim after another. Its first due runs are read with what the rules need, each claim decided,
 * and all written in one statement, each run only if it is still as read (writeIfUnchanged): two
 * statements where the locked pass sends BEGIN, the candidates, the runs' lock, a write per run and
 * COMMIT. A run another claim or change took in between is left out; a pass that lost every run it
 * decided passes again at once. Undefined when the locked pass is to decide: a candidate's deployment
 * has a limit, the rules' verdict is more than a claim, or more deployments are served than one
 * statement reads.
 */
async function unlockedServePass(
  db: Kysely<Database>,
  request: Request,
  closed: AbortSignal | undefined,
): Promise<Pass | null | undefined> {
  const pass = emptyPass();
  const scopes = scopesOf(request, []);
  if (scopes.length > SCOPES_PER_STATEMENT) return undefined;
  if (request.resent && request.claimId !== undefined) {
    const earlier = await claimedEarlier(db, request);
    if (earlier.length > 0) return { ...pass, claimed: earlier };
  }
  if (scopes.length === 0) return pass;
  const nowIso = new Date().toISOString();
  const due = (await dueToServe(db, request, scopes, nowIso)).rows;
  if (due.some((run) => run.deploymentLimit !== null)) return undefined;
  if (due.length === 0) return { ...pass, nextDue: await nextDueTime(db, request, scopes, nowIso) };

  const claimant = claimantOf(request);
  const decided: { run: (typeof due)[number]; changes: Applied[]; write: UnchangedWrite }[] = [];
  for (const run of admit(due, {}, [], request.limit).admitted) {
    const {
      id,
      nextScheduledStartTime: _due,
      created: _created,
      workQueueId: _queue,
      deploymentLimit: _limit,
      ...columns
    } = run;
    const read = toLockedRun("flow", columns);
    const decide: Decide = (proposed, options) => decideUnwritten(db, "flow", id, proposed, options);
    const changes = await claimRun(decide, read, claimant, request.start, true);
    if (changes === undefined) return undefined;
    const unwritten = changes.at(-1)?.unwritten;
    if (unwritten) decided.push({ run, changes, write: { id, read, ...unwritten } });
  }
  if (decided.length === 0) return pass;
  if (closed?.aborted) return null;
  const outcomes = await writeIfUnchanged(
    db,
    "flow",
    decided.map(({ write }) => write),
  );
  // A statement that failed: the claim fails, and the runs of its other statements, if written, are
  // answered to the claim sent again under its name (claimedEarlier).
  const failed = outcomes.find((outcome) => outcome instanceof Error);
  if (failed) throw failed;
  for (const [at, { run, changes }] of decided.entries()) {
    const row = outcomes[at] as Selectable<FlowRunTable> | undefined;
    if (!row) continue;
    const flowRunRow = { ...row, flowName: run.flowName! };
    changes.at(-1)!.flowRunRow = flowRunRow;
    pass.claimed.push(flowRunRow);
    pass.changes.push(...changes);
    pass.claimedDue.push(dueTimeOf(run));
  }
  if (pass.claimed.length === 0) pass.nextDue = nowIso;
  return pass;
}

/** Background task runs (no flow run) of the claim's task keys. */
const backgroundRunsOf = (trx: Trx, taskKeys: string[]) =>
  trx.selectFrom("taskRuns").where("flowRunId", "is", null).where("taskKey", "in", taskKeys);

/** Background task runs of the claim's task keys that wait for a task worker. */
function scheduledTaskRuns(trx: Trx, taskKeys: string[]) {
  return backgroundRunsOf(trx, taskKeys)
    .where("stateType", "=", "SCHEDULED")
    .where("lastHeartbeat", "is", null); // not awaiting a retry in its own task worker
}

async function taskClaimPass(
  trx: Trx,
  request: z.output<typeof TaskRunClaimRequest>,
): Promise<PassOutcome<Selectable<TaskRunTable>>> {
  if (request.resent && request.claimId !== undefined) {
    const earlier = await backgroundRunsOf(trx, request.taskKeys)
      .selectAll()
      .where("stateType", "in", CLAIMED_STATES)
      .where("workerName", "=", request.workerName)
      .where("claimId", "=", request.claimId)
      .execute();
    if (earlier.length > 0) return { claimed: earlier, changes: [], claimedDue: [], nextDue: null };
  }
  const nowIso = new Date().toISOString();
  const due = await scheduledTaskRuns(trx, request.taskKeys)
    .select(["id", "nextScheduledStartTime", "created"])
    .where("nextScheduledStartTime", "<=", nowIso)
    .orderBy("nextScheduledStartTime")
    .orderBy("id")
    .limit(request.limit)
    .execute();
  if (due.length === 0) {
    const next = await scheduledTaskRuns(trx, request.taskKeys)
      .select("nextScheduledStartTime")
      .where("nextScheduledStartTime", ">", nowIso)
      .orderBy("nextScheduledStartTime")
      .limit(1)
      .executeTakeFirst();
    return { claimed: [], changes: [], claimedDue: [], nextDue: next?.nextScheduledStartTime ?? null };
  }
  const changes: Applied[] = [];
  const claimed: Selectable<TaskRunTable>[] = [];
  const claimedDue: string[] = [];
  const locked = await lockRuns(
    trx,
    "task",
    due.map((run) => run.id),
  );
  for (const run of due) {
    const lockedRun = locked.get(run.id);
    if (!lockedRun) continue; // deleted since it was read
    const claim = await claimLocked(trx, "task", run.id, lockedRun, claimantOf(request), true);
    if (claim.length === 0) continue;
    changes.push(...claim);
    claimed.push(claim.at(-1)!.taskRunRow!);
    claimedDue.push(dueTimeOf(run));
  }
  return { claimed, changes, claimedDue, nextDue: null };
}

/** At most this many candidates are read per pass; limits may skip some of them. */
const CANDIDATES_PER_PASS = 200;

/**
 * Scopes read by one statement, a UNION ALL of a part each: SQLite refuses more than 500 parts, and a
 * serve process may name up to 1,000 deployments. More are read by several statements and merged.
 */
const SCOPES_PER_STATEMENT = 100;

/** Where a claim looks for due runs: a pool's queue (with its priority) or a served deployment. */
interface Scope {
  id: string;
  priority: number;
}

const scopesOf = (request: Request, queues: readonly Scope[]): Scope[] =>
  request.workPoolName !== undefined
    ? [...queues]
    : (request.deploymentIds ?? []).map((id) => ({ id, priority: 0 }));

/** A scope's runs waiting to be claimed, in the order its index keeps them (due time, then id). */
function scheduledIn(trx: Kysely<Database>, request: Pick<Request, "workPoolName">, scope: Scope) {
  const query = trx
    .selectFrom("flowRuns")
    .select([
      "flowRuns.id",
      "flowRuns.workPoolName",
      "flowRuns.workQueueId",
      "flowRuns.deploymentId",
      "flowRuns.nextScheduledStartTime",
      "flowRuns.created",
      // Typed, or PostgreSQL would order the bound number as text ("10" before "5").
      sql<number>`cast(${scope.priority} as integer)`.as("priority"),
    ])
    .where("flowRuns.stateType", "=", "SCHEDULED")
    .where("flowRuns.lastHeartbeat", "is", null) // not awaiting a retry in its own process
    .orderBy("flowRuns.nextScheduledStartTime")
    .orderBy("flowRuns.id");
  return request.workPoolName !== undefined
    ? query.where("flowRuns.workQueueId", "=", scope.id)
    : query.where("flowRuns.deploymentId", "=", scope.id).where("flowRuns.workPoolName", "is", null);
}

/**
 * The first `count` runs of each scope (`part` narrows them), as one UNION ALL: each part is wrapped,
 * so that its ORDER BY and LIMIT stay its own (both databases).
 */
function firstOfEach(
  trx: Kysely<Database>,
  request: Pick<Request, "workPoolName">,
  scopes: readonly Scope[],
  count: number,
  part: (runs: ReturnType<typeof scheduledIn>) => ReturnType<typeof scheduledIn>,
) {
  const [first, ...rest] = scopes.map((scope, index) =>
    trx
      .selectFrom(
        part(scheduledIn(trx, request, scope))
          .limit(count)
          .as(`scope${index}`),
      )
      .selectAll(),
  );
  return rest.reduce((all, next) => all.unionAll(next), first!);
}

/**
 * Due runs, higher-priority queues first and, within a queue, the earliest due first, with their
 * deployment's concurrency limit and collision strategy. Each queue (or served deployment) gives its
 * earliest due runs by its own index, in order, and only those are merged and joined: the work of a
 * pass does not grow with the runs waiting (sorting them all took 24 ms with 3,000 queued).
 */
function candidatesQuery(trx: Trx, request: Request, scopes: readonly Scope[], nowIso: string) {
  const union = firstOfEach(trx, request, scopes, CANDIDATES_PER_PASS, (runs) =>
    runs.where("flowRuns.nextScheduledStartTime", "<=", nowIso),
  );
  return trx
    .selectFrom(union.as("due"))
    .leftJoin("deployments", "deployments.id", "due.deploymentId")
    .select([
      "due.id",
      "due.workPoolName",
      "due.workQueueId",
      "due.deploymentId",
      "due.nextScheduledStartTime",
      "due.created",
      "deployments.concurrencyLimit as deploymentLimit",
      "deployments.collisionStrategy",
      "due.priority",
    ])
    .orderBy("due.priority")
    .orderBy("due.nextScheduledStartTime")
    .orderBy("due.id")
    .limit(CANDIDATES_PER_PASS);
}

/** Due candidates of any number of scopes, in claim order: a statement per SCOPES_PER_STATEMENT. */
async function candidates(trx: Trx, request: Request, scopes: readonly Scope[], nowIso: string) {
  const groups = chunked(scopes, SCOPES_PER_STATEMENT);
  const rows = [];
  for (const group of groups) rows.push(...(await candidatesQuery(trx, request, group, nowIso).execute()));
  if (groups.length <= 1) return rows;
  // Merged as one statement orders them (ISO times and ids compare as text).
  const text = (a: string | null, b: string | null) =>
    (a ?? "") < (b ?? "") ? -1 : (a ?? "") > (b ?? "") ? 1 : 0;
  return rows
    .sort(
      (a, b) =>
        a.priority - b.priority ||
        text(a.nextScheduledStartTime, b.nextScheduledStartTime) ||
        text(a.id, b.id),
    )
    .slice(0, CANDIDATES_PER_PASS);
}

/**
 * A serve process's first due runs, at most its claim's limit, in claim order (the earliest due
 * first), with what the rules need (lockedFlowRunColumns) and their deployment's concurrency limit:
 * what unlockedServePass decides on.
 */
/**
 * A serve process's due runs (dueToClaim), its statement compiled once per number of deployments: built
 * anew, Kysely's work on it cost more of the server's CPU than the statement's round trip.
 */
function dueToServe(db: Kysely<Database>, { limit }: Request, scopes: readonly Scope[], nowIso: string) {
  let due = servedDue.get(scopes.length);
  if (!due) servedDue.set(scopes.length, (due = servedDueStatement()));
  return due(db, nowIso, limit, ...scopes.map(({ id }) => id));
}
const servedDueStatement = () =>
  compiledOnce((db, nowIso: string, limit: number, ...ids: string[]) =>
    dueToClaim(
      db,
      { limit },
      ids.map((id) => ({ id, priority: 0 })),
      nowIso,
    ),
  );
const servedDue = new Map<number, ReturnType<typeof servedDueStatement>>();

function dueToClaim(
  db: Kysely<Database>,
  request: Pick<Request, "workPoolName" | "limit">,
  scopes: readonly Scope[],
  nowIso: string,
) {
  const first = db
    .selectFrom(
      firstOfEach(db, request, scopes, request.limit, (runs) =>
        runs.where("flowRuns.nextScheduledStartTime", "<=", nowIso),
      ).as("due"),
    )
    .select("due.id")
    .orderBy("due.nextScheduledStartTime")
    .orderBy("due.id")
    .limit(request.limit);
  return db
    .selectFrom("flowRuns")
    .select((eb) => [
      "flowRuns.id",
      "flowRuns.nextScheduledStartTime",
      "flowRuns.created",
      "flowRuns.workQueueId",
      eb
        .selectFrom("deployments")
        .select("deployments.concurrencyLimit")
        .whereRef("deployments.id", "=", "flowRuns.deploymentId")
        .as("deploymentLimit"),
      ...lockedFlowRunColumns(eb),
    ])
    .where("flowRuns.id", "in", first)
    .orderBy("flowRuns.nextScheduledStartTime")
    .orderBy("flowRuns.id");
}

/**
 * Locks a work pool (an UPDATE takes its row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE holds the
 * whole database already) and reads it with its queues (those named, or all), by priority. On
 * PostgreSQL one statement: the update is a data-modifying WITH query of the queues' read.
 */
async function lockPool(trx: Trx, poolName: string, queueNames: readonly string[] | undefined) {
  const lock = (db: QueryCreator<Database>) =>
    db
      .updateTable("workPools")
      .set((eb) => ({ updated: eb.ref("updated") }))
      .where("name", "=", poolName)
      .returningAll();
  const queuesOf = (poolId: string) => {
    let query = trx
      .selectFrom("workQueues")
      .select(["id", "name", "concurrencyLimit", "paused", "priority"])
      .where("workPoolId", "=", poolId);
    if (queueNames?.length) query = query.where("name", "in", queueNames);
    return query.orderBy("priority").orderBy("name");
  };
  if (!speaksPostgres(trx)) {
    const pool = await lock(trx).executeTakeFirst();
    return pool ? { pool, queues: await queuesOf(pool.id).execute() } : null;
  }
  const rows = await trx
    .with("lockedPool", lock)
    .selectFrom("lockedPool")
    .leftJoin("workQueues", (join) => {
      const ofPool = join.onRef("workQueues.workPoolId", "=", "lockedPool.id");
      return queueNames?.length ? ofPool.on("workQueues.name", "in", queueNames) : ofPool;
    })
    .selectAll("lockedPool")
    .select([
      "workQueues.id as queueId",
      "workQueues.name as queueName",
      "workQueues.concurrencyLimit as queueLimit",
      "workQueues.paused as queuePaused",
      "workQueues.priority as queuePriority",
    ])
    .orderBy("workQueues.priority")
    .orderBy("workQueues.name")
    .execute();
  const first = rows[0];
  if (!first) return null;
  const {
    queueId: _id,
    queueName: _name,
    queueLimit: _limit,
    queuePaused: _paused,
    queuePriority: _priority,
    ...pool
  } = first;
  const queues = rows.flatMap((row) =>
    row.queueId === null
      ? []
      : [
          {
            id: row.queueId,
            name: row.queueName!,
            concurrencyLimit: row.queueLimit,
            paused: row.queuePaused!,
            priority: row.queuePriority!,
          },
        ],
  );
  return { pool, queues };
}

/** The runs holding a pool's limits, in a candidate's columns (its deployment's and priority unused). */
const heldInPool = (trx: Trx, poolName: string) =>
  trx
    .selectFrom("flowRuns")
    .select([
      "id",
      "workPoolName",
      "workQueueId",
      "deploymentId",
      "nextScheduledStartTime",
      "created",
      sql<number | null>`null`.as("deploymentLimit"),
      sql<string | null>`null`.as("collisionStrategy"),
      sql<number>`0`.as("priority"),
    ])
    .where(heldByProcess)
    .where("workPoolName", "=", poolName);

/**
 * A pool's due candidates (as `candidates` orders them) and the runs holding its limits, in one
 * statement: the critical section under the pool's lock is a round trip shorter. (A pool of more
 * queues than a statement reads takes a statement per group of them and one for the holding runs.)
 */
async function candidatesWithHolding(
  trx: Trx,
  request: Request,
  scopes: readonly Scope[],
  nowIso: string,
  poolName: string,
) {
  if (scopes.length > SCOPES_PER_STATEMENT) {
    return {
      due: await candidates(trx, request, scopes, nowIso),
      holding: await heldInPool(trx, poolName).execute(),
    };
  }
  const rows = await trx
    .selectFrom(
      candidatesQuery(trx, request, scopes, nowIso)
        .select(sql<number>`0`.as("holding"))
        .as("due"),
    )
    .selectAll()
    .unionAll(heldInPool(trx, poolName).select(sql<number>`1`.as("holding")))
    .execute();
  // UNION ALL keeps each part's rows in their order: the candidates come first, as ordered.
  return {
    due: rows.filter((row) => Number(row.holding) === 0),
    holding: rows.filter((row) => Number(row.holding) === 1),
  };
}

/** When the earliest run of the scopes that is not due yet becomes due. */
async function nextDueTime(
  trx: Kysely<Database>,
  request: Request,
  scopes: readonly Scope[],
  nowIso: string,
): Promise<string | null> {
  let earliest: string | null = null;
  for (const group of chunked(scopes, SCOPES_PER_STATEMENT)) {
    const next = firstOfEach(trx, request, group, 1, (runs) =>
      runs.where("flowRuns.nextScheduledStartTime", ">", nowIso),
    ).as("next");
    const row = await trx
      .selectFrom(next)
      .select((eb) => eb.fn.min("next.nextScheduledStartTime").as("due"))
      .executeTakeFirst();
    const due = row?.due ?? null;
    if (due !== null && (earliest === null || due < earliest)) earliest = due;
  }
  return earliest;
}

async function describeClaimed(
  ctx: StoreContext,
  pass: Pass,
  withDeployments: boolean,
): Promise<ClaimedRun[]> {
  const runs = pass.claimed.map(toFlowRun);
  // A deployment deleted since is left out.
  const deployments = withDeployments
    ? await readDeployments(ctx, [
        ...new Set(runs.flatMap((run) => (run.deploymentId ? [run.deploymentId] : []))),
      ])
    : [];
  return runs.map((flowRun) => ({
    flowRun,
    deployment: deployments.find((deployment) => deployment.id === flowRun.deploymentId) ?? null,
    jobVariables: jobVariablesForRun(
      pass.poolDefaults,
      flowRun.jobVariables,
      flowRun.workPoolName !== null && pass.poolAllowsCommand,
    ),
  }));
}
