import type { FlowRun, StateType } from "@baton/core";
import { describe, expect, it } from "vitest";
import { bucketByHour, HOUR_MS, totals } from "./run-buckets.js";

const now = Date.parse("2026-11-23T10:30:00Z");
const run = (created: string, type: StateType | null) =>
  ({ created, state: type ? { type } : null }) as unknown as FlowRun;

describe("bucketByHour", () => {
  it("counts runs by the hour they were created in and the state they are in now", () => {
    const buckets = bucketByHour(
      [
        run("2026-11-23T10:05:00Z", "RUNNING"),
        run("2026-11-23T10:29:00Z", "COMPLETED"),
        run("2026-11-23T09:59:59Z", "FAILED"),
        run("2026-11-22T11:00:00Z", null),
        // Before the first hour, and after now's hour (a clock running ahead): left out.
        run("2026-11-22T10:59:59Z", "COMPLETED"),
        run("2026-11-23T11:00:00Z", "COMPLETED"),
      ],
      now,
    );
    expect(buckets).toHaveLength(24);
    expect(buckets[0]!.start).toBe(Date.parse("2026-11-22T11:00:00Z"));
    expect(buckets[23]!.start).toBe(Date.parse("2026-11-23T10:00:00Z"));
    expect(buckets[23]!.start - buckets[22]!.start).toBe(HOUR_MS);
    expect(buckets[23]!.counts).toMatchObject({ RUNNING: 1, COMPLETED: 1, FAILED: 0 });
    expect(buckets[22]!.counts.FAILED).toBe(1);
    expect(buckets[0]!.counts.SCHEDULED).toBe(1);
    expect(totals(buckets)).toMatchObject({ RUNNING: 1, COMPLETED: 1, FAILED: 1, SCHEDULED: 1, CRASHED: 0 });
  });
});
