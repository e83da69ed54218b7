import { BatonError } from "@baton/core";
import { StaleAttemptError } from "./engine.js";

/** How often a process tells the server a run it holds is alive. */
export const heartbeatIntervalMs = () => Number(process.env.BATON_HEARTBEAT_INTERVAL_SECONDS || 10) * 1000;

/**
 * Sends `beat` (one heartbeat of a flow run or a background task run) every interval until the
 * answered function is called. Heartbeats keep a run from being taken for crashed; a failed one is
 * retried at the next beat. When the server answers that this attempt is stale (the run crashed and
 * was claimed again while this process was frozen, say), the run stops at once: `controller` aborts,
 * and another attempt carries it out now.
 */
export function sendHeartbeats(
  beat: () => Promise<unknown>,
  controller: AbortController,
  what: string,
): () => void {
  const timer = setInterval(() => {
    beat().catch((error: unknown) => {
      if (error instanceof BatonError && error.code === "conflict") {
        controller.abort(new StaleAttemptError(what, error.message));
      }
    });
  }, heartbeatIntervalMs());
  timer.unref();
  return () => clearInterval(timer);
}
