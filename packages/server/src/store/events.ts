import {
  EventName,
  newId,
  notFound,
  type EventCreate,
  type EventRelated,
  type JsonObject,
  type EventPayloads,
  type StoredEvent,
  type StoredEventName,
  type EventQuery,
  type StateType,
} from "@baton/core";
import { sql, type Kysely, type Selectable, type Transaction } from "kysely";
import type { z } from "zod";
import { speaksPostgres } from "../db/database.js";
import type { Database, EventTable } from "../db/schema.js";
import { chunked, fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";

type Executor = Kysely<Database> | Transaction<Database>;

interface DraftFields {
  resource: { kind: string; id: string };
  flowRunId: string | null;
  /** The flow run's names and tags when the caller has read them already (they are read here otherwise). */
  flowRun?: EventRelated | null;
  /** What the flow run does not tell: a task run's own tags, a deployment's names. */
  related?: Partial<EventRelated>;
}

/**
 * An event to store, its payload typed by its name. What it relates to is read from its flow run,
 * unless `related` says it.
 */
export type EventDraft = {
  [N in StoredEventName]: DraftFields & { name: N; payload: EventPayloads[N] };
}[StoredEventName];

/** A custom event to store (its name checked by `EventCreate`): any JSON object as its payload. */
export type CustomEventDraft = DraftFields & { name: string; payload: JsonObject };

const UNRELATED: EventRelated = {
  flowRunName: null,
  flowName: null,
  deploymentName: null,
  workPoolName: null,
  tags: [],
};

// Bounded statements: SQLite allows at most 32766 bound values.
const CHUNK = 500;

/**
 * Stores events in the caller's transaction, so that a state change and its event commit together
 * (or neither does), and returns them to publish once that transaction commits. The flow, deployment,
 * work pool and tags of the events' flow runs are read in one query for the whole batch.
 */
export function recordEvents(db: Executor, drafts: EventDraft[]): Promise<StoredEvent[]> {
  return storeEvents(db, drafts);
}

async function storeEvents(db: Executor, drafts: readonly CustomEventDraft[]): Promise<StoredEvent[]> {
  const runIds = [
    ...new Set(
      drafts.flatMap((draft) => (draft.flowRunId && draft.flowRun === undefined ? [draft.flowRunId] : [])),
    ),
  ];
  const runs = new Map<string, EventRelated>();
  for (const ids of chunked(runIds, CHUNK)) {
    const rows = await db
      .selectFrom("flowRuns")
      .innerJoin("flows", "flows.id", "flowRuns.flowId")
      .select([
        "flowRuns.id",
        "flowRuns.name as flowRunName",
        "flows.name as flowName",
        "flowRuns.deploymentName",
        "flowRuns.workPoolName",
        "flowRuns.tags",
      ])
      .where("flowRuns.id", "in", ids)
      .execute();
    for (const { id, tags, ...names } of rows) runs.set(id, { ...names, tags: fromJson(tags, []) });
  }
  const occurred = nowIso();
  const events = drafts.map((draft) =>
    storedEvent(draft, draft.flowRun ?? (draft.flowRunId ? runs.get(draft.flowRunId) : undefined), occurred),
  );
  for (const batch of chunked(events, CHUNK))
    await db.insertInto("events").values(batch.map(eventRow)).execute();
  return events;
}

/** The event a draft becomes, with what its flow run tells (given, or read by the caller). */
export function storedEvent(
  draft: EventDraft | CustomEventDraft,
  flowRun: EventRelated | null | undefined,
  occurred = nowIso(),
): StoredEvent {
  return {
    id: newId(),
    name: draft.name,
    occurred,
    resource: draft.resource,
    flowRunId: draft.flowRunId,
    payload: draft.payload,
    related: { ...UNRELATED, ...flowRun, ...draft.related },
  };
}

/** An event's row in the events table. */
export function eventRow(event: StoredEvent) {
  return {
    id: event.id,
    occurred: event.occurred,
    name: event.name,
    resourceKind: event.resource.kind,
    resourceId: event.resource.id,
    flowRunId: event.flowRunId,
    flowRunName: event.related.flowRunName,
    flowName: event.related.flowName,
    deploymentName: event.related.deploymentName,
    workPoolName: event.related.workPoolName,
    tags: toJson(event.related.tags),
    payload: toJson(event.payload),
    processed: 0,
  };
}

/** Stores one event outside any transaction of the change it reports, and publishes it. */
export async function recordEvent(ctx: StoreContext, draft: EventDraft): Promise<void> {
  for (const event of await recordEvents(ctx.db.kysely, [draft])) ctx.events.emit(event);
}

/**
 * Stores and publishes a custom event (`POST /api/events`, `emitEvent`, a webhook). One that names a
 * flow run relates to it: its flow, deployment, work pool and tags become the event's, as for
 * Baton's own events; a flow run that does not exist is a 404 rather than an event about nothing.
 */
export async function createEvent(
  ctx: StoreContext,
  input: z.output<typeof EventCreate>,
): Promise<StoredEvent> {
  const flowRunId = input.flowRunId ?? null;
  if (flowRunId) {
    const run = await ctx.db.kysely
      .selectFrom("flowRuns")
      .select("id")
      .where("id", "=", flowRunId)
      .executeTakeFirst();
    if (!run) throw notFound("flow run", flowRunId);
  }
  const [event] = await storeEvents(ctx.db.kysely, [
    {
      name: input.event,
      resource: input.resource ?? { kind: "event", id: input.event },
      flowRunId,
      payload: input.payload ?? {},
    },
  ]);
  ctx.events.emit(event!);
  return event!;
}

export const toStoredEvent = (row: Selectable<EventTable>): StoredEvent => ({
  id: row.id,
  name: row.name,
  occurred: row.occurred,
  resource: { kind: row.resourceKind, id: row.resourceId },
  flowRunId: row.flowRunId,
  payload: fromJson(row.payload, {}),
  related: {
    flowRunName: row.flowRunName,
    flowName: row.flowName,
    deploymentName: row.deploymentName,
    workPoolName: row.workPoolName,
    tags: fromJson(row.tags, []),
  },
});

export async function listEvents({ db }: StoreContext, query: z.output<typeof EventQuery>) {
  let q = db.kysely.selectFrom("events").selectAll();
  // A prefix compared as such (LIKE would read '_' as a wildcard, and ignores case on SQLite).
  if (query.name) q = q.where(sql<string>`substr(name, 1, ${query.name.length})`, "=", query.name);
  if (query.resourceId) q = q.where("resourceId", "=", query.resourceId);
  if (query.since) q = q.where("occurred", ">=", query.since);
  const rows = await q
    .orderBy("seq", "desc")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toStoredEvent), query.limit, query.offset);
}

/**
 * Where a stream that last sent `lastEventId` resumes: after that stored event, or, for an event that
 * is not stored (a log, a run created), before the first stored event made after it (ids are UUIDv7,
 * ordered by time). `null` when no stored event follows it yet.
 */
export async function replayStart({ db }: StoreContext, lastEventId: string): Promise<number | null> {
  const seen = await db.kysely
    .selectFrom("events")
    .select("seq")
    .where("id", "=", lastEventId)
    .executeTakeFirst();
  if (seen) return seen.seq;
  const next = await db.kysely
    .selectFrom("events")
    .select((eb) => eb.fn.min("seq").as("seq"))
    .where("id", ">", lastEventId)
    .executeTakeFirst();
  return next?.seq === null || next?.seq === undefined ? null : Number(next.seq) - 1;
}

/** One stored event by its id; null when there is none (deleted by retention, say). */
export async function readStoredEvent({ db }: StoreContext, id: string): Promise<StoredEvent | null> {
  const row = await db.kysely.selectFrom("events").selectAll().where("id", "=", id).executeTakeFirst();
  return row ? toStoredEvent(row) : null;
}

/**
 * Stored events after `seq` in the order they were stored, for a stream's replay; with `stateTypes`,
 * only run state changes into those types (picked out by the database: a stream of cancels resumed
 * after days would otherwise read every change since).
 */
export async function storedEventsAfter(
  { db }: StoreContext,
  seq: number,
  filter: {
    flowRunId?: string | undefined;
    names?: string[] | undefined;
    stateTypes?: StateType[] | undefined;
  },
  limit: number,
): Promise<{ seq: number; event: StoredEvent }[]> {
  let q = db.kysely.selectFrom("events").selectAll().where("seq", ">", seq);
  if (filter.flowRunId) q = q.where("flowRunId", "=", filter.flowRunId);
  if (filter.names?.length) q = q.where("name", "in", filter.names);
  if (filter.stateTypes?.length) {
    const stateType = speaksPostgres(db.kysely)
      ? sql<string>`(payload::json #>> '{state,type}')`
      : sql<string>`json_extract(payload, '$.state.type')`;
    q = q
      .where("name", "in", [EventName.FlowRunStateChanged, EventName.TaskRunStateChanged])
      .where(stateType, "in", filter.stateTypes);
  }
  const rows = await q.orderBy("seq").limit(limit).execute();
  return rows.map((row) => ({ seq: row.seq, event: toStoredEvent(row) }));
}
