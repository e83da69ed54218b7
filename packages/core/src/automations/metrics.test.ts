import { describe, expect, it } from "vitest";
import { MetricTrigger } from "../api/automations.js";
import { freshMetricState, metricStateOf, metricValue, observeMetric, type MetricState } from "./metrics.js";

const trigger = (fields: Partial<MetricTrigger> = {}): MetricTrigger =>
  MetricTrigger.parse({
    type: "metric",
    metric: "failure-ratio",
    operator: ">",
    threshold: 0.5,
    rangeSeconds: 3600,
    ...fields,
  });
const T0 = new Date("2026-01-01T00:00:00.000Z");
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);
const breaching = (since: number, fired: boolean): MetricState => ({
  breachingSince: at(since).toISOString(),
  fired,
});

describe("metricValue", () => {
  it.each([
    ["failure-ratio of 4 runs, 3 failed", {}, { runs: 4, failed: 3, meanDurationSeconds: 10 }, 0.75],
    [
      "mean-duration",
      { metric: "mean-duration" as const, threshold: 60 },
      { runs: 2, failed: 0, meanDurationSeconds: 90 },
      90,
    ],
    ["no runs: nothing to say", {}, { runs: 0, failed: 0, meanDurationSeconds: null }, null],
    ["fewer runs than minRuns", { minRuns: 5 }, { runs: 4, failed: 4, meanDurationSeconds: 1 }, null],
    [
      "runs that never started have no duration",
      { metric: "mean-duration" as const },
      { runs: 1, failed: 1, meanDurationSeconds: null },
      null,
    ],
  ])("%s", (_, fields, sample, expected) => {
    expect(metricValue(trigger(fields), sample)).toBe(expected);
  });
});

describe("observeMetric", () => {
  const fresh = freshMetricState();
  it.each<[string, Partial<MetricTrigger>, MetricState, number | null, number, MetricState, boolean]>([
    // name, trigger fields, state before, value, now (s), state after, fires
    ["below the threshold: nothing", {}, fresh, 0.4, 0, fresh, false],
    ["at the threshold of '>': nothing", {}, fresh, 0.5, 0, fresh, false],
    ["at the threshold of '>=': fires", { operator: ">=" }, fresh, 0.5, 0, breaching(0, true), true],
    ["past it: fires at once without firingFor", {}, fresh, 0.75, 0, breaching(0, true), true],
    [
      "still past it after firing: does not fire again",
      {},
      breaching(0, true),
      0.9,
      60,
      breaching(0, true),
      false,
    ],
    ["back below after firing: resolved, re-armed", {}, breaching(0, true), 0.2, 120, fresh, false],
    [
      "past it with firingFor: starts counting",
      { firingForSeconds: 300 },
      fresh,
      0.8,
      0,
      breaching(0, false),
      false,
    ],
    [
      "past it not long enough yet",
      { firingForSeconds: 300 },
      breaching(0, false),
      0.8,
      299,
      breaching(0, false),
      false,
    ],
    [
      "past it for firingFor: fires",
      { firingForSeconds: 300 },
      breaching(0, false),
      0.8,
      300,
      breaching(0, true),
      true,
    ],
    [
      "back below before firingFor: starts over",
      { firingForSeconds: 300 },
      breaching(0, false),
      0.1,
      200,
      fresh,
      false,
    ],
    ["no value: the state stays as it was", {}, breaching(0, true), null, 500, breaching(0, true), false],
    [
      "'<': a mean duration below",
      { metric: "mean-duration", operator: "<", threshold: 5 },
      fresh,
      2,
      0,
      breaching(0, true),
      true,
    ],
    [
      "'<=': a mean duration above",
      { metric: "mean-duration", operator: "<=", threshold: 5 },
      fresh,
      6,
      0,
      fresh,
      false,
    ],
  ])("%s", (_, fields, before, value, now, after, fires) => {
    expect(observeMetric(trigger(fields), before, value, at(now))).toEqual({ state: after, fires });
  });

  it("fires once while the ratio stays past the threshold, and again after it resolved", () => {
    const values = [0.2, 0.6, 0.7, 0.8, 0.3, 0.9, 0.9];
    let state = freshMetricState();
    const fired = values.map((value, second) => {
      const seen = observeMetric(trigger(), state, value, at(second));
      state = seen.state;
      return seen.fires;
    });
    expect(fired).toEqual([false, true, false, false, false, true, false]);
  });
});

describe("metricStateOf", () => {
  it("reads a stored state, and starts afresh from another trigger's", () => {
    expect(metricStateOf(breaching(0, true))).toEqual(breaching(0, true));
    expect(metricStateOf(null)).toEqual(freshMetricState());
    expect(metricStateOf({ windows: [], matched: [] })).toEqual(freshMetricState());
  });
});

describe("MetricTrigger", () => {
  it.each([
    [{ threshold: 1.5 }, "threshold", "a failure-ratio threshold is a ratio from 0 to 1"],
    [{ rangeSeconds: 10 }, "rangeSeconds", "rangeSeconds is at least 60"],
    [{ operator: "=" }, "operator", "operator is one of > >= < <="],
    [{ metric: "p99" }, "metric", "metric is one of failure-ratio, mean-duration"],
  ])("refuses %o, naming %s", (fields, path, message) => {
    const parsed = MetricTrigger.safeParse({
      type: "metric",
      metric: "failure-ratio",
      operator: ">",
      threshold: 0.5,
      rangeSeconds: 3600,
      ...fields,
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual([path]);
    expect(parsed.error?.issues[0]?.message).toContain(message);
  });
});
