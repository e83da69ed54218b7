import { describe, expect, it } from "vitest";
import { AutomationTrigger, EventTrigger, isCombinedTrigger, type StoredEvent } from "../api/automations.js";
import {
  freshCombinedState,
  freshWindow,
  matchesTrigger,
  observeCombined,
  observeMatch,
  proactiveDue,
  type CombinedState,
  type TriggerWindow,
} from "./triggers.js";

const T0 = Date.parse("2030-01-01T00:00:00.000Z");
const at = (seconds: number): string => new Date(T0 + seconds * 1000).toISOString();
const trigger = (input: object) => EventTrigger.parse(input);

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

describe("observeCombined", () => {
  const custom = (name: string, seconds: number): StoredEvent => ({
    ...failed,
    id: `${name}-${seconds}`,
    name,
    occurred: at(seconds),
    resource: { kind: "event", id: name },
    flowRunId: null,
    payload: {},
  });
  const combined = (input: object) => {
    const parsed = AutomationTrigger.parse(input);
    if (!isCombinedTrigger(parsed)) throw new Error("not combined");
    return parsed;
  };
  /** The seconds (of the events given as [name, seconds]) at which the trigger fires. */
  function firings(input: object, events: [string, number][]): number[] {
    const trigger = combined(input);
    let state: CombinedState = freshCombinedState(trigger, new Date(T0));
    const fired: number[] = [];
    for (const [name, seconds] of events) {
      const seen = observeCombined(trigger, state, custom(name, seconds));
      state = seen.state;
      if (seen.fires) fired.push(seconds);
    }
    return fired;
  }
  const a = { events: ["shop.a"] };
  const b = { events: ["shop.b"] };
  const c = { events: ["shop.c"] };

  it("fires a compound 'all' on the last of its triggers within the window, then starts afresh", () => {
    const all = { type: "compound", require: "all", triggers: [a, b], within: 60 };
    expect(firings(all, [["shop.a", 0]])).toEqual([]);
    expect(
      firings(all, [
        ["shop.a", 0],
        ["shop.a", 10],
        ["shop.b", 20],
      ]),
    ).toEqual([20]);
    expect(
      firings(all, [
        ["shop.a", 0],
        ["shop.b", 61],
      ]),
    ).toEqual([]);
    expect(
      firings(all, [
        ["shop.a", 0],
        ["shop.b", 10],
        ["shop.b", 20],
        ["shop.a", 30],
      ]),
    ).toEqual([10, 30]);
  });

  it("fires a compound 'any' on each match, and a number when that many match", () => {
    expect(
      firings({ type: "compound", require: "any", triggers: [a, b], within: 60 }, [
        ["shop.a", 0],
        ["shop.b", 1],
        ["shop.c", 2],
      ]),
    ).toEqual([0, 1]);
    expect(
      firings({ type: "compound", require: 2, triggers: [a, b, c], within: 60 }, [
        ["shop.c", 0],
        ["shop.c", 5],
        ["shop.a", 100],
        ["shop.b", 110],
      ]),
    ).toEqual([110]);
  });

  it("fires a sequence only in its order within the window of its first step", () => {
    const sequence = { type: "sequence", triggers: [a, b], within: 60 };
    expect(
      firings(sequence, [
        ["shop.b", 0],
        ["shop.a", 10],
      ]),
    ).toEqual([]);
    expect(
      firings(sequence, [
        ["shop.a", 0],
        ["shop.b", 10],
      ]),
    ).toEqual([10]);
    expect(
      firings(sequence, [
        ["shop.a", 0],
        ["shop.b", 61],
      ]),
    ).toEqual([]);
    // A later first step starts the window again.
    expect(
      firings(sequence, [
        ["shop.a", 0],
        ["shop.a", 50],
        ["shop.b", 100],
      ]),
    ).toEqual([100]);
    expect(
      firings({ type: "sequence", triggers: [a, b, c], within: 60 }, [
        ["shop.a", 0],
        ["shop.c", 1],
        ["shop.b", 2],
        ["shop.c", 3],
        ["shop.c", 4],
      ]),
    ).toEqual([3]);
  });

  it("counts a step's threshold before the step matches", () => {
    const twice = { events: ["shop.a"], threshold: 2, withinSeconds: 60 };
    expect(
      firings({ type: "sequence", triggers: [twice, b], within: 60 }, [
        ["shop.a", 0],
        ["shop.b", 1],
        ["shop.a", 2],
        ["shop.b", 3],
      ]),
    ).toEqual([3]);
  });

  it("refuses what cannot work, naming it", () => {
    const issue = (input: object) => {
      const error = AutomationTrigger.safeParse(input).error;
      return error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    };
    expect(issue({ type: "compound", require: "all", triggers: [], within: 60 })).toMatch(
      /^triggers: triggers is empty/,
    );
    expect(
      issue({
        type: "sequence",
        triggers: [a, { type: "compound", require: "all", triggers: [a], within: 5 }],
        within: 60,
      }),
    ).toMatch(/^triggers\.1: a compound trigger cannot be nested/);
    expect(issue({ type: "sequence", triggers: [a], within: 0 })).toMatch(
      /^within: within must be .* above 0/,
    );
    expect(issue({ type: "sequence", triggers: [a], within: 86_400 * 31 })).toMatch(
      /^within: within is at most 30 days/,
    );
    expect(issue({ type: "sequence", triggers: [a] })).toMatch(/^within: within is required/);
    expect(issue({ type: "sequence", triggers: [a], within: "60" })).toBe(
      "within: within is a number of seconds",
    );
    expect(issue({ type: "compound", require: 3, triggers: [a, b], within: 5 })).toMatch(
      /^require: require is more than the number of triggers/,
    );
    expect(
      issue({
        type: "compound",
        require: "all",
        triggers: [{ ...a, posture: "proactive", withinSeconds: 5 }],
        within: 5,
      }),
    ).toMatch(/^triggers\.0\.posture: .*reactive event triggers/);
    expect(issue({ type: "chain", triggers: [a], within: 5 })).toMatch(/^type: type is 'event'/);
  });
});
