import { describe, expect, it } from "vitest";
import { AutomationTrigger, type StoredEvent } from "../api/automations.js";
import { freshWindow, matchesTrigger, observeMatch, proactiveDue, type TriggerWindow } from "./triggers.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const trigger = (input: object) => AutomationTrigger.parse(input);

const failed: StoredEvent = {
  id: "01900000-0000-7000-8000-000000000001",
  name: "flow-run.state-changed",
  occurred: at(0),
  resource: { kind: "flow-run", id: "r1" },
  flowRunId: "r1",
  payload: { state: { type: "FAILED", name: "Failed", timestamp: at(0) }, previousType: "RUNNING" },
  related: {
    flowRunName: "otter",
    flowName: "etl",
    deploymentName: "daily",
    workPoolName: "pool",
    tags: ["prod"],
  },
};

describe("matchesTrigger", () => {
  it("needs every filter given to match, any value of a list", () => {
    const all = {
      events: ["flow-run.state-changed"],
      flows: ["etl", "other"],
      deployments: ["etl/daily"],
      workPools: ["pool"],
      tags: ["dev", "prod"],
      stateTypes: ["FAILED", "CRASHED"],
      stateNames: ["Failed"],
    };
    expect(matchesTrigger(trigger(all), failed)).toBe(true);
    for (const [key, value] of Object.entries({
      events: ["task-run.state-changed"],
      flows: ["other"],
      deployments: ["etl/weekly"],
      workPools: ["elsewhere"],
      tags: ["dev"],
      stateTypes: ["COMPLETED"],
      stateNames: ["Crashed"],
    })) {
      expect(matchesTrigger(trigger({ ...all, [key]: value }), failed), key).toBe(false);
    }
  });

  it("does not match a filter on something the event does not have", () => {
    const updated: StoredEvent = { ...failed, name: "deployment.updated", flowRunId: null, payload: {} };
    expect(matchesTrigger(trigger({ events: ["deployment.updated"] }), updated)).toBe(true);
    expect(matchesTrigger(trigger({ events: ["deployment.updated"], stateTypes: ["FAILED"] }), updated)).toBe(
      false,
    );
  });
});

describe("observeMatch", () => {
  /** Feeds events at these seconds; answers the seconds at which the trigger fired. */
  function firings(input: object, seconds: number[]): number[] {
    const t = trigger(input);
    let window: TriggerWindow = freshWindow(new Date(T0 - 1000));
    return seconds.filter((second) => {
      const seen = observeMatch(t, window, at(second));
      window = seen.window;
      return seen.fires;
    });
  }

  it("fires on each matching event when the threshold is 1", () => {
    expect(firings({ events: ["flow-run.state-changed"] }, [0, 1, 2])).toEqual([0, 1, 2]);
  });

  it("fires on the Nth event within the window, then counts afresh", () => {
    const three = { events: ["flow-run.state-changed"], threshold: 3, withinSeconds: 10 };
    expect(firings(three, [0, 1, 2, 3, 4, 5, 6])).toEqual([2, 5]);
    // As in Prefect, the window opens at the first event: 11 is past the window of 0 and opens one,
    // so 5, 11 and 12 do not fire; 30, 31 and 40 do (40 is just within 30's window).
    expect(firings(three, [0, 5, 11, 12, 30, 31, 40])).toEqual([40]);
  });

  it("never fires a proactive trigger on an event: each one restarts its window", () => {
    const t = trigger({ events: ["flow-run.state-changed"], posture: "proactive", withinSeconds: 60 });
    const start = freshWindow(new Date(T0));
    expect(proactiveDue(t, start, new Date(T0 + 59_000))).toBe(false);
    expect(proactiveDue(t, start, new Date(T0 + 60_000))).toBe(true);
    const seen = observeMatch(t, start, at(30));
    expect(seen.fires).toBe(false);
    expect(proactiveDue(t, seen.window, new Date(T0 + 60_000))).toBe(false);
    expect(proactiveDue(t, seen.window, new Date(T0 + 90_000))).toBe(true);
    // An event matched late does not move the window back.
    expect(observeMatch(t, seen.window, at(10)).window.start).toBe(at(30));
  });
});

describe("AutomationTrigger", () => {
  it("refuses what cannot work", () => {
    const refused = (input: object) => AutomationTrigger.safeParse(input).error?.issues[0]?.message;
    expect(refused({ events: ["flow-run.state-changed"], posture: "proactive" })).toMatch(
      /needs withinSeconds/,
    );
    expect(refused({ events: ["flow-run.state-changed"], threshold: 2 })).toMatch(/needs withinSeconds/);
    expect(
      refused({ events: ["flow-run.state-changed"], posture: "proactive", threshold: 2, withinSeconds: 5 }),
    ).toMatch(/no threshold/);
    expect(refused({ events: ["flow-run.state-changed"], deployments: ["no-slash"] })).toMatch(
      /<flow name>\/<deployment name>/,
    );
  });
});
