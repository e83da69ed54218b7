import type { MetricTrigger } from "../api/automations.js";

/** What the store counted over a metric trigger's range: the runs that ended in it. */
export interface MetricSample {
  /** Flow runs that ended (in any terminal state) in the range. */
  runs: number;
  /** Of those, the ones that FAILED or CRASHED. */
  failed: number;
  /** Their mean run time in seconds (start to end; runs that never started left out); null with none. */
  meanDurationSeconds: number | null;
}

/**
 * What a metric trigger remembers between evaluations, stored with the automation: since when the
 * metric has been past the threshold (null: it is not), and whether the trigger fired for that.
 */
export interface MetricState {
  breachingSince: string | null;
  fired: boolean;
}

export const freshMetricState = (): MetricState => ({ breachingSince: null, fired: false });

/** The state stored, or a fresh one when it is missing or was made for another kind of trigger. */
export function metricStateOf(stored: unknown): MetricState {
  const state = stored as Partial<MetricState> | null | undefined;
  return state && typeof state.fired === "boolean" && state.breachingSince !== undefined
    ? { breachingSince: state.breachingSince, fired: state.fired }
    : freshMetricState();
}

/** The metric's value, or null when too few runs ended in the range to say anything. */
export function metricValue(trigger: MetricTrigger, sample: MetricSample): number | null {
  if (sample.runs < trigger.minRuns) return null;
  return trigger.metric === "failure-ratio" ? sample.failed / sample.runs : sample.meanDurationSeconds;
}

const PAST: Record<MetricTrigger["operator"], (value: number, threshold: number) => boolean> = {
  ">": (value, threshold) => value > threshold,
  ">=": (value, threshold) => value >= threshold,
  "<": (value, threshold) => value < threshold,
  "<=": (value, threshold) => value <= threshold,
};

/**
 * Takes in one evaluation: the state after it, and whether the trigger fires now. It fires once the
 * metric has been past the threshold for `firingForSeconds`, and not again until it has come back
 * (resolved) and gone past once more. With no value (too few runs), nothing changes.
 */
export function observeMetric(
  trigger: MetricTrigger,
  state: MetricState,
  value: number | null,
  now: Date,
): { state: MetricState; fires: boolean } {
  if (value === null) return { state, fires: false };
  if (!PAST[trigger.operator](value, trigger.threshold)) return { state: freshMetricState(), fires: false };
  const since = state.breachingSince ?? now.toISOString();
  const due = now.getTime() - Date.parse(since) >= trigger.firingForSeconds * 1000;
  const fires = due && !state.fired;
  return { state: { breachingSince: since, fired: state.fired || fires }, fires };
}
