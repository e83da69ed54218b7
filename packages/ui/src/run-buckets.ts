/** Flow runs counted by hour and state, for the overview's chart: the server counts them. */
import { STATE_TYPES, type FlowRunHistoryBucket, type StateType } from "@baton/core";

export const HOUR_MS = 3_600_000;

export interface HourBucket {
  /** The hour's start, in milliseconds since the epoch. */
  start: number;
  counts: Record<StateType, number>;
}

const zeroCounts = (): Record<StateType, number> =>
  Object.fromEntries(STATE_TYPES.map((type) => [type, 0])) as Record<StateType, number>;

/** The start of the window of `hours` whole hours up to and including the one holding `now`. */
export function windowStart(now: number, hours = 24): number {
  return Math.floor(now / HOUR_MS) * HOUR_MS - (hours - 1) * HOUR_MS;
}

/**
 * The server's history (GET /api/flow-runs/history, hourly from `windowStart`) as the chart's
 * buckets: `hours` of them from `since`, an hour the answer lacks counting zero.
 */
export function bucketsFromHistory(history: FlowRunHistoryBucket[], since: number, hours = 24): HourBucket[] {
  const buckets = Array.from({ length: hours }, (_, index) => ({
    start: since + index * HOUR_MS,
    counts: zeroCounts(),
  }));
  for (const bucket of history) {
    const target = buckets[Math.round((Date.parse(bucket.start) - since) / HOUR_MS)];
    if (!target) continue;
    for (const type of STATE_TYPES) target.counts[type] += bucket.counts[type] ?? 0;
  }
  return buckets;
}

/** Totals over all buckets, by state type. */
export function totals(buckets: HourBucket[]): Record<StateType, number> {
  const sum = zeroCounts();
  for (const bucket of buckets) for (const type of STATE_TYPES) sum[type] += bucket.counts[type];
  return sum;
}
