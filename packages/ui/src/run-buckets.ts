/** Flow runs counted by hour and state, for the overview's chart. */
import { STATE_TYPES, type FlowRun, type StateType } from "@baton/core";

export const HOUR_MS = 3_600_000;

export interface HourBucket {
  /** The hour's start, in milliseconds since the epoch. */
  start: number;
  counts: Record<StateType, number>;
}

const zeroCounts = (): Record<StateType, number> =>
  Object.fromEntries(STATE_TYPES.map((type) => [type, 0])) as Record<StateType, number>;

/**
 * The runs created in the `hours` whole hours up to and including the one holding `now`, counted
 * by the type of the state each is in now; runs without a state yet count as SCHEDULED.
 */
export function bucketByHour(runs: FlowRun[], now: number, hours = 24): HourBucket[] {
  const last = Math.floor(now / HOUR_MS) * HOUR_MS;
  const first = last - (hours - 1) * HOUR_MS;
  const buckets = Array.from({ length: hours }, (_, index) => ({
    start: first + index * HOUR_MS,
    counts: zeroCounts(),
  }));
  for (const run of runs) {
    const index = Math.floor((Date.parse(run.created) - first) / HOUR_MS);
    const bucket = buckets[index];
    if (bucket) bucket.counts[run.state?.type ?? "SCHEDULED"] += 1;
  }
  return buckets;
}

/** Totals over all buckets, by state type. */
export function totals(buckets: HourBucket[]): Record<StateType, number> {
  const sum = zeroCounts();
  for (const bucket of buckets) for (const type of STATE_TYPES) sum[type] += bucket.counts[type];
  return sum;
}
