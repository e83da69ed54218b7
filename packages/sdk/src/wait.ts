import type { BatonClient } from "@baton/client";
import { BatonError, EventName, isEvent, isTerminal, type State } from "@baton/core";

export interface FollowRun<T extends { state: State | null }> {
  client: BatonClient;
  /** Reads the run. */
  read: () => Promise<T>;
  kind: "flow" | "task";
  id: string;
  /** The run's flow run, to narrow the stream (a flow run; null for a background task run). */
  flowRunId: string | null;
  timeoutSeconds?: number | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * Follows a run's state changes until it is finished, the timeout passes or `signal` aborts (only
 * the waiting stops), and returns the run as it is then.
 */
export async function waitUntilFinished<T extends { state: State | null }>(run: FollowRun<T>): Promise<T> {
  const { client, signal } = run;
  const name = run.kind === "flow" ? EventName.FlowRunStateChanged : EventName.TaskRunStateChanged;
  const stop = new AbortController();
  if (signal?.aborted) stop.abort();
  signal?.addEventListener("abort", () => stop.abort(), { once: true });
  const timer =
    run.timeoutSeconds === undefined ? undefined : setTimeout(() => stop.abort(), run.timeoutSeconds * 1000);
  const check = async () => {
    if (isTerminal((await run.read()).state?.type)) stop.abort();
  };
  let failure: BatonError | undefined;
  const fail = (error: unknown) => {
    failure = BatonError.from(error);
    stop.abort();
  };
  try {
    // The stream ends if the server restarts: open it again until the run is finished.
    while (!stop.signal.aborted) {
      await client
        .events(
          {
            ...(run.flowRunId ? { flowRunId: run.flowRunId } : {}),
            names: [name],
            signal: stop.signal,
            resume: true,
            // A run that ended before the stream opened is seen by reading it once it is open.
            onOpen: () => void check().catch(fail),
          },
          (event) => {
            if (
              (isEvent(event, EventName.FlowRunStateChanged) ||
                isEvent(event, EventName.TaskRunStateChanged)) &&
              event.resource.id === run.id &&
              isTerminal(event.payload.state.type)
            ) {
              stop.abort();
            }
          },
        )
        .catch((error: unknown) => {
          if (!stop.signal.aborted) throw error;
        });
    }
  } finally {
    clearTimeout(timer);
  }
  if (failure) throw failure;
  return run.read();
}
