import {
  BatonError,
  EventName,
  type ErrorCode,
  isTerminal,
  makeState,
  notFound,
  orchestrate,
  newId,
  POLICY,
  retryFailures,
  type SetStateResult,
  type State,
  type EventRelated,
  type StoredEvent,
  type TagLimitUsage,
  type TransitionContext,
  TERMINAL_STATE_TYPES,
} from "@baton/core";
import {
  CamelCasePlugin,
  sql,
  type ExpressionBuilder,
  type Insertable,
  type Kysely,
  type QueryCreator,
  type RawBuilder,
  isExpression,
  type Selectable,
  type SelectQueryBuilder,
  type Transaction,
  type Updateable,
  type UpdateQueryBuilder,
  type UpdateResult,
} from "kysely";
import { compiledOnce } from "../db/compiled-once.js";
import { speaksPostgres } from "../db/database.js";
import type {
  ConcurrencySlotTable,
  Database,
  EventTable,
  FlowRunTable,
  FlowRunTagTable,
  StateTable,
  TaskRunTable,
} from "../db/schema.js";
import { chunked, fromJson, toJson, type StoreContext } from "./context.js";
import { eventRow, recordEvents, storedEvent } from "./events.js";
import { compileSchema } from "./parameters.js";
import { runsAsWrittenBy } from "./runs-as-written.js";

type Kind = "flow" | "task";
type Trx = Transaction<Database>;

export interface TransitionOptions {
  force: boolean;
  /** The run was created in this transaction: it has no state yet. */
  initial?: boolean;
  /**
   * The caller decides whether the run is retried (the crashed-runs service): a FAILED or CRASHED
   * proposal is applied as it is instead of becoming AwaitingRetry.
   */
  noAutomaticRetry?: boolean;
  /** A finished flow run scheduled again is a retry, not a rerun: it keeps its run count. */
  keepRunCount?: boolean;
  /** The attempt the proposing process carries (see the fence-stale-attempts rule). */
  attempt?: number | undefined;
  /**
   * The worker or serve process claiming the run, and the claim's name if it gave one: it holds the
   * run from now on, as a new attempt (whatever an earlier attempt still proposes is refused).
   */
  claimedBy?: Claimant;
  /**
   * The server made the proposed state for this call (no time from the client): a task run's start
   * takes the time its tag slots were granted, after any wait for their locks, so that it never
   * precedes the end of the run that gave its slot back.
   */
  stampWhenDecided?: boolean;
  /**
   * The run as an earlier transition of this transaction left it (its `locked`): its row is locked
   * already, so it is not locked and read again (a claim's PENDING then RUNNING, a create and start).
   */
  after?: LockedRun;
  /**
   * A PENDING that a RUNNING follows in this transaction (a claim that starts its run, a task run
   * created and started) is left unwritten, and written with that RUNNING in one statement (`carry`).
   * A flow run's RUNNING is left unwritten too: a claim made without locks writes its runs' changes
   * together (`writeIfUnchanged`).
   */
  deferWrite?: boolean;
  /** A change of this transaction left unwritten (`deferWrite`): written with this one. */
  carry?: Unwritten | undefined;
  /** The first state of a run not inserted yet: its row goes in with the change (`insertRun`). */
  insert?: NewFlowRun | NewTaskRun;
}

/** A flow run to insert with its first state: its row's columns but the state's, and its tags' rows. */
export interface NewFlowRun {
  row: Insertable<FlowRunTable>;
  tags: Insertable<FlowRunTagTable>[];
}

/**
 * A task run to insert with its first state: its row's columns but the state's, inserted only if its
 * flow run still has the state and attempt the rules read (`expected`; null for a background task run).
 */
export interface NewTaskRun {
  row: Insertable<TaskRunTable>;
  expected: { flowRunId: string; state: string | null; attempt: number | null } | null;
}

/** A decided change not written yet: its state history row, its event and the run's columns. */
export interface Unwritten {
  stateRows: Insertable<StateTable>[];
  events: Insertable<EventTable>[];
  /** The run's columns as the change sets them (some are SQL: a claim's attempt + 1). */
  columns: object;
  /**
   * A flow run's end decided without its lock: written only while none of its task runs is open
   * still (hasOpenTaskRuns), and the run is not locked.
   */
  ends?: boolean;
  /** A task run's change away from RUNNING: the slots its tags hold are given back with it. */
  releasesSlots?: boolean;
}

/** What a change writes besides its run's row: history rows, events and, for a start, tag slots. */
type Written = Pick<Unwritten, "stateRows" | "events"> & { slots?: Insertable<ConcurrencySlotTable>[] };

/** Who claims a run: a worker, serve process or task worker, and the claim's name if it gave one. */
export interface Claimant {
  workerName: string;
  claimId: string | null;
}

/** A claim's new attempt: the one column a change sets to SQL rather than a value. */
const NEXT_ATTEMPT = sql<number>`attempt + 1`;

/** A claimed run's holder and its new attempt. */
const claimColumns = (claimant: Claimant) => ({
  workerName: claimant.workerName,
  claimId: claimant.claimId,
  attempt: NEXT_ATTEMPT,
});

const POLICY_WITHOUT_RETRIES = POLICY.filter((rule) => rule !== retryFailures);

export interface Applied {
  result: SetStateResult;
  changed: {
    runId: string;
    flowRunId: string | null;
    state: State;
    previous: State | null;
    /** The stored `*-run.state-changed` event, to publish once the transaction commits. */
    event: StoredEvent;
  } | null;
  /** Changes made along with this one (the task runs a flow run ended with). */
  alsoChanged?: Applied[];
  /** The run's row as the change left it: what a claim or a creation answers with, read for free. */
  flowRunRow?: FlowRunRow;
  taskRunRow?: Selectable<TaskRunTable>;
  /**
   * The run as this change left it (locked still, in a transaction): what a next change in the
   * transaction starts from, and what the server keeps of it (RunsAsWritten).
   */
  locked?: LockedRun;
  /** The change itself when it was left unwritten (`deferWrite`), for the next one to write. */
  unwritten?: Unwritten;
}

export type FlowRunRow = Selectable<FlowRunTable> & { flowName: string };

/**
 * Reads the run's state and everything the rules need, decides, and applies the verdict, all inside
 * the caller's transaction. The run's row is locked first (an UPDATE takes the row lock on PostgreSQL
 * and the write lock on SQLite), so two racing proposals are decided one after the other.
 */
export async function transitionInTransaction(
  trx: Trx,
  kind: Kind,
  id: string,
  proposed: State,
  options: TransitionOptions,
): Promise<Applied> {
  const run = options.after ?? (await lockRun(trx, kind, id));
  // Only a change written unlocked is ever left undecided.
  return (await transition(trx, kind, id, run, proposed, options, false))!;
}

/**
 * Decides a proposal on a run already read (`after`) and leaves the change unwritten, for a caller
 * that writes it itself: a claim without locks writes its runs' changes together, each only if its run
 * is still as read (writeIfUnchanged). Undefined when the verdict is a change that cannot be written
 * so: the caller decides it under the lock.
 */
export async function decideUnwritten(
  db: Kysely<Database>,
  kind: Kind,
  id: string,
  proposed: State,
  options: TransitionOptions & { after: LockedRun },
): Promise<Applied | undefined> {
  return transition(db, kind, id, options.after, proposed, { ...options, deferWrite: true }, true);
}

/**
 * On PostgreSQL most changes need neither a transaction nor their run's lock: the runs are read in one
 * statement, the rules decide each proposal, and the changes are written in one statement, each only
 * if its run is still as it was read (see `writeIfUnchanged`): two round trips, where BEGIN, the lock,
 * a write per run and COMMIT are four or more. Answers each proposal's change (or its verdict, when it
 * changes nothing), or the error of a run that does not exist; undefined for a proposal whose run
 * changed in between, or whose change writes more than the run's row, its state, its event and the
 * release of its tag slots (a flow run's end with task runs open, a rerun, a task run's start under
 * tags): the caller then decides it under the lock. The proposals are to distinct runs.
 */
async function transitionUnlocked(
  ctx: StoreContext,
  kind: Kind,
  proposals: { id: string; state: State; options: TransitionOptions }[],
): Promise<(Applied | BatonError | undefined)[]> {
  const db = ctx.db.kysely;
  const ids = proposals.map(({ id }) => id);
  // A run this server wrote last is not read again. A flow run's end so decided is written only if
  // none of its task runs is open (the write's conditions): as if read with none open.
  const kept = runsAsWrittenBy(ctx.events);
  const runs = new Map<string, LockedRun>();
  for (const id of ids) {
    const run = kept.take({ kind: `${kind}-run`, id });
    if (run) runs.set(id, kind === "flow" ? { ...run, openTaskRuns: false } : run);
  }
  const fromMemory = new Set(runs.keys());
  await readRunsInto(
    db,
    kind,
    runs,
    proposals.filter(({ id }) => !runs.has(id)),
  );
  const decided: (Applied | BatonError | undefined)[] = [];
  for (const { id, state, options } of proposals)
    decided.push(await decideUnlocked(db, kind, runs, id, state, options));
  // A verdict that changes nothing writes nothing, so no write's conditions tell whether the run it
  // was decided on is still the run: one decided on a kept run is decided again on the run as read.
  const unchecked = proposals.flatMap((proposal, at) => {
    const applied = decided[at];
    const unwritten = applied !== undefined && !(applied instanceof BatonError) && !applied.unwritten;
    return fromMemory.has(proposal.id) && unwritten ? [{ ...proposal, at }] : [];
  });
  if (unchecked.length > 0) {
    for (const { id } of unchecked) runs.delete(id);
    await readRunsInto(db, kind, runs, unchecked);
    for (const { id, state, options, at } of unchecked) {
      decided[at] = await decideUnlocked(db, kind, runs, id, state, options);
    }
  }
  const writes: UnchangedWrite[] = decided.flatMap((applied, at) =>
    applied && !(applied instanceof BatonError) && applied.unwritten
      ? [{ id: ids[at]!, read: runs.get(ids[at]!)!, ...applied.unwritten }]
      : [],
  );
  const outcomes = writes.length > 0 ? await writeIfUnchanged(db, kind, writes) : [];
  const written = new Map(writes.map(({ id }, at) => [id, outcomes[at]]));
  return decided.map((applied, index) => {
    if (!applied || applied instanceof BatonError || !applied.unwritten) return applied;
    const { unwritten: _, ...change } = applied;
    const row = written.get(ids[index]!);
    // The connection lost: the change may be saved. Answered as a call of its own would be.
    if (row instanceof BatonError && row.code === "unavailable") return row;
    // The run changed in between, or was locked, or the statement failed: decided under the lock.
    if (!row || row instanceof Error) return undefined;
    const run = runs.get(ids[index]!)!;
    if (kind === "task") {
      const taskRunRow = row as Selectable<TaskRunTable>;
      return { ...change, taskRunRow, locked: asWritten(run, { taskRunRow }) };
    }
    const flowRunRow = { ...(row as Selectable<FlowRunTable>), flowName: run.related!.flowName! };
    return { ...change, flowRunRow, locked: asWritten(run, { flowRunRow }) };
  });
}

/** Reads the runs of `proposals` into `runs`, with what the rules need (see transitionUnlocked). */
async function readRunsInto(
  db: Kysely<Database>,
  kind: Kind,
  runs: Map<string, LockedRun>,
  proposals: { id: string; state: State }[],
): Promise<void> {
  if (proposals.length === 0) return;
  // The task-run scan only for a proposal that may end its flow run.
  const toEnd = kind === "flow" && proposals.some(({ state }) => mayEnd(state));
  const read = kind === "task" ? "task" : toEnd ? "flowToEnd" : "flow";
  const ids = proposals.map(({ id }) => id);
  const { rows } = ids.length === 1 ? await readRun[read](db, ids[0]!) : await readRuns[read](db, ids);
  for (const { id, ...row } of rows as (LockedRow & { id: string })[]) runs.set(id, toLockedRun(kind, row));
}

/** One proposal of transitionUnlocked decided on its run in `runs`, its change left unwritten. */
async function decideUnlocked(
  db: Kysely<Database>,
  kind: Kind,
  runs: Map<string, LockedRun>,
  id: string,
  state: State,
  options: TransitionOptions,
): Promise<Applied | BatonError | undefined> {
  const run = runs.get(id);
  if (!run) return notFound(kind === "flow" ? "flow run" : "task run", id);
  // A task run's tag slots are counted and taken under their limits' locks (given back without).
  if (kind === "task" && state.type === "RUNNING" && fromJson<string[]>(run.tags, []).length > 0)
    return undefined;
  return transition(db, kind, id, run, state, options, true);
}

/**
 * Decides the proposal for the run as read and writes the change: in the caller's transaction `trx`,
 * under the run's lock, or `unlocked` on the database (see transitionUnlocked).
 */
async function transition(
  trx: Kysely<Database>,
  kind: Kind,
  id: string,
  run: LockedRun,
  proposed: State,
  options: TransitionOptions,
  unlocked: boolean,
): Promise<Applied | undefined> {
  const initial = fromJson<State | null>(run.state, null);
  const now = new Date();
  const ctx: TransitionContext = {
    runKind: kind,
    initial,
    proposed,
    now,
    runCount: run.runCount,
    retries: run.retries,
    retryDelaySeconds: fromJson(run.retryDelaySeconds, []),
    // Waiting tasks ask again this often; a pushed "slot free" signal would be better still.
    concurrencyRetryDelaySeconds: 0.2,
    // Only a crash asks (see the retry rule). A background task run is claimed by task workers.
    claimable: kind === "flow" ? run.deploymentId !== null : run.flowRunId === null,
  };
  if (options.attempt !== undefined) {
    ctx.proposedAttempt = options.attempt;
    ctx.attempt = run.attempt ?? undefined;
  }
  const tags = fromJson<string[]>(run.tags, []);
  if (kind === "task") {
    if (run.flowRunId) ctx.flowRunState = fromJson<State | null>(run.flowRunState, null);
    if (proposed.type === "RUNNING") {
      ctx.tagLimits = await tagLimitUsage(trx, id, tags);
      if (options.stampWhenDecided && ctx.tagLimits.length > 0) {
        ctx.proposed = { ...proposed, timestamp: new Date().toISOString() };
      }
      const cacheKey = proposed.cacheKey ?? run.cacheKey;
      if (cacheKey) ctx.cachedState = await findCachedState(trx, cacheKey, now, id);
    }
  }

  const verdict = orchestrate(ctx, {
    force: options.force,
    ...(options.noAutomaticRetry ? { policy: POLICY_WITHOUT_RETRIES } : {}),
  });
  const base = { status: verdict.status, reason: verdict.reason };
  if (verdict.status === "WAIT")
    return { result: { ...base, state: initial, delaySeconds: verdict.delaySeconds }, changed: null };
  if (verdict.status === "ABORT" || verdict.state === null || verdict.state === initial) {
    return { result: { ...base, state: initial }, changed: null };
  }

  const state = verdict.state;
  /** Task runs ended with their flow run: changes to publish with it. */
  const changedTasks: Applied[] = [];
  // A run resumed from a pause in its process goes on in the same attempt: not a new run of it.
  const enteringRunning =
    state.type === "RUNNING" && initial?.type !== "RUNNING" && initial?.type !== "PAUSED";
  // A finished flow run scheduled again is a rerun: it starts over with all its retries (unless the
  // caller retries it, keepRunCount).
  const scheduledAgain = isTerminal(initial?.type) && state.type === "SCHEDULED";
  // A rerun starts over from nothing: the answers its pauses were given and its resumes are the last
  // run's, and reused they would let it skip its pauses (an approval) and its tasks.
  const rerun = kind === "flow" && scheduledAgain && !options.keepRunCount;
  const flowRunId = kind === "flow" ? id : run.flowRunId;
  const event = storedEvent(
    {
      name: kind === "flow" ? EventName.FlowRunStateChanged : EventName.TaskRunStateChanged,
      resource: { kind: `${kind}-run`, id },
      flowRunId,
      payload: { state, previousType: initial?.type ?? null },
      ...(kind === "task" ? { related: { tags } } : {}),
    },
    run.related,
  );
  const stateRow: Insertable<StateTable> = {
    id: newId(),
    flowRunId: kind === "flow" ? id : null,
    taskRunId: kind === "task" ? id : null,
    type: state.type,
    name: state.name,
    timestamp: state.timestamp,
    state: toJson(state),
  };
  const common = {
    state: toJson(state),
    stateType: state.type,
    stateName: state.name,
    updated: now.toISOString(),
    ...(enteringRunning ? { runCount: run.runCount + 1, startTime: run.startTime ?? state.timestamp } : {}),
    ...(isTerminal(state.type) ? { endTime: state.timestamp } : {}),
    ...(scheduledAgain ? { runCount: options.keepRunCount ? run.runCount : 0, endTime: null } : {}),
  };
  // A flow run, and a background task run (no flow run), are held and claimed alike.
  const held = kind === "flow" || run.flowRunId === null;
  const holding = held
    ? {
        nextScheduledStartTime: state.type === "SCHEDULED" ? (state.scheduledTime ?? state.timestamp) : null,
        ...holderColumns(proposed, state, now),
        ...(options.claimedBy !== undefined ? claimColumns(options.claimedBy) : {}),
      }
    : {};
  const written: Written = {
    stateRows: [...(options.carry?.stateRows ?? []), stateRow],
    events: [...(options.carry?.events ?? []), eventRow(event)],
  };
  // A task run's change other than its start gives back the slots of its tags' limits. Slots are taken
  // only for a run's own tags: a run without tags holds none, nor a new run.
  const releasesSlots =
    kind === "task" && state.type !== "RUNNING" && tags.length > 0 && !options.initial && !options.insert;

  // A PENDING, or a flow run's RUNNING, writes nothing but the run's row, its history row and event.
  if (options.deferWrite && (state.type === "PENDING" || (kind === "flow" && state.type === "RUNNING"))) {
    if (releasesSlots) await releaseSlotsOfTaskRun(trx, id);
    const unwritten: Unwritten = {
      ...written,
      columns: { ...options.carry?.columns, ...common, ...holding },
    };
    const attempt = options.claimedBy !== undefined && held ? (run.attempt ?? 0) + 1 : run.attempt;
    const { runCount = run.runCount, startTime = run.startTime } = common;
    return {
      result: { ...base, state },
      changed: { runId: id, flowRunId, state, previous: initial, event },
      locked: { ...run, state: toJson(state), attempt, runCount, startTime },
      unwritten,
    };
  }

  // A suspended run's process has ended too (or is told to stop, when suspended from outside). A run
  // being inserted has no task runs yet.
  const ending = kind === "flow" && !options.insert && mayEnd(state) ? endOfTaskRuns(state) : null;
  const flowColumns = {
    ...options.carry?.columns,
    ...common,
    ...holding,
    ...(state.type === "SCHEDULED" && options.initial
      ? { expectedStartTime: state.scheduledTime ?? state.timestamp }
      : {}),
    ...(rerun ? { resumeCount: 0 } : {}),
  };
  const cached = state.type === "COMPLETED" && (state.cacheKey ?? run.cacheKey);
  const taskColumns = {
    ...options.carry?.columns,
    ...common,
    ...holding,
    // The expiration the run was created with stands, unless the state brings one (a Cached
    // state keeps its source's).
    ...(cached ? { cacheKey: state.cacheKey ?? run.cacheKey ?? null } : {}),
    ...(cached && state.cacheExpiration !== undefined ? { cacheExpiration: state.cacheExpiration } : {}),
  };
  if (unlocked) {
    // Written with the lock: more than the run's row (a rerun, an end with task runs to end), or
    // columns that are SQL (a claim's other than its PENDING and RUNNING).
    if ((ending && run.openTaskRuns !== false) || rerun || options.carry || options.claimedBy)
      return undefined;
    // A run's tag slots are taken under their limits' locks (tagLimitUsage).
    if (kind === "task" && tags.length > 0 && state.type === "RUNNING") return undefined;
    // Written by the caller, with others (writeIfUnchanged).
    return {
      result: { ...base, state },
      changed: { runId: id, flowRunId, state, previous: initial, event },
      unwritten: {
        columns: kind === "flow" ? flowColumns : taskColumns,
        stateRows: [stateRow],
        events: [eventRow(event)],
        ends: ending !== null,
        releasesSlots,
      },
    };
  }
  let flowRunRow: FlowRunRow | undefined;
  let taskRunRow: Selectable<TaskRunTable> | undefined;
  // A task run's start takes the slots of its tags' limits it does not hold yet, with its write.
  if (kind === "task" && state.type === "RUNNING") written.slots = slotsToTake(id, ctx.tagLimits ?? [], now);
  const stored = options.insert
    ? await insertRun(trx, options.insert, kind === "flow" ? flowColumns : taskColumns, written)
    : await writeLocked(trx, kind, id, kind === "flow" ? flowColumns : taskColumns, written, ending);
  // A task run whose flow run changed since it was read: decided again in a transaction.
  if (!stored) return undefined;
  if (kind === "flow") {
    if (rerun) await trx.deleteFrom("flowRunInputs").where("flowRunId", "=", id).execute();
    const { endedTaskRuns, ...flowRun } = stored as Selectable<FlowRunTable> & { endedTaskRuns?: string };
    flowRunRow = { ...flowRun, flowName: run.related!.flowName! };
    if (ending) {
      // On PostgreSQL the slots' release and the task runs' end went with the run's update.
      let ended: EndedTaskRun[];
      if (endedTaskRuns !== undefined) {
        ended = JSON.parse(endedTaskRuns) as EndedTaskRun[];
        // A task run's start may have committed its slot while the end waited for that run's row: the
        // statement's release, reading the slots as they were when it began, missed it. Released again,
        // as they are now (only when the end ended task runs: a start that took a slot is one of them).
        if (ended.length > 0) await releaseSlotsOf(trx, id).execute();
      } else {
        await releaseSlotsOf(trx, id).execute();
        ended = await endTaskRunsOf(trx, id, ending.columns).execute();
      }
      changedTasks.push(...(await recordEndedTaskRuns(trx, id, ending.state, ended)));
    }
  } else {
    taskRunRow = stored as Selectable<TaskRunTable>;
    if (releasesSlots) await releaseSlotsOfTaskRun(trx, id);
  }
  return {
    result: { ...base, state },
    changed: { runId: id, flowRunId, state, previous: initial, event },
    ...(changedTasks.length > 0 ? { alsoChanged: changedTasks } : {}),
    ...(flowRunRow ? { flowRunRow } : {}),
    ...(taskRunRow ? { taskRunRow } : {}),
    locked: asWritten(run, flowRunRow ? { flowRunRow } : { taskRunRow: taskRunRow! }),
  };
}

/** The run as read (`run`), as the row its change wrote left it. */
function asWritten(
  run: LockedRun,
  written: { flowRunRow: Selectable<FlowRunTable> } | { taskRunRow: Selectable<TaskRunTable> },
): LockedRun {
  const row = "flowRunRow" in written ? written.flowRunRow : written.taskRunRow;
  return {
    ...run,
    state: row.state,
    runCount: row.runCount,
    retries: row.retries,
    retryDelaySeconds: row.retryDelaySeconds,
    tags: row.tags,
    startTime: row.startTime,
    ...("flowRunRow" in written
      ? { attempt: written.flowRunRow.attempt }
      : {
          cacheKey: written.taskRunRow.cacheKey,
          // A task run's attempt is its flow run's; a background task run's is its own (its claim's).
          ...(run.flowRunId === null ? { attempt: written.taskRunRow.attempt } : {}),
        }),
  };
}

/**
 * Writes a change left unwritten (`deferWrite`) when no change came after it to carry it: a RUNNING
 * the rules refused, say.
 */
export async function writeUnwritten(
  trx: Trx,
  kind: Kind,
  id: string,
  applied: Applied,
  /** The run's row, when it is not inserted yet (insertWithFirstState). */
  insert?: NewTaskRun,
): Promise<Applied> {
  const { unwritten, ...rest } = applied;
  if (!unwritten) return applied;
  const row = insert
    ? await insertRun(trx, insert, unwritten.columns, unwritten)
    : await writeLocked(trx, kind, id, unwritten.columns, unwritten, null);
  if (kind === "task") return { ...rest, taskRunRow: row as Selectable<TaskRunTable> };
  const flowRunRow = { ...(row as Selectable<FlowRunTable>), flowName: applied.locked!.related!.flowName! };
  return { ...rest, flowRunRow };
}

/**
 * A change written under the run's lock: its state history rows and events inserted, the run's row
 * updated and answered, and for a flow run's end (`ending`) its task runs ended and their slots
 * released. On PostgreSQL that is one statement (the inserts, the release and the end go with the
 * update as data-modifying WITH queries; the ended task runs come back as `endedTaskRuns`, JSON text),
 * compiled once per shape (lockedWrite). SQLite, in this process, inserts first and updates after,
 * and leaves the task runs to the caller.
 */
async function writeLocked(
  trx: Kysely<Database>,
  kind: Kind,
  id: string,
  columns: object,
  { stateRows, events, slots = [] }: Written,
  ending: Ending | null,
): Promise<Record<string, unknown> & { endedTaskRuns?: string }> {
  const table = kind === "flow" ? "flowRuns" : ("taskRuns" as "flowRuns");
  if (!speaksPostgres(trx)) {
    await trx.insertInto("states").values(stateRows).execute();
    await trx.insertInto("events").values(events).execute();
    if (slots.length > 0) await trx.insertInto("concurrencySlots").values(slots).execute();
    return trx.updateTable(table).set(columns).where("id", "=", id).returningAll().executeTakeFirstOrThrow();
  }
  const set = entries(columns);
  const rows = [stateRows.map(entries), events.map(entries), slots.map(entries)];
  const ended = ending ? entries(ending.columns) : null;
  const shape: LockedWriteShape = {
    kind,
    columns: columnShape(set),
    stateRows: rows[0]!.map((row) => row.map(([name]) => name)),
    events: rows[1]!.map((row) => row.map(([name]) => name)),
    slots: rows[2]!.map((row) => row.map(([name]) => name)),
    ended: ended?.map(([name]) => name) ?? null,
  };
  const key = JSON.stringify(shape);
  let write = lockedWrites.get(key);
  if (!write) lockedWrites.set(key, (write = lockedWrite(shape)));
  const values = [...boundValues(set), ...[...rows.flat(2), ...(ended ?? [])].map(([, value]) => value)];
  const [row] = (await write(trx, id, ...values)).rows;
  // Not found under its lock only if the caller locked nothing.
  if (!row) throw notFound(kind === "flow" ? "flow run" : "task run", id);
  return row;
}

/**
 * A new run's row (with its first state's columns), a flow run's tags, its state history row and its
 * event, inserted in one statement (the rows that refer to the run are checked at the statement's end).
 * A task run goes in only if its flow run is still as expected; undefined when it is not.
 */
async function insertRun(
  db: Kysely<Database>,
  insert: NewFlowRun | NewTaskRun,
  columns: object,
  { stateRows, events, slots = [] }: Written,
): Promise<Selectable<FlowRunTable> | Selectable<TaskRunTable> | undefined> {
  const task = "expected" in insert;
  // A task run expected its flow run as read, or with one history row and event (most): the statement
  // compiled once per shape.
  const single = slots.length === 0 && stateRows.length === 1 && events.length === 1;
  if (task && (insert.expected || single)) {
    if (!single) throw new Error("insertRun: a task run inserted as expected has one state and no slots");
    return insertTaskRun(db, insert, columns, { stateRows, events });
  }
  let inserting = db
    .with("writtenState", (db) => db.insertInto("states").values(stateRows).returning("id"))
    .with("writtenEvent", (db) =>
      db.insertInto("events").values(events).returning("id"),
    ) as unknown as QueryCreator<Database>;
  if (!task && insert.tags.length > 0) {
    const { tags } = insert;
    inserting = inserting.with("writtenTags", (db) =>
      db.insertInto("flowRunTags").values(tags).returning("flowRunId"),
    ) as unknown as QueryCreator<Database>;
  }
  if (slots.length > 0) inserting = takingSlots(inserting, slots);
  return inserting
    .insertInto(task ? ("taskRuns" as "flowRuns") : "flowRuns")
    .values({ ...insert.row, ...columns } as Insertable<FlowRunTable>)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A statement that also takes a task run's tag slots (a data-modifying WITH query). */
const takingSlots = (writer: QueryCreator<Database>, slots: Insertable<ConcurrencySlotTable>[]) =>
  writer.with("takenSlots", (db) =>
    db.insertInto("concurrencySlots").values(slots).returning("tag"),
  ) as unknown as QueryCreator<Database>;

/** insertRun for a task run: its history row and event only if the run went in (insertUpdated). */
async function insertTaskRun(
  db: Kysely<Database>,
  { row, expected }: NewTaskRun,
  columns: object,
  { stateRows: [stateRow], events: [event] }: Pick<Unwritten, "stateRows" | "events">,
): Promise<Selectable<TaskRunTable> | undefined> {
  const [values, state, eventValues] = [{ ...row, ...columns }, stateRow!, event!].map(entries);
  const shape = [values, state, eventValues].map((one) => one!.map(([name]) => name)) as TaskRunInsertShape;
  const key = JSON.stringify([...shape, expected !== null]);
  let insert = taskRunInserts.get(key);
  if (!insert) taskRunInserts.set(key, (insert = taskRunInsert(shape, expected !== null)));
  const valuesOf = (named: [string, unknown][]) => named.map(([, value]) => value);
  const expectedValues = expected ? [expected.flowRunId, expected.state, expected.attempt] : [];
  const bound = [...valuesOf(values!), ...expectedValues, ...valuesOf(state!), ...valuesOf(eventValues!)];
  const [inserted] = (await insert(db, ...bound)).rows;
  return inserted;
}

/** The columns of a new task run, its history row and its event, in the order their values are bound. */
type TaskRunInsertShape = [run: string[], state: string[], event: string[]];

/**
 * insertTaskRun's statement, compiled once per shape: the run's row inserted only if its flow run still
 * has the state and attempt read (`expecting`), then its history row and event if it went in.
 */
const taskRunInserts = new Map<string, ReturnType<typeof taskRunInsert>>();
function taskRunInsert([names, stateNames, eventNames]: TaskRunInsertShape, expecting: boolean) {
  return compiledOnce((db, ...values: unknown[]) => {
    const take = (columns: string[]) => Object.fromEntries(columns.map((name) => [name, values.shift()]));
    const row = take(names);
    const expected = expecting ? take(["flowRunId", "state", "attempt"]) : null;
    const [state, event] = [take(stateNames), take(eventNames)];
    const inserted = (db: QueryCreator<Database>) => db.selectFrom("insertedRun" as "taskRuns").select("id");
    return db
      .with("insertedRun", (db) =>
        db
          .insertInto("taskRuns")
          .columns(names as never)
          .expression(
            db
              .selectNoFrom((eb) => names.map((name) => eb.val(row[name]).as(name)) as never)
              .$if(expected !== null, (query) =>
                query.where((eb) =>
                  eb.exists(
                    eb
                      .selectFrom("flowRuns")
                      .select("flowRuns.id")
                      .where("flowRuns.id", "=", expected!.flowRunId as string)
                      .where("flowRuns.state", "is not distinct from", expected!.state as string | null)
                      .where("flowRuns.attempt", "is not distinct from", expected!.attempt as number | null)
                      // Held until the run is in: an end cannot pass it unseen (holdFlowRun).
                      .forShare(),
                  ),
                ),
              ),
          )
          .returningAll(),
      )
      .with("writtenState", (db) =>
        insertUpdated(db as never, "states", stateNames, state, "taskRunId", inserted as never),
      )
      .with("writtenEvent", (db) =>
        insertUpdated(db as never, "events", eventNames, event, "resourceId", inserted as never),
      )
      .selectFrom("insertedRun")
      .selectAll();
  });
}

/**
 * The columns a change sets, as its statement's shape: their names, and `[name]` for a claim's next
 * attempt, which is SQL written into the statement rather than a value bound to it.
 */
function columnShape(set: [string, unknown][]): (string | [string])[] {
  return set.map(([name, value]) => {
    if (!isExpression(value)) return name;
    if (value !== NEXT_ATTEMPT) throw new Error(`a change sets ${name} to SQL other than the next attempt`);
    return [name];
  });
}

/** The values of the columns a change sets that are bound to its statement (columnShape's names). */
const boundValues = (set: [string, unknown][]): unknown[] =>
  set.filter(([, value]) => !isExpression(value)).map(([, value]) => value);

/** The columns of a shape (columnShape), each named one given its value by `next`, in order. */
const shapedColumns = (shape: (string | [string])[], next: () => unknown) =>
  Object.fromEntries(
    shape.map((column) => (typeof column === "string" ? [column, next()] : [column[0], NEXT_ATTEMPT])),
  );

/** What a locked write's statement depends on besides its values: see writeLocked. */
interface LockedWriteShape {
  kind: Kind;
  /** The columns set, in order; `[name]` for the next attempt (SQL). */
  columns: (string | [string])[];
  stateRows: string[][];
  events: string[][];
  /** The tag slots a task run's start takes. */
  slots: string[][];
  /** The columns of the task runs a flow run's end ends; null when it ends none. */
  ended: string[] | null;
}

/**
 * writeLocked's statement, compiled once per shape (a few per kind of change); its values are the
 * run's id, then the columns' values, the history rows', the events', the slots' and the ended task
 * runs' columns, in the shape's order.
 */
const lockedWrites = new Map<string, ReturnType<typeof lockedWrite>>();
function lockedWrite(shape: LockedWriteShape) {
  return compiledOnce((db, id: string, ...values: unknown[]) => {
    const next = () => values.shift() as never;
    const row = (names: string[]) => Object.fromEntries(names.map((name) => [name, next()])) as never;
    const columns = shapedColumns(shape.columns, next);
    const stateRows: Insertable<StateTable>[] = shape.stateRows.map(row);
    const events: Insertable<EventTable>[] = shape.events.map(row);
    const slots: Insertable<ConcurrencySlotTable>[] = shape.slots.map(row);
    const ended: Updateable<TaskRunTable> | null = shape.ended && row(shape.ended);
    // The WITH names are not tables of the database: the update does not read them.
    let writer = db
      .with("writtenState", (db) => db.insertInto("states").values(stateRows).returning("id"))
      .with("writtenEvent", (db) =>
        db.insertInto("events").values(events).returning("id"),
      ) as unknown as QueryCreator<Database>;
    if (slots.length > 0) writer = takingSlots(writer, slots);
    if (ended) {
      writer = writer
        .with("releasedSlots", (db) => releaseSlotsOf(db, id) as never)
        .with(
          "endedTaskRuns",
          (db) => endTaskRunsOf(db as unknown as QueryCreator<Database>, id, ended) as never,
        ) as unknown as QueryCreator<Database>;
    }
    return writer
      .updateTable(shape.kind === "flow" ? "flowRuns" : ("taskRuns" as "flowRuns"))
      .set(columns)
      .where("id", "=", id)
      .returningAll()
      .$if(ended !== null, (query) =>
        // The WITH query's rows, as JSON text; "ended_task_runs" is endedTaskRuns as the camel-case
        // plugin names it.
        query.returning(
          sql<string>`(select coalesce(json_agg(json_build_object('id', e.id, 'tags', e.tags)), '[]')::text from ended_task_runs e)`.as(
            "endedTaskRuns",
          ),
        ),
      );
  });
}

/** What a transition reads of its run, and of the flow run it belongs to. */
export interface LockedRun {
  state: string | null;
  runCount: number;
  retries: number;
  retryDelaySeconds: string;
  tags: string;
  startTime: string | null;
  /** The flow run's attempt (of the run, or of a task run's flow run). */
  attempt: number | null;
  /** A flow run's deployment. */
  deploymentId: string | null;
  /** A task run's flow run, its state and cache key. */
  flowRunId: string | null;
  flowRunState: string | null;
  cacheKey: string | null;
  /** What the run's events relate to (its flow run's names and tags). */
  related: EventRelated | null;
  /**
   * A flow run's task runs unfinished or holding slots, as read without its lock (undefined when not
   * read so): its end then writes more than its row, and is written under its lock.
   */
  openTaskRuns?: boolean;
}

/** The columns flow and task runs share that a transition reads. */
const RUN_COLUMNS = ["state", "runCount", "retries", "retryDelaySeconds", "tags", "startTime"] as const;

/** What a transition reads of a flow run: returned by the statement that locks it (or inserts it). */
export const lockedFlowRunColumns = (eb: ExpressionBuilder<Database, "flowRuns">) =>
  [
    ...RUN_COLUMNS,
    "attempt",
    "deploymentId",
    eb.val<string | null>(null).as("flowRunId"),
    eb.val<string | null>(null).as("flowRunState"),
    eb.val<string | null>(null).as("cacheKey"),
    "name as flowRunName",
    eb.selectFrom("flows").select("flows.name").whereRef("flows.id", "=", "flowRuns.flowId").as("flowName"),
    "deploymentName",
    "workPoolName",
    "tags as flowRunTags",
  ] as const;

/** A column of a task run's flow run, for a statement on the task run. */
const ofFlowRun = <C extends "state" | "attempt" | "name" | "deploymentName" | "workPoolName" | "tags">(
  eb: ExpressionBuilder<Database, "taskRuns">,
  column: C,
) =>
  eb.selectFrom("flowRuns").select(`flowRuns.${column}`).whereRef("flowRuns.id", "=", "taskRuns.flowRunId");

/** What a transition reads of a task run and its flow run, as for a flow run. */
export const lockedTaskRunColumns = (eb: ExpressionBuilder<Database, "taskRuns">) =>
  [
    ...RUN_COLUMNS,
    // A background task run (no flow run) has an attempt of its own.
    eb.fn.coalesce(ofFlowRun(eb, "attempt"), "taskRuns.attempt").as("attempt"),
    eb.val<string | null>(null).as("deploymentId"),
    "flowRunId",
    ofFlowRun(eb, "state").as("flowRunState"),
    "cacheKey",
    ofFlowRun(eb, "name").as("flowRunName"),
    eb
      .selectFrom("flowRuns")
      .innerJoin("flows", "flows.id", "flowRuns.flowId")
      .select("flows.name")
      .whereRef("flowRuns.id", "=", "taskRuns.flowRunId")
      .as("flowName"),
    ofFlowRun(eb, "deploymentName").as("deploymentName"),
    ofFlowRun(eb, "workPoolName").as("workPoolName"),
    ofFlowRun(eb, "tags").as("flowRunTags"),
  ] as const;

/** A row of `lockedFlowRunColumns` or `lockedTaskRunColumns`, as the transition reads it. */
export function toLockedRun(kind: Kind, row: LockedRow): LockedRun {
  const { flowRunName, flowName, deploymentName, workPoolName, flowRunTags, ...run } = row;
  const hasFlowRun = kind === "flow" || run.flowRunId !== null;
  return {
    ...run,
    attempt: run.attempt ?? null,
    related: hasFlowRun
      ? {
          flowRunName: flowRunName ?? null,
          flowName: flowName ?? null,
          deploymentName: deploymentName ?? null,
          workPoolName: workPoolName ?? null,
          tags: fromJson<string[]>(flowRunTags, []),
        }
      : null,
  };
}

export type LockedRow = Omit<LockedRun, "related" | "attempt"> & {
  attempt: number | null;
  flowRunName: string | null;
  flowName: string | null;
  deploymentName: string | null;
  workPoolName: string | null;
  flowRunTags: string | null;
};

/**
 * Locks the run's row (an UPDATE takes the row lock on PostgreSQL and the write lock on SQLite) and
 * reads, in the same statement, everything the rules and the run's event need: one round trip.
 */
async function lockRun(trx: Trx, kind: Kind, id: string): Promise<LockedRun> {
  const { rows } = await (kind === "flow" ? lockFlowRun : lockTaskRun)(trx, id);
  const row: LockedRow | undefined = rows[0];
  if (!row) throw notFound(kind === "flow" ? "flow run" : "task run", id);
  return toLockedRun(kind, row);
}

/**
 * Locks the runs a claim takes, all in one statement (a round trip each was most of a claim's time),
 * in id order as every claim takes them, so that two claims of the same runs wait rather than
 * deadlock; the lock an UPDATE takes (FOR NO KEY UPDATE), which lets rows that refer to the runs be
 * inserted meanwhile. Runs deleted since they were read are left out.
 */
export async function lockRuns(trx: Trx, kind: Kind, ids: string[]): Promise<Map<string, LockedRun>> {
  if (ids.length === 0) return new Map();
  // SQLite's BEGIN IMMEDIATE holds its one write lock already.
  const locking = speaksPostgres(trx);
  const rows: (LockedRow & { id: string })[] =
    kind === "flow"
      ? await trx
          .selectFrom("flowRuns")
          .select((eb) => ["flowRuns.id", ...lockedFlowRunColumns(eb)])
          .where("flowRuns.id", "in", ids)
          .orderBy("flowRuns.id")
          .$if(locking, (query) => query.forNoKeyUpdate())
          .execute()
      : await trx
          .selectFrom("taskRuns")
          .select((eb) => ["taskRuns.id", ...lockedTaskRunColumns(eb)])
          .where("taskRuns.id", "in", ids)
          .orderBy("taskRuns.id")
          .$if(locking, (query) => query.forNoKeyUpdate())
          .execute();
  return new Map(rows.map(({ id, ...row }) => [id, toLockedRun(kind, row)]));
}

// Every state change sends one of these two: compiled once (see compiledOnce).
const lockFlowRun = compiledOnce((db, id: string) =>
  db
    .updateTable("flowRuns")
    .set((eb) => ({ updated: eb.ref("updated") }))
    .where("id", "=", id)
    .returning(lockedFlowRunColumns),
);
const lockTaskRun = compiledOnce((db, id: string) =>
  db
    .updateTable("taskRuns")
    .set((eb) => ({ updated: eb.ref("updated") }))
    .where("id", "=", id)
    .returning(lockedTaskRunColumns),
);

/** Whether a flow run's end would end task runs or give back their slots (see endOfTaskRuns). */
const hasOpenTaskRuns = (eb: ExpressionBuilder<Database, "flowRuns">) =>
  eb.or([
    eb.exists(
      eb
        .selectFrom("taskRuns")
        .select("taskRuns.id")
        .whereRef("taskRuns.flowRunId", "=", "flowRuns.id")
        .where("taskRuns.stateType", "not in", TERMINAL_STATE_TYPES),
    ),
    eb.exists(
      eb
        .selectFrom("concurrencySlots")
        .innerJoin("taskRuns", "taskRuns.id", "concurrencySlots.taskRunId")
        .select("concurrencySlots.taskRunId")
        .whereRef("taskRuns.flowRunId", "=", "flowRuns.id"),
    ),
  ]);

/**
 * What a flow run's end is decided on without its lock: lockRun's columns and whether its task runs
 * are open (a scan of its task runs, read only for a proposal that may end it: `mayEnd`).
 */
const toEndColumns = (eb: ExpressionBuilder<Database, "flowRuns">) =>
  [...lockedFlowRunColumns(eb), hasOpenTaskRuns(eb).$castTo<boolean>().as("openTaskRuns")] as const;

/** A proposal the rules may turn into a flow run's end or suspension (see endOfTaskRuns). */
const mayEnd = (proposed: State): boolean =>
  isTerminal(proposed.type) || (proposed.type === "PAUSED" && proposed.pause?.reschedule === true);

/**
 * What transitionUnlocked reads of its runs: lockRun's columns, without the lock; and for a proposal
 * that may end a flow run, whether its task runs are open. Several runs by `id = any($1)`; one by
 * `id = $1`, as most calls are: PostgreSQL plans a statement with an array parameter anew at each
 * execution (its generic plan, for an array of unknown length, never costs less than a custom plan for
 * one id), which cost a lone change a third more of PostgreSQL's time.
 */
const runReads = <V>(match: (value: V) => string | RawBuilder<string>) => ({
  flow: compiledOnce((db, value: V) =>
    db
      .selectFrom("flowRuns")
      .select((eb) => ["flowRuns.id", ...lockedFlowRunColumns(eb)])
      .where("flowRuns.id", "=", match(value)),
  ),
  flowToEnd: compiledOnce((db, value: V) =>
    db
      .selectFrom("flowRuns")
      .select((eb) => ["flowRuns.id", ...toEndColumns(eb)])
      .where("flowRuns.id", "=", match(value)),
  ),
  task: compiledOnce((db, value: V) =>
    db
      .selectFrom("taskRuns")
      .select((eb) => ["taskRuns.id", ...lockedTaskRunColumns(eb)])
      .where("taskRuns.id", "=", match(value)),
  ),
});
const readRuns = runReads((ids: string[]) => sql<string>`any(${ids})`);
const readRun = runReads((id: string) => id);

/** A change decided on its run as it was `read`, to write only if the run is still so. */
export interface UnchangedWrite extends Unwritten {
  id: string;
  read: LockedRun;
}

/**
 * What writeIfUnchanged did with a change: the run's row as written; undefined when the run had
 * changed since it was read (or was locked, for an end); or the error its statement failed with
 * (nothing of it written, unless the error is a lost connection: then it may be).
 */
export type WriteOutcome = Selectable<FlowRunTable> | Selectable<TaskRunTable> | undefined | Error;

/**
 * Writes changes decided on their runs as they were read, without a lock: each run's update, its state
 * history rows and its events, only if the run still has what the rules read that can change (its
 * state, run count, retries and attempt, and a task run's flow run's state and attempt). Changes of
 * one shape go in one statement, up to RUNS_PER_WRITE runs, in id order as claims lock their runs: a
 * few statements, each of a text that depends only on its shape and number of runs. An update that
 * finds its row locked waits for the lock and tests again on the row as committed (PostgreSQL's READ
 * COMMITTED), so a change that raced it writes nothing; a flow run's end skips a locked run instead
 * (see unchangedWrite). Answers each change's outcome, in the order given.
 */
export async function writeIfUnchanged(
  db: Kysely<Database>,
  kind: Kind,
  writes: UnchangedWrite[],
): Promise<WriteOutcome[]> {
  const byShape = new Map<
    string,
    { shape: UnchangedShape; parts: { at: number; write: UnchangedWrite }[] }
  >();
  for (const [at, write] of writes.entries()) {
    const shape: UnchangedShape = {
      columns: columnShape(entries(write.columns)),
      ends: write.ends ?? false,
      releasesSlots: write.releasesSlots ?? false,
    };
    const key = JSON.stringify(shape);
    const same = byShape.get(key) ?? { shape, parts: [] };
    byShape.set(key, same);
    same.parts.push({ at, write });
  }
  // Each run's rows are told apart by its id (insertUpdated).
  if (new Set(writes.map(({ id }) => id)).size < writes.length) {
    throw new Error("writeIfUnchanged: two changes to one run");
  }
  const outcomes: WriteOutcome[] = writes.map(() => undefined);
  for (const { shape, parts } of byShape.values()) {
    // In id order, as claims lock their runs.
    parts.sort((a, b) => (a.write.id < b.write.id ? -1 : 1));
    for (const group of chunked(parts, RUNS_PER_WRITE)) {
      const values = group.flatMap(({ write: { id, read, columns } }) => [
        id,
        read.state,
        read.runCount,
        read.retries,
        read.retryDelaySeconds,
        read.attempt,
        ...(kind === "task" ? [read.flowRunState] : []),
        ...boundValues(entries(columns)),
      ]);
      // Every run's history rows and events, each in one JSON array of rows named as the columns; a
      // lone change's one row and one event (most calls) as values, cheaper for PostgreSQL to plan and
      // run than an array it must unpack, number and filter.
      const [stateRows, eventRows] = [
        group.flatMap(({ write }) => write.stateRows),
        group.flatMap(({ write }) => write.events),
      ];
      const bound = stateRows.length === 1 && eventRows.length === 1;
      const [states, events] = [stateRows, eventRows].map((rows) => inserted(rows, bound));
      const key = JSON.stringify([kind, group.length, shape, states!.names, events!.names, bound]);
      let write = unchangedWrites.get(key);
      if (!write) {
        const statement = unchangedWrite(kind, shape, group.length, states!.names, events!.names, bound);
        unchangedWrites.set(key, (write = statement));
      }
      try {
        const { rows } = await write(db, ...values, ...states!.values, ...events!.values);
        const written = new Map(rows.map((row) => [row.id, row]));
        for (const { at, write } of group) outcomes[at] = written.get(write.id);
      } catch (error) {
        for (const { at } of group) outcomes[at] = error instanceof Error ? error : new Error(String(error));
      }
    }
  }
  return outcomes;
}

/** A row's columns that have a value. */
const entries = (row: object) =>
  Object.entries(row as Record<string, unknown>).filter(([, value]) => value !== undefined);

/**
 * Rows to insert as writeIfUnchanged's statement takes them: the columns named, and the values of the
 * one row (`bound`) or one JSON array of all, each row named as the table's columns.
 */
function inserted(rows: object[], bound: boolean): { names: string[]; values: unknown[] } {
  const named = rows.map((row) => entries(row));
  const names = [...new Set(named.flatMap((row) => row.map(([name]) => name)))].sort();
  if (bound) return { names, values: names.map((name) => (rows[0] as Record<string, unknown>)[name]) };
  // A lone surrogate would be written as an escape PostgreSQL's JSON refuses: stored as U+FFFD, as the
  // driver's own encoding of text stores it.
  const json = JSON.stringify(
    named.map((row) => Object.fromEntries(row.map(([k, v]) => [columnName(k), v]))),
    (_, value: unknown) => (typeof value === "string" ? wellFormed(value) : value),
  );
  return { names, values: [json] };
}

/** `text` with any lone surrogate replaced by U+FFFD (String.prototype.toWellFormed, Node 20). */
const wellFormed = (text: string): string => (text as string & { toWellFormed(): string }).toWellFormed();

/** The most runs one statement of writeIfUnchanged writes: its text grows with them. */
const RUNS_PER_WRITE = 8;

/** What each run's part of writeIfUnchanged's statement depends on besides its values. */
interface UnchangedShape {
  /** The columns set, in order; `[name]` for the next attempt (SQL). */
  columns: (string | [string])[];
  ends: boolean;
  releasesSlots: boolean;
}

/**
 * A column's name in the database, as the CamelCasePlugin every database is opened with names it (with
 * its default options, as openDatabase makes it).
 */
const columnName = (() => {
  const plugin = new (class extends CamelCasePlugin {
    name = (property: string) => this.snakeCase(property);
  })();
  return plugin.name;
})();

/**
 * writeIfUnchanged's statement, compiled once per kind of run, shape, number of runs and the columns of
 * the rows it inserts. Its values are, for each run in turn, its id, what is expected of it and its
 * columns; then its history rows and its events, each as one JSON array. Each run's update is a WITH
 * query of its own (`updated0`, `updated1`, …), answered as the UNION ALL of them; the history rows
 * and events of the runs updated are inserted by one WITH query each, in the order given (an event's
 * `seq` is the order in which the other servers and every reader see it).
 *
 * Every WITH query of a statement reads the database as it was when the statement began. A part that
 * waits for its row's lock tests its own row again once the lock is free, which is all a change's
 * conditions are about, but for a flow run's end: whether its task runs are open would be read as it
 * was before the wait, and a task run started meanwhile would be left open under an ended flow run. So
 * an end is written only if its run is not locked at that moment (SKIP LOCKED; a run skipped so is left
 * to its caller, as one that changed). The parts of a statement share one shape: an end never comes
 * after a part that waited.
 */
const unchangedWrites = new Map<string, ReturnType<typeof unchangedWrite>>();
function unchangedWrite(
  kind: Kind,
  shape: UnchangedShape,
  runs: number,
  stateNames: string[],
  eventNames: string[],
  bound: boolean,
) {
  const table = kind === "flow" ? "flowRuns" : ("taskRuns" as "flowRuns");
  return compiledOnce((db, ...values: unknown[]) => {
    const next = () => values.shift() as never;
    let writer = db as unknown as QueryCreator<Database>;
    for (let index = 0; index < runs; index++) {
      const id = next() as string;
      const [state, runCount, retries, retryDelaySeconds, attempt] = [next(), next(), next(), next(), next()];
      const flowRunState = (kind === "task" ? next() : undefined) as never;
      const columns = shapedColumns(shape.columns, next);
      const updated = (db: QueryCreator<Database>) => {
        // The columns both tables have, named as the flow runs' (a task run's are the same).
        const asRead = db
          .updateTable(table)
          .set(columns)
          .where("id", "=", id)
          .where("state", "is not distinct from", state)
          .where("runCount", "=", runCount)
          .where("retries", "=", retries)
          .where("retryDelaySeconds", "=", retryDelaySeconds);
        if (kind === "flow") {
          return (
            asRead
              .where("attempt", "is not distinct from", attempt)
              // An end: only while no task run is open, and only if the run is not locked now.
              .$if(shape.ends, (query) =>
                query
                  .where((eb) => eb.not(hasOpenTaskRuns(eb)))
                  .where("id", "in", (eb) =>
                    eb
                      .selectFrom("flowRuns as free")
                      .select("free.id")
                      .where("free.id", "=", id)
                      .forNoKeyUpdate()
                      .skipLocked(),
                  ),
              )
              .returningAll()
          );
        }
        return (asRead as unknown as UpdateQueryBuilder<Database, "taskRuns", "taskRuns", UpdateResult>)
          .where((eb) =>
            eb.and([
              eb(ofFlowRun(eb, "state"), "is not distinct from", flowRunState),
              eb(
                eb.fn.coalesce(ofFlowRun(eb, "attempt"), "taskRuns.attempt"),
                "is not distinct from",
                attempt,
              ),
            ]),
          )
          .returningAll() as unknown as ReturnType<typeof asRead.returningAll>;
      };
      writer = writer.with(`updated${index}`, updated as never) as unknown as QueryCreator<Database>;
    }
    const rowsOf = (names: string[]): Rows =>
      bound ? Object.fromEntries(names.map((name) => [name, next()])) : next();
    const [states, events] = [rowsOf(stateNames), rowsOf(eventNames)];
    const updatedIds = (db: QueryCreator<Database>) => {
      const [first, ...rest] = Array.from({ length: runs }, (_, index) =>
        db.selectFrom(`updated${index}` as "flowRuns").select("id"),
      );
      return rest.reduce((all, part) => all.unionAll(part), first!);
    };
    writer = writer
      .with("writtenStates", (db) =>
        insertUpdated(
          db,
          "states",
          stateNames,
          states,
          kind === "flow" ? "flowRunId" : "taskRunId",
          updatedIds,
        ),
      )
      .with("writtenEvents", (db) =>
        insertUpdated(
          db as unknown as QueryCreator<Database>,
          "events",
          eventNames,
          events,
          "resourceId",
          updatedIds,
        ),
      ) as unknown as QueryCreator<Database>;
    if (shape.releasesSlots) {
      writer = writer.with("releasedSlots", (db) =>
        db
          .deleteFrom("concurrencySlots")
          .where("taskRunId", "in", updatedIds(db) as never)
          .returning("tag"),
      ) as unknown as QueryCreator<Database>;
    }
    // The WITH queries go with the first part; the others read them.
    const [first, ...rest] = Array.from({ length: runs }, (_, index) =>
      (index === 0 ? writer : db).selectFrom(`updated${index}` as "flowRuns").selectAll(),
    );
    return rest.reduce((all, part) => all.unionAll(part), first!);
  });
}

/** The rows writeIfUnchanged's statement inserts: one row's values, or a JSON array of rows. */
type Rows = Record<string, unknown> | string;

/**
 * Inserts the rows whose run (`ofRun`) the statement updated, in their order: `rows` is a JSON array of
 * rows named as the table's columns, or one row (of the one run the statement updates).
 */
function insertUpdated(
  db: QueryCreator<Database>,
  table: "states" | "events",
  names: string[],
  rows: Rows,
  ofRun: "flowRunId" | "taskRunId" | "resourceId",
  updatedIds: (db: QueryCreator<Database>) => SelectQueryBuilder<Database, never, { id: string }>,
) {
  const insert = db.insertInto(table).columns(names as never);
  if (typeof rows !== "string") {
    return insert.expression(
      db
        .selectNoFrom((eb) => names.map((name) => eb.val(rows[name]).as(name)) as never)
        .where((eb) => eb.exists(updatedIds(db))),
    );
  }
  const recordset = sql`json_populate_recordset(null::${sql.table(table)}, ${rows}) with ordinality`.as(
    "row",
  );
  return insert.expression(
    db
      .selectFrom(recordset as never)
      .select(names.map((name) => `row.${name}`) as never)
      .where(`row.${ofRun}` as never, "in", updatedIds(db) as never)
      .orderBy(sql`"row"."ordinality"`),
  );
}

/**
 * Who holds a flow run, as crash detection and claims see it. Entering PENDING or RUNNING is a
 * heartbeat (a process just spoke for the run). A failure the rules turn into AwaitingRetry stays
 * with its process, which retries it in place and keeps sending heartbeats: nobody else may claim it
 * meanwhile. Any other way into SCHEDULED (a rerun, a reschedule, a crash turned into a retry) leaves
 * the run to whoever claims it next.
 */
function holderColumns(proposed: State, state: State, now: Date) {
  if (state.type === "PENDING" || state.type === "RUNNING") return { lastHeartbeat: now.toISOString() };
  // Suspended: its process has ended, so it no longer holds the run nor its place in the limits.
  if (state.type === "PAUSED" && state.pause?.reschedule) return { lastHeartbeat: null };
  if (state.type === "SCHEDULED" && proposed.type !== "FAILED")
    return { lastHeartbeat: null, workerName: null };
  return {};
}

/**
 * A flow run that ends (or is suspended) leaves no task run hanging: those still unfinished end with
 * it, CANCELLED when it was cancelled or suspended and CRASHED otherwise (their process stopped
 * without saying how they ended), in one statement for all of them; and the slots its task runs held
 * are given back.
 */
function endOfTaskRuns(flowState: State): Ending {
  const cancelled = flowState.type === "CANCELLED";
  const suspended = flowState.type === "PAUSED";
  const state = makeState({
    type: cancelled || suspended ? "CANCELLED" : "CRASHED",
    message: cancelled
      ? "its flow run was cancelled"
      : suspended
        ? "its flow run was suspended: it runs again when resumed"
        : `its flow run ended ${flowState.name}${flowState.message ? `: ${flowState.message}` : ""}`,
  });
  return {
    state,
    columns: {
      state: toJson(state),
      stateType: state.type,
      stateName: state.name,
      endTime: state.timestamp,
      updated: state.timestamp,
    },
  };
}

/** The state a flow run's end gives its unfinished task runs, and their columns as it sets them. */
interface Ending {
  state: State;
  columns: Updateable<TaskRunTable>;
}

/** The slots a task run holds, released. */
const releaseSlotsOfTaskRun = compiledOnce((db, taskRunId: string) =>
  db.deleteFrom("concurrencySlots").where("taskRunId", "=", taskRunId),
);

/** The slots held by a flow run's task runs, released. */
const releaseSlotsOf = (db: QueryCreator<Database>, flowRunId: string) =>
  db
    .deleteFrom("concurrencySlots")
    .where("taskRunId", "in", (eb) =>
      eb.selectFrom("taskRuns").select("id").where("flowRunId", "=", flowRunId),
    );

/** A flow run's unfinished task runs, ended with `columns`; answers their ids and tags. */
const endTaskRunsOf = (db: QueryCreator<Database>, flowRunId: string, columns: Updateable<TaskRunTable>) =>
  db
    .updateTable("taskRuns")
    .set(columns)
    .where("flowRunId", "=", flowRunId)
    .where("stateType", "not in", TERMINAL_STATE_TYPES)
    .returning(["id", "tags"]);

type EndedTaskRun = { id: string; tags: string };

/**
 * Ends the given task runs of a flow run that has ended or is suspended, those unfinished, as its end
 * did: task runs recorded after the end, or while it was written (only those: another transaction's
 * rows are not waited for). Their changes, to publish.
 */
export async function endTaskRunsAfter(
  trx: Kysely<Database>,
  flowRunId: string,
  flowState: State,
  taskRunIds: string[],
): Promise<Applied[]> {
  if (!mayEnd(flowState) || taskRunIds.length === 0) return [];
  const { state, columns } = endOfTaskRuns(flowState);
  const ended = await endTaskRunsOf(trx, flowRunId, columns).where("id", "in", taskRunIds).execute();
  return recordEndedTaskRuns(trx, flowRunId, state, ended);
}

/** Records the state history and events of the task runs a flow run ended with; their changes to publish. */
async function recordEndedTaskRuns(
  trx: Kysely<Database>,
  flowRunId: string,
  state: State,
  ended: readonly EndedTaskRun[],
): Promise<Applied[]> {
  if (ended.length === 0) return [];
  // Their state history, in statements of bounded size (SQLite allows at most 32766 bound values).
  for (let start = 0; start < ended.length; start += 1000) {
    await trx
      .insertInto("states")
      .values(
        ended.slice(start, start + 1000).map(({ id }) => ({
          id: newId(),
          flowRunId: null,
          taskRunId: id,
          type: state.type,
          name: state.name,
          timestamp: state.timestamp,
          state: toJson(state),
        })),
      )
      .execute();
  }
  // The one UPDATE does not tell each run's previous state.
  const events = await recordEvents(
    trx,
    ended.map(({ id, tags }) => ({
      name: EventName.TaskRunStateChanged,
      resource: { kind: "task-run", id },
      flowRunId,
      payload: { state, previousType: null },
      related: { tags: fromJson<string[]>(tags, []) },
    })),
  );
  return ended.map(({ id }, i) => ({
    result: { status: "ACCEPT", reason: "its flow run ended", state },
    changed: { runId: id, flowRunId, state, previous: null, event: events[i]! },
  }));
}

/** The columns every new run, flow or task, starts with: no state until its first, not run yet. */
export function newRunColumns(
  input: { retries?: number; retryDelaySeconds?: number[]; timeoutSeconds?: number | null },
  now: string,
) {
  return {
    state: null,
    stateType: null,
    stateName: null,
    runCount: 0,
    retries: input.retries ?? 0,
    retryDelaySeconds: toJson(input.retryDelaySeconds ?? []),
    timeoutSeconds: input.timeoutSeconds ?? null,
    startTime: null,
    endTime: null,
    created: now,
    updated: now,
  };
}

/**
 * Inserts a run and gives it its first state in the same transaction, so nobody sees a run without a
 * state; the rules decide the first state as they decide any other. `next` is proposed right after, in
 * the same transaction (a task run started as it is created). `prepare` inserts the run's row and
 * answers it as `lockedFlowRunColumns` or `lockedTaskRunColumns` read it; or answers the row as it
 * will be with `insert`, and the row goes in with the first change written (one statement fewer).
 */
export async function insertWithFirstState(
  ctx: StoreContext,
  kind: Kind,
  id: string,
  firstState: State,
  prepare: (trx: Trx) => Promise<{ run: LockedRow; insert?: NewTaskRun }>,
  next?: { proposed: State; attempt: number | undefined },
): Promise<{ first: Applied; next: Applied | null }> {
  return ctx.db.kysely.transaction().execute(async (trx) => {
    // The new row is the transaction's own until it commits: no lock to take, nothing to read again.
    const { run, insert } = await prepare(trx);
    const first = await transitionInTransaction(trx, kind, id, firstState, {
      force: false,
      initial: true,
      after: toLockedRun(kind, run),
      deferWrite: next !== undefined,
      insert,
    });
    refusedFirst(kind, firstState, first);
    if (!next) return { first, next: null };
    // Not inserted yet if the first change was left unwritten.
    const unwritten = first.unwritten ? insert : undefined;
    const started = await transitionInTransaction(trx, kind, id, next.proposed, {
      force: false,
      attempt: next.attempt,
      stampWhenDecided: true,
      after: first.locked,
      carry: first.unwritten,
      insert: unwritten,
    });
    if (started.changed) return { first, next: started };
    return { first: await writeUnwritten(trx, kind, id, first, unwritten), next: started };
  });
}

/**
 * Creates a flow run with its first state. On PostgreSQL the rules decide the first state of the run
 * as it will be inserted, and its row, tags, state history row and event go in as one statement: one
 * round trip where BEGIN, insert, write and COMMIT were four, and atomic as the transaction was. SQLite
 * inserts and gives the first state in one transaction (insertWithFirstState).
 */
export async function insertFlowRunWithFirstState(
  ctx: StoreContext,
  run: NewFlowRun & { row: { id: string }; flowName: string },
  firstState: State,
): Promise<Applied> {
  const { row, tags, flowName } = run;
  const db = ctx.db.kysely;
  if (!speaksPostgres(db)) {
    const { first } = await insertWithFirstState(ctx, "flow", row.id, firstState, async (trx) => {
      const inserted = await trx
        .insertInto("flowRuns")
        .values(row)
        .returning(lockedFlowRunColumns)
        .executeTakeFirstOrThrow();
      if (tags.length > 0) await trx.insertInto("flowRunTags").values(tags).execute();
      return { run: inserted };
    });
    return first;
  }
  // The run as the insert would answer it (lockedFlowRunColumns): no state yet, the first attempt.
  const inserting = toLockedRun("flow", {
    ...unstartedRun(row),
    attempt: 0,
    deploymentId: row.deploymentId ?? null,
    flowRunId: null,
    flowRunState: null,
    cacheKey: null,
    flowRunName: row.name,
    flowName,
    deploymentName: row.deploymentName ?? null,
    workPoolName: row.workPoolName ?? null,
    flowRunTags: row.tags ?? "[]",
  });
  const first = await transition(
    db,
    "flow",
    row.id,
    inserting,
    firstState,
    {
      force: false,
      initial: true,
      insert: { row, tags },
    },
    false,
  );
  return refusedFirst("flow", firstState, first!);
}

/**
 * Creates a task run with its first state. On PostgreSQL a task run without tags, not started as it is
 * created, needs no transaction: its flow run is read, the rules decide the first state of the run as
 * it will be inserted, and its row, state history row and event go in as one statement, only if the
 * flow run still has the state and attempt read: two round trips where BEGIN, insert, write and COMMIT
 * were four. Otherwise, or when the flow run changed in between, it is inserted and given its first
 * state (and started) in one transaction (insertWithFirstState).
 */
export async function insertTaskRunWithFirstState(
  ctx: StoreContext,
  row: Insertable<TaskRunTable> & { id: string },
  firstState: State,
  next?: { proposed: State; attempt: number | undefined },
): Promise<{ first: Applied; next: Applied | null }> {
  const db = ctx.db.kysely;
  // A tag's slots are counted and taken under its limit's lock.
  if (speaksPostgres(db) && !next && fromJson<string[]>(row.tags ?? "[]", []).length === 0) {
    const flowRun = row.flowRunId ? (await readFlowRunOfTask(db, row.flowRunId)).rows[0] : null;
    if (flowRun === undefined) throw notFound("flow run", row.flowRunId!);
    const expected = flowRun && { flowRunId: row.flowRunId!, state: flowRun.state, attempt: flowRun.attempt };
    const insert: NewTaskRun = { row, expected };
    const options = { force: false, initial: true, insert };
    const inserting = toLockedRun("task", uninsertedTaskRun(row, flowRun));
    const first = await transition(db, "task", row.id, inserting, firstState, options, false);
    if (first) return { first: refusedFirst("task", firstState, first), next: null };
  }
  return insertWithFirstState(
    ctx,
    "task",
    row.id,
    firstState,
    async (trx) => {
      if (speaksPostgres(trx)) {
        // The flow run read and held at once (holdFlowRun); the row goes in with its first change.
        const flowRun = row.flowRunId ? (await holdFlowRun(trx, row.flowRunId)).rows[0] : null;
        if (flowRun === undefined) throw notFound("flow run", row.flowRunId!);
        return { run: uninsertedTaskRun(row, flowRun), insert: { row, expected: null } };
      }
      const run = await trx
        .insertInto("taskRuns")
        .values(row)
        .returning(lockedTaskRunColumns)
        .executeTakeFirstOrThrow();
      return { run };
    },
    next,
  );
}

/** A task run about to be inserted, as its insert would answer it (lockedTaskRunColumns): no state yet. */
const uninsertedTaskRun = (row: Insertable<TaskRunTable>, flowRun: FlowRunOfTask | null): LockedRow => ({
  ...unstartedRun(row),
  attempt: flowRun?.attempt ?? 0,
  deploymentId: null,
  flowRunId: row.flowRunId ?? null,
  flowRunState: flowRun?.state ?? null,
  cacheKey: row.cacheKey ?? null,
  flowRunName: flowRun?.flowRunName ?? null,
  flowName: flowRun?.flowName ?? null,
  deploymentName: flowRun?.deploymentName ?? null,
  workPoolName: flowRun?.workPoolName ?? null,
  flowRunTags: flowRun?.flowRunTags ?? null,
});

/** What a new task run's first state is decided on of its flow run (lockedTaskRunColumns' part). */
const flowRunOfTask = (db: Kysely<Database>, id: string) =>
  db
    .selectFrom("flowRuns")
    .select((eb) => [
      "state",
      "attempt",
      "name as flowRunName",
      eb.selectFrom("flows").select("flows.name").whereRef("flows.id", "=", "flowRuns.flowId").as("flowName"),
      "deploymentName",
      "workPoolName",
      "tags as flowRunTags",
    ])
    .where("id", "=", id);
const readFlowRunOfTask = compiledOnce(flowRunOfTask);
type FlowRunOfTask = Awaited<ReturnType<typeof readFlowRunOfTask>>["rows"][number];

/**
 * readFlowRunOfTask, holding the flow run (PostgreSQL, `FOR SHARE`) while a task run of it goes in,
 * so that the two cannot miss each other: the foreign key's own lock (`KEY SHARE`) lets a flow run's
 * end update the row at the same moment, and that end, not seeing the uncommitted task run, would
 * leave it open under the ended flow run. Held, an end waits for the task run's commit and ends it; a
 * creation that waited for an end reads the ended flow run as it is after the wait. SQLite writes one
 * transaction at a time.
 */
const holdFlowRun = compiledOnce((db, id: string) => flowRunOfTask(db, id).forShare());

/** What the rules read of a run about to be inserted, as its insert would answer it: not run yet. */
const unstartedRun = (row: { retries?: number; retryDelaySeconds?: string; tags?: string }) => ({
  state: null,
  runCount: 0,
  retries: row.retries ?? 0,
  retryDelaySeconds: row.retryDelaySeconds ?? "[]",
  tags: row.tags ?? "[]",
  startTime: null,
});

/** A first state the rules refuse: the run is not created. */
function refusedFirst(kind: Kind, firstState: State, first: Applied): Applied {
  if (first.result.status === "ABORT" || first.result.status === "WAIT") {
    throw new BatonError(
      "aborted",
      `the ${kind} run cannot start as ${firstState.type}: ${first.result.reason}`,
    );
  }
  return first;
}

/** A pause whose input schema is none could never be resumed with input: refused before it waits. */
function checkProposal(proposed: State): void {
  if (proposed.pause?.inputSchema) compileSchema(proposed.pause.inputSchema, "state.pause.inputSchema");
}

/** Proposes a state in a transaction of its own and announces the change once it is committed. */
export async function setRunState(
  ctx: StoreContext,
  kind: Kind,
  id: string,
  proposed: State,
  options: TransitionOptions,
): Promise<SetStateResult> {
  checkProposal(proposed);
  const db = ctx.db.kysely;
  const [unlocked] = speaksPostgres(db)
    ? await transitionUnlocked(ctx, kind, [{ id, state: proposed, options }])
    : [undefined];
  if (unlocked instanceof BatonError) throw unlocked;
  const applied =
    unlocked ??
    (await db.transaction().execute((trx) => transitionInTransaction(trx, kind, id, proposed, options)));
  publishStateChange(ctx, applied);
  return applied.result;
}

/** One proposal of several made at once (`setRunStates`). */
export interface Proposal {
  id: string;
  state: State;
  options: Pick<TransitionOptions, "force" | "attempt">;
}

/** What a proposal made with others gets: its verdict, or the error proposing it alone would throw. */
export type ProposalAnswer = SetStateResult | { error: { code: ErrorCode; message: string } };

const errorAnswer = (error: BatonError): ProposalAnswer => ({
  error: { code: error.code, message: error.message },
});

/**
 * Proposes states to several runs at once (a serve process's runs ending together). On PostgreSQL,
 * proposals to distinct runs are decided without locks first (transitionUnlocked: the runs read in one
 * statement, the changes written in one). The others, or all on SQLite, are decided in one transaction:
 * their rows locked in one statement, in id order as claims lock them; each proposal decided in turn
 * on its run as locked, or as the one before it to the same run left it; one commit for all. A
 * proposal that fails on its own (no such run, a pause schema that does not compile) is answered with
 * its error and the others with their verdicts. Should the transaction be rolled back (a deadlock),
 * each is proposed again on its own, so that no proposal loses its answer to another's failure.
 */
export async function setRunStates(
  ctx: StoreContext,
  kind: Kind,
  proposals: Proposal[],
): Promise<ProposalAnswer[]> {
  const answers = proposals.map(({ state }): ProposalAnswer | undefined => {
    try {
      checkProposal(state);
      return undefined;
    } catch (error) {
      if (error instanceof BatonError) return errorAnswer(error);
      throw error;
    }
  });
  const db = ctx.db.kysely;
  const unanswered = () =>
    proposals.flatMap((proposal, index) => (answers[index] ? [] : [{ proposal, index }]));
  // The database away, or a write or COMMIT unconfirmed (the changes may be saved): every proposal is
  // answered so, and its sender reads or tries again as it would after a call of its own.
  const unavailable = (error: unknown) => {
    if (!(error instanceof BatonError && error.code === "unavailable")) return undefined;
    return proposals.map((_, index) => answers[index] ?? errorAnswer(error));
  };
  const open = unanswered();
  if (speaksPostgres(db) && new Set(open.map(({ proposal }) => proposal.id)).size === open.length) {
    let decided: (Applied | BatonError | undefined)[];
    try {
      decided = await transitionUnlocked(
        ctx,
        kind,
        open.map(({ proposal }) => proposal),
      );
    } catch (error) {
      const answered = unavailable(error);
      if (answered) return answered;
      decided = []; // All decided under their locks (or, should that fail too, each alone).
    }
    for (const [at, applied] of decided.entries()) {
      if (applied === undefined) continue;
      if (applied instanceof BatonError) answers[open[at]!.index] = errorAnswer(applied);
      else {
        publishStateChange(ctx, applied);
        answers[open[at]!.index] = applied.result;
      }
    }
  }
  const locked = unanswered();
  if (locked.length === 0) return answers as ProposalAnswer[];
  let decided: (Applied | ProposalAnswer)[];
  try {
    decided = await db.transaction().execute(async (trx) => {
      const runs = await lockRuns(trx, kind, [...new Set(locked.map(({ proposal }) => proposal.id))]);
      const out: (Applied | ProposalAnswer)[] = [];
      for (const { id, state, options } of locked.map(({ proposal }) => proposal)) {
        const run = runs.get(id);
        if (!run) {
          out.push(errorAnswer(notFound(kind === "flow" ? "flow run" : "task run", id)));
          continue;
        }
        const applied = await transitionInTransaction(trx, kind, id, state, { ...options, after: run });
        if (applied.locked) runs.set(id, applied.locked);
        out.push(applied);
      }
      return out;
    });
  } catch (error) {
    const answered = unavailable(error);
    if (answered) return answered;
    // Rolled back (a deadlock, a proposal's own error): each is decided again on its own.
    for (const { proposal, index } of locked) {
      const { id, state, options } = proposal;
      try {
        answers[index] = await setRunState(ctx, kind, id, state, options);
      } catch (error) {
        answers[index] = errorAnswer(BatonError.from(error));
      }
    }
    return answers as ProposalAnswer[];
  }
  for (const [at, answer] of decided.entries()) {
    if ("changed" in answer) publishStateChange(ctx, answer);
    answers[locked[at]!.index] = "changed" in answer ? answer.result : answer;
  }
  return answers as ProposalAnswer[];
}

export function publishStateChange(ctx: StoreContext, applied: Applied): void {
  const { changed, locked } = applied;
  if (changed) ctx.events.emit(changed.event);
  // Kept once announced: the announcement forgets the run as it was (RunsAsWritten).
  if (changed && locked && speaksPostgres(ctx.db.kysely)) {
    runsAsWrittenBy(ctx.events).keep(changed.event.resource, locked, changed.state.type);
  }
  for (const task of applied.alsoChanged ?? []) publishStateChange(ctx, task);
}

/** Locks the limits of the run's tags (so two runs cannot take the last slot at once) and counts their slots. */
async function tagLimitUsage(
  trx: Kysely<Database>,
  taskRunId: string,
  tags: string[],
): Promise<TagLimitUsage[]> {
  if (tags.length === 0) return [];
  // Locked and read at once (the lock's own rows are as they are after any wait); the slots are read
  // by the next statement, which sees those another slot's taker committed while this one waited.
  const limits = await trx
    .updateTable("concurrencyLimits")
    .set((eb) => ({ updated: eb.ref("updated") }))
    .where("tag", "in", tags)
    .returning(["tag", "slotLimit"])
    .execute();
  if (limits.length === 0) return [];
  const slots = await trx
    .selectFrom("concurrencySlots")
    .select(["tag", "taskRunId"])
    .where(
      "tag",
      "in",
      limits.map((limit) => limit.tag),
    )
    .execute();
  return limits.map((limit) => {
    const held = slots.filter((slot) => slot.tag === limit.tag);
    return {
      tag: limit.tag,
      limit: limit.slotLimit,
      active: held.length,
      holdsSlot: held.some((slot) => slot.taskRunId === taskRunId),
    };
  });
}

/** The slot rows a task run's start takes: one for each of its limited tags it does not hold yet. */
const slotsToTake = (
  taskRunId: string,
  usage: readonly TagLimitUsage[],
  now: Date,
): Insertable<ConcurrencySlotTable>[] =>
  usage
    .filter((entry) => !entry.holdsSlot)
    .map((entry) => ({ tag: entry.tag, taskRunId, acquired: now.toISOString() }));

/**
 * The valid cached result of a cache key: the newest COMPLETED task run stored under it that has not
 * expired (other than `exceptId`), its state carrying the key and expiration. A Cached state made from
 * it keeps that expiration: using a cached result does not make it last longer.
 */
export async function findCachedState(
  db: QueryCreator<Database>,
  cacheKey: string,
  now: Date,
  exceptId?: string,
): Promise<State | null> {
  let query = db
    .selectFrom("taskRuns")
    .select(["state", "cacheKey", "cacheExpiration"])
    .where("cacheKey", "=", cacheKey)
    .where("stateType", "=", "COMPLETED")
    .where((eb) => eb.or([eb("cacheExpiration", "is", null), eb("cacheExpiration", ">", now.toISOString())]));
  if (exceptId !== undefined) query = query.where("id", "!=", exceptId);
  const row = await query.orderBy("endTime", "desc").limit(1).executeTakeFirst();
  const state = fromJson<State | null>(row?.state, null);
  return state && { ...state, cacheKey: row!.cacheKey, cacheExpiration: row!.cacheExpiration };
}
