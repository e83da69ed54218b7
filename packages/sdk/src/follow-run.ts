import { setTimeout as sleep } from "node:timers/promises";
import type { BatonClient } from "@baton/client";
import { BatonError, EventName, isEvent, type State } from "@baton/core";

/** Errors after which following a run again cannot help: the key is refused, the run is gone. */
const FINAL_CODES: readonly string[] = [
  "unauthenticated",
  "permission_denied",
  "not_found",
  "invalid_argument",
];

/**
 * Tells `onState` each state flow run `flowRunId` enters until `stop` aborts, through its events,
 * and its state as read whenever the stream opens, so that a change made while it was closed is seen
 * too. A stream that breaks is opened again, through a server restart and whatever a starting server
 * answers meanwhile; rejects only when following cannot go on (the key refused, the run deleted).
 */
export async function followFlowRun(
  client: BatonClient,
  flowRunId: string,
  stop: AbortSignal,
  onState: (state: State | null) => void,
): Promise<void> {
  while (!stop.aborted) {
    try {
      await client.events(
        {
          flowRunId,
          names: [EventName.FlowRunStateChanged],
          signal: stop,
          resume: true,
          onOpen: () => {
            client.api.readFlowRun({ params: { id: flowRunId } }).then(
              (run) => onState(run.state),
              () => undefined,
            );
          },
        },
        (event) => {
          if (isEvent(event, EventName.FlowRunStateChanged)) onState(event.payload.state);
        },
      );
    } catch (error) {
      if (stop.aborted) return;
      if (error instanceof BatonError && FINAL_CODES.includes(error.code)) throw error;
    }
    await sleep(1000, undefined, { signal: stop }).catch(() => undefined);
  }
}
