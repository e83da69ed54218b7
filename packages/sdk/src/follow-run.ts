import type { BatonClient } from "@baton/client";
import { EventName, isEvent, type State } from "@baton/core";

/**
 * Tells `onState` each state flow run `flowRunId` enters until `stop` aborts, through its events,
 * resumed through a server restart; and its state as read once the stream is open, so that a change
 * made before is seen too. Rejects when the stream cannot be followed.
 */
export function followFlowRun(
  client: BatonClient,
  flowRunId: string,
  stop: AbortSignal,
  onState: (state: State | null) => void,
): Promise<void> {
  return client.events(
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
}
