import { describe, expect, it } from "vitest";
import { EventName, makeState, newId } from "@baton/core";
import { EventBus } from "../src/index.js";
import { runsAsWrittenBy } from "../src/store/runs-as-written.js";
import type { LockedRun } from "../src/store/set-state.js";

/** A run as a change left it, its state `stateText` long at least. */
const written = (stateText = ""): LockedRun => ({
  state: JSON.stringify({ ...makeState({ type: "RUNNING" }), message: stateText }),
  runCount: 1,
  retries: 0,
  retryDelaySeconds: "[]",
  tags: "[]",
  startTime: null,
  attempt: 1,
  deploymentId: null,
  flowRunId: null,
  flowRunState: null,
  cacheKey: null,
  related: null,
});
const flowRun = (id: string) => ({ kind: "flow-run", id });

describe("the runs a server keeps as it wrote them", () => {
  it("keeps a flow run and a task run of one id apart, and gives each once", () => {
    const kept = runsAsWrittenBy(new EventBus());
    const id = newId();
    const [flow, task] = [written("flow"), written("task")];
    kept.keep(flowRun(id), flow, "RUNNING");
    kept.keep({ kind: "task-run", id }, task, "RUNNING");
    expect(kept.take(flowRun(id))).toBe(flow);
    expect(kept.take({ kind: "task-run", id })).toBe(task);
    expect(kept.take(flowRun(id))).toBeUndefined();
  });

  it("forgets a run any server changed or deleted, and keeps no finished or large run", () => {
    const events = new EventBus();
    const kept = runsAsWrittenBy(events);
    const [changed, deleted, finished, large] = [newId(), newId(), newId(), newId()];
    for (const id of [changed, deleted]) kept.keep(flowRun(id), written(), "RUNNING");
    // Heard from another server: delivered, not emitted.
    events.deliver({
      id: newId(),
      name: EventName.FlowRunStateChanged,
      occurred: new Date().toISOString(),
      resource: flowRun(changed),
      flowRunId: changed,
      payload: { state: makeState({ type: "CANCELLING" }), previousType: "RUNNING" },
    });
    events.publish(EventName.FlowRunDeleted, flowRun(deleted), deleted, {});
    kept.keep(flowRun(finished), written(), "COMPLETED");
    kept.keep(flowRun(large), written("x".repeat(10_000)), "RUNNING");
    for (const id of [changed, deleted, finished, large]) expect(kept.take(flowRun(id))).toBeUndefined();
  });

  it("forgets the runs kept longest once their states add up past its budget", () => {
    const kept = runsAsWrittenBy(new EventBus());
    // 600 runs of 8,000 characters: 4.8 million, past the 4 million kept.
    const ids = Array.from({ length: 600 }, () => newId());
    for (const id of ids) kept.keep(flowRun(id), written("x".repeat(8_000)), "RUNNING");
    const left = ids.filter((id) => kept.take(flowRun(id)) !== undefined);
    expect(left.length).toBeGreaterThan(400);
    expect(left.length).toBeLessThan(600);
    // The newest are the ones left.
    expect(left).toEqual(ids.slice(ids.length - left.length));
  });
});
