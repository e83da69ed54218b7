import { STATE_TYPES, type FlowRunHistoryBucket, type StateType } from "@baton/core";
import { describe, expect, it } from "vitest";
import { bucketsFromHistory, HOUR_MS, totals, windowStart } from "./run-buckets.js";

const now = Date.parse("2026-11-23T10:30:00Z");
const bucket = (start: string, counts: Partial<Record<StateType, number>>): FlowRunHistoryBucket => ({
  start,
  counts: { ...Object.fromEntries(STATE_TYPES.map((type) => [type, 0])), ...counts } as Record<
    StateType,
    number
  >,
});

describe("the overview's hourly buckets", () => {
  it("start 23 whole hours before the hour holding now", () => {
    expect(windowStart(now)).toBe(Date.parse("2026-11-22T11:00:00Z"));
    expect(windowStart(now, 1)).toBe(Date.parse("2026-11-23T10:00:00Z"));
  });

  it("take the server's counts hour by hour, an hour missing from its answer counting zero", () => {
    const since = windowStart(now);
    const buckets = bucketsFromHistory(
      [
        bucket("2026-11-22T11:00:00.000Z", { SCHEDULED: 1 }),
        bucket("2026-11-23T09:00:00.000Z", { FAILED: 1 }),
        bucket("2026-11-23T10:00:00.000Z", { RUNNING: 1, COMPLETED: 1 }),
        // Outside the window: left out.
        bucket("2026-11-22T10:00:00.000Z", { COMPLETED: 5 }),
        bucket("2026-11-23T11:00:00.000Z", { COMPLETED: 5 }),
      ],
      since,
    );
    expect(buckets).toHaveLength(24);
    expect(buckets[0]!.start).toBe(Date.parse("2026-11-22T11:00:00Z"));
    expect(buckets[23]!.start).toBe(Date.parse("2026-11-23T10:00:00Z"));
    expect(buckets[23]!.start - buckets[22]!.start).toBe(HOUR_MS);
    expect(buckets[23]!.counts).toMatchObject({ RUNNING: 1, COMPLETED: 1, FAILED: 0 });
    expect(buckets[22]!.counts.FAILED).toBe(1);
    expect(buckets[0]!.counts.SCHEDULED).toBe(1);
    expect(buckets[5]!.counts.COMPLETED).toBe(0);
    expect(totals(buckets)).toMatchObject({ RUNNING: 1, COMPLETED: 1, FAILED: 1, SCHEDULED: 1, CRASHED: 0 });
  });
});
