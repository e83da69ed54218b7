import type { Pause, State } from "@baton/core";

/**
 * What a PAUSED state waits for, or null: another state, or PAUSED without a pause (proposed through
 * the API by hand), which the resume route refuses as not waiting.
 */
export function pauseOf(state: State | null | undefined): Pause | null {
  return state?.type === "PAUSED" ? (state.pause ?? null) : null;
}
