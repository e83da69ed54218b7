import { describe, expect, it } from "vitest";
import type { BatonEvent } from "./api/models.js";
import {
  EVENT_NAMES,
  EventName,
  STORED_EVENTS,
  TRUNCATED_PAYLOAD,
  customEventNameProblem,
  eventState,
  isStoredEventName,
  isEvent,
  type EventPayloads,
} from "./events.js";

const state = { type: "FAILED", name: "Failed", timestamp: "2030-01-01T00:00:00.000Z" } as const;
const event = (name: string, payload: BatonEvent["payload"]): BatonEvent => ({
  id: "01900000-0000-7000-8000-000000000001",
  name,
  occurred: state.timestamp,
  resource: { kind: "flow-run", id: "r1" },
  flowRunId: "r1",
  payload,
});
const changed = event(EventName.FlowRunStateChanged, { state, previousType: "RUNNING" });

describe("the event catalogue", () => {
  it("lists each name once, the stored ones among them", () => {
    expect(new Set(EVENT_NAMES).size).toBe(EVENT_NAMES.length);
    expect(EVENT_NAMES).toEqual(expect.arrayContaining([...STORED_EVENTS]));
  });

  it("types each payload by its name", () => {
    // @ts-expect-error: a state change carries a state, not a flow run
    const wrong: EventPayloads["flow-run.state-changed"] = { flowRun: {} };
    expect(wrong).toBeDefined();
  });
});

describe("isEvent", () => {
  it("narrows to the names given, payload included", () => {
    expect(isEvent(changed, EventName.FlowRunStateChanged)).toBe(true);
    expect(isEvent(changed, EventName.Log, EventName.TaskRunStateChanged)).toBe(false);
    if (isEvent(changed, EventName.FlowRunStateChanged)) expect(changed.payload.previousType).toBe("RUNNING");
  });

  it("leaves out an event that came from another server without its payload", () => {
    expect(isEvent(event(EventName.Log, TRUNCATED_PAYLOAD), EventName.Log)).toBe(false);
  });

  it("leaves out names of others' events", () => {
    expect(isEvent(event("acme.shipped", {}), EventName.FlowRunCreated)).toBe(false);
  });
});

describe("eventState", () => {
  it("is the state a flow run or task run moved to", () => {
    expect(eventState(changed)).toEqual(state);
    expect(eventState({ ...changed, name: EventName.TaskRunStateChanged })).toEqual(state);
  });

  it("is null for other events", () => {
    expect(eventState(event(EventName.FlowRunDeleted, {}))).toBeNull();
  });
});

describe("custom event names", () => {
  it("are lowercase dotted words", () => {
    for (const name of ["github.push", "billing.invoice-paid", "deploy_done", "shop.v2.order"]) {
      expect(customEventNameProblem(name)).toBeNull();
    }
    for (const name of ["", "Github.push", "github push", "github..push", ".push", "push.", "a/b"]) {
      expect(customEventNameProblem(name)).toMatch(/lowercase words/);
    }
    expect(customEventNameProblem(`a${".b".repeat(60)}`)).toMatch(/over the 100/);
  });

  it("never are Baton's own", () => {
    for (const name of [...EVENT_NAMES, "flow-run.anything", "worker.fake", "baton.x"]) {
      expect(customEventNameProblem(name)).toMatch(/is Baton's own/);
    }
  });

  it("are stored (automations may trigger on them) as Baton's stored events are", () => {
    expect(isStoredEventName("github.push")).toBe(true);
    expect(isStoredEventName("flow-run.state-changed")).toBe(true);
    expect(isStoredEventName("log")).toBe(false);
    expect(isStoredEventName("flow-run.created")).toBe(false);
  });
});
