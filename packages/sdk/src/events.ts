import type { EventCreate, JsonObject, StoredEvent } from "@baton/core";
import { currentRun } from "./context.js";
import { requiredClient } from "./settings.js";

export interface EmitEventOptions {
  /** The event's name: lowercase words joined by dots (`orders.shipped`), not one of Baton's own. */
  event: string;
  /**
   * What the event is about (`{ kind: "order", id: "1234" }`). Inside a run: the task run or flow run
   * it is sent from, unless given; elsewhere: the event's name.
   */
  resource?: { kind: string; id: string };
  /** Any JSON object: automations' templates read it as `{{ event.payload.<field> }}`. */
  payload?: JsonObject;
  /**
   * The flow run the event relates to (its flow, deployment, work pool and tags become the
   * event's). Inside a flow run: that run, unless given; null relates it to none.
   */
  flowRunId?: string | null;
}

/**
 * Sends a custom event to the server at BATON_API_URL (inside a tracked run: the run's server). It is
 * stored and streamed with Baton's own events, shown on the dashboard's Events page, and automations
 * can trigger on its name. Answers the event as stored.
 */
export async function emitEvent(options: EmitEventOptions): Promise<StoredEvent> {
  const run = currentRun();
  const client = run?.client ?? requiredClient(`event '${options.event}'`);
  const flowRunId = options.flowRunId === undefined ? (run?.flowRunId ?? null) : options.flowRunId;
  const resource =
    options.resource ??
    (run?.taskRunId
      ? { kind: "task-run", id: run.taskRunId }
      : flowRunId && flowRunId === run?.flowRunId
        ? { kind: "flow-run", id: flowRunId }
        : undefined);
  const body: EventCreate = {
    event: options.event,
    ...(resource ? { resource } : {}),
    ...(flowRunId ? { flowRunId } : {}),
    ...(options.payload ? { payload: options.payload } : {}),
  };
  return client.api.createEvent({ body });
}
