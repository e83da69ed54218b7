import type { ActionRun } from "./api/automations.js";
import type { JsonObject } from "./api/common.js";
import type {
  BatonEvent,
  Deployment,
  FlowRun,
  Log,
  TaskRun,
  Worker,
  WorkPool,
  WorkQueue,
} from "./api/models.js";
import type { State, StateType } from "./states.js";

/**
 * The events Baton itself sends, by name. The names are the wire format: the event stream, the
 * stored events and automations' triggers carry them as they are. A `BatonEvent` may bear any other
 * name (a custom event) with any JSON object as its payload; Baton's own are typed by `EventPayloads`.
 */
export const EventName = {
  FlowRunCreated: "flow-run.created",
  FlowRunStateChanged: "flow-run.state-changed",
  FlowRunDeleted: "flow-run.deleted",
  TaskRunCreated: "task-run.created",
  TaskRunStateChanged: "task-run.state-changed",
  /** Log lines written for one flow run (or for none). */
  Log: "log",
  DeploymentUpdated: "deployment.updated",
  DeploymentDeleted: "deployment.deleted",
  WorkPoolUpdated: "work-pool.updated",
  WorkQueueUpdated: "work-queue.updated",
  WorkerOffline: "worker.offline",
  AutomationTriggered: "automation.triggered",
  ActionRunUpdated: "action-run.updated",
  /** A global concurrency limit changed or gave slots back: acquirers waiting on it look again. */
  GlobalConcurrencyLimitUpdated: "global-concurrency-limit.updated",
} as const;
export type EventName = (typeof EventName)[keyof typeof EventName];
export const EVENT_NAMES: readonly EventName[] = Object.values(EventName);

/**
 * The events the server keeps in its store (for `BATON_EVENT_RETENTION_DAYS`) and that automations
 * can react to. The others (`log`, `flow-run.created`, …) are only streamed live.
 */
export const STORED_EVENTS = [
  EventName.FlowRunStateChanged,
  EventName.TaskRunStateChanged,
  EventName.DeploymentUpdated,
  EventName.WorkPoolUpdated,
  EventName.WorkerOffline,
] as const;
export type StoredEventName = (typeof STORED_EVENTS)[number];

/**
 * A custom event's name: lowercase words (letters, digits, `_`, `-`) joined by dots, such as
 * `github.push` or `billing.invoice-paid`, at most 100 characters.
 */
export const CUSTOM_EVENT_NAME = /^[a-z][a-z0-9_-]*(?:\.[a-z0-9][a-z0-9_-]*)*$/;
export const MAX_EVENT_NAME_LENGTH = 100;

/**
 * Prefixes only Baton's own events bear: a custom event may not start with one (nor be `log`), so
 * that no client can pass itself off as a state change, a worker going offline and the like.
 */
export const RESERVED_EVENT_PREFIXES = [
  "baton.",
  "flow-run.",
  "task-run.",
  "deployment.",
  "work-pool.",
  "work-queue.",
  "worker.",
  "automation.",
  "action-run.",
  "global-concurrency-limit.",
] as const;

/** Why `name` cannot be a custom event's name; null when it can. */
export function customEventNameProblem(name: string): string | null {
  if (name.length > MAX_EVENT_NAME_LENGTH) {
    return `is ${name.length} characters, over the ${MAX_EVENT_NAME_LENGTH} an event name may have`;
  }
  if (!CUSTOM_EVENT_NAME.test(name)) {
    return "must be lowercase words (a-z, 0-9, '_', '-') joined by dots, such as 'github.push'";
  }
  const reserved = RESERVED_EVENT_PREFIXES.find((prefix) => name.startsWith(prefix));
  if (reserved || (EVENT_NAMES as readonly string[]).includes(name)) {
    const why = reserved ? ` (names starting with '${reserved}' are reserved)` : "";
    return `is Baton's own${why}: choose a name of your own, such as 'myapp.${name.replace(/^[^.]*\./, "")}'`;
  }
  return null;
}

/** Whether `name` is a custom event's name (not one of Baton's own). */
export const isCustomEventName = (name: string): boolean => customEventNameProblem(name) === null;

/** The events stored and that automations can react to: Baton's stored ones and every custom one. */
export const isStoredEventName = (name: string): boolean =>
  (STORED_EVENTS as readonly string[]).includes(name) || isCustomEventName(name);

/** A run's new state, and the type of the one it left (null where a batch does not tell it). */
type StateChanged = { state: State; previousType: StateType | null };
type Empty = Record<string, never>;

/** `satisfies` for a type: every one of Baton's names has its payload, and no other name is there. */
type Catalogue<T extends Record<EventName, JsonObject> & Record<Exclude<keyof T, EventName>, never>> = T;

/** The payload of each of Baton's own events. */
export type EventPayloads = Catalogue<{
  "flow-run.created": { flowRun: FlowRun };
  "flow-run.state-changed": StateChanged;
  "flow-run.deleted": Empty;
  "task-run.created": { taskRun: TaskRun };
  "task-run.state-changed": StateChanged;
  log: { logs: Log[] };
  "deployment.updated": { deployment: Deployment };
  "deployment.deleted": Empty;
  "work-pool.updated": { workPool: WorkPool };
  "work-queue.updated": { workQueue: WorkQueue };
  "worker.offline": { worker: Pick<Worker, "id" | "name" | "lastHeartbeat" | "heartbeatIntervalSeconds"> };
  /** Names the stored event that fired the automation; none for a proactive trigger. */
  "automation.triggered": { automationName: string; eventId: string | null };
  "action-run.updated": { actionRun: ActionRun };
  "global-concurrency-limit.updated": { name: string };
}>;

/** One of Baton's own events with its payload typed by its name (for a union of names: one of them). */
export type EventOf<N extends EventName = EventName> = {
  [K in N]: Omit<BatonEvent, "name" | "payload"> & { name: K; payload: EventPayloads[K] };
}[N];

/**
 * What a live-only event too big for PostgreSQL's NOTIFY carries to the other servers instead of
 * its payload (stored events go whole: by their id).
 */
export const TRUNCATED_PAYLOAD = { truncated: true } as const;

/**
 * Narrows an event to one of Baton's `names`, with its payload. A live-only event that came from
 * another server without its payload (see `TRUNCATED_PAYLOAD`) is not one: compare `event.name`
 * where only the name matters.
 */
export function isEvent<N extends EventName>(event: BatonEvent, ...names: N[]): event is EventOf<N> {
  return (names as readonly string[]).includes(event.name) && event.payload.truncated !== true;
}

/** The state a state-change event moved to; null for other events. */
export function eventState(event: BatonEvent): State | null {
  return isEvent(event, EventName.FlowRunStateChanged, EventName.TaskRunStateChanged)
    ? event.payload.state
    : null;
}
