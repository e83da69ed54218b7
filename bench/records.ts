import { newId, type TaskRunRecord } from "@baton/core";

/**
 * `count` finished task runs of a flow run, as the SDK records tasks it orchestrated itself: each
 * went PENDING → RUNNING → COMPLETED. `first` numbers them.
 */
export function completedTaskRuns(flowRunId: string, first: number, count: number): TaskRunRecord[] {
  const now = Date.now();
  const at = (offset: number) => new Date(now + offset).toISOString();
  return Array.from({ length: count }, (_, i) => ({
    id: newId(),
    flowRunId,
    name: `t-${first + i}`,
    taskKey: "bench",
    dynamicKey: String(first + i),
    tags: [],
    retries: 0,
    retryDelaySeconds: [],
    timeoutSeconds: null,
    runCount: 1,
    states: [
      { type: "PENDING", name: "Pending", timestamp: at(0) },
      { type: "RUNNING", name: "Running", timestamp: at(1) },
      { type: "COMPLETED", name: "Completed", timestamp: at(2) },
    ],
  }));
}
