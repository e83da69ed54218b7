import type { BatonClient } from "@baton/client";
import type { FlowRun } from "@baton/core";
import { sendHeartbeats } from "./heartbeats.js";

/** A run proposed RUNNING before its flow was loaded; see startEarly. */
export interface EarlyStart {
  /** The run as the proposal left it: RUNNING when accepted, else as it was handed over. */
  flowRun: FlowRun;
  /** Stops this process's heartbeats for the run: call it as the flow's run takes them over. */
  release: () => void;
}

/**
 * Proposes RUNNING for a run handed to this process (a worker's runner) while its flow module is still
 * loading, since the two are independent. From its acceptance the run's heartbeats are sent from here,
 * until `release`: while RUNNING, only the process's heartbeats say the run is alive, and a module slow
 * to load must not be taken for a crash. Run the flow with `startedByClaim` and the answered run: an
 * accepted RUNNING is not proposed again; anything else (refused, waiting, not reached) is, by the
 * flow, which then follows the rules' answer as without this. A heartbeat answered as stale aborts
 * `controller`, as the flow's own do.
 */
export async function startEarly(
  client: BatonClient,
  flowRun: FlowRun,
  attempt: number | undefined,
  controller: AbortController,
): Promise<EarlyStart> {
  // Fenced as the flow's own proposals are: by the attempt this process was started for.
  const fenced = { attempt: attempt ?? flowRun.attempt };
  const verdict = await client.api
    .setFlowRunState({ params: { id: flowRun.id }, body: { state: { type: "RUNNING" }, ...fenced } })
    .catch(() => undefined);
  if (verdict?.status !== "ACCEPT" || verdict.state?.type !== "RUNNING") {
    return { flowRun, release: () => undefined };
  }
  const release = sendHeartbeats(
    () => client.api.heartbeatFlowRun({ params: { id: flowRun.id }, body: fenced }),
    controller,
    `flow run '${flowRun.name}'`,
  );
  return { flowRun: { ...flowRun, state: verdict.state }, release };
}
