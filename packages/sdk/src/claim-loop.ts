import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { BatonClient } from "@baton/client";
import type { ClaimedRun, ClaimRequest } from "@baton/core";
import { heartbeatIntervalMs } from "./heartbeats.js";

/** How long one claim waits on the server for a run; a run created meanwhile answers it at once. */
export const LONG_POLL_SECONDS = 20;

export interface ClaimLoopOptions {
  client: BatonClient;
  request: Omit<ClaimRequest, "limit" | "waitSeconds" | "claimId" | "resent">;
  /** Runs carried out at once, at most. */
  capacity: number;
  signal: AbortSignal;
  /** Carries out a claimed run; resolves when it is finished here. */
  start(run: ClaimedRun): Promise<void>;
  onError(error: unknown): void;
}

/**
 * Claims runs whenever there is room and starts them. Each claim is a long poll, so a new run starts
 * as soon as the server has it, not after a polling interval; while the server is unreachable the
 * loop backs off and tries again. Resolves once stopped and every started run has finished.
 */
export function claimLoop(options: ClaimLoopOptions): Promise<void> {
  const { client, signal } = options;
  return claimEach({
    ...options,
    claim: async (limit, claim) =>
      (
        await client.api.claimFlowRuns(
          { body: { ...options.request, limit, waitSeconds: LONG_POLL_SECONDS, ...claim } },
          signal,
        )
      ).runs,
  });
}

/**
 * The claim loop over any kind of claim: `claim` long-polls for at most `limit` runs, in a claim
 * named `claimId`. A claim that got no answer is sent again under the same name, `resent`: if the
 * server took runs for it and its answer was lost (the server died after the COMMIT, the connection
 * dropped), it answers those runs again rather than leave them held by nobody until crash detection
 * ends them.
 */
export async function claimEach<T>(options: {
  capacity: number;
  signal: AbortSignal;
  claim(limit: number, claim: { claimId: string; resent: boolean }): Promise<T[]>;
  start(run: T): Promise<void>;
  onError(error: unknown): void;
}): Promise<void> {
  const { signal } = options;
  const running = new Set<Promise<void>>();
  let backoff = 0;
  let claim = { claimId: randomUUID(), resent: false };
  while (!signal.aborted) {
    if (running.size >= options.capacity) {
      await Promise.race(running);
      continue;
    }
    let runs: T[];
    try {
      runs = await options.claim(options.capacity - running.size, claim);
      backoff = 0;
      claim = { claimId: randomUUID(), resent: false };
    } catch (error) {
      if (signal.aborted) break;
      options.onError(error);
      claim = { ...claim, resent: true };
      // At most a heartbeat's interval apart: runs the unanswered claim took have no heartbeat until
      // it is answered, and the server must hear of them before it takes them for crashed.
      backoff = Math.min(backoff * 2 || 500, heartbeatIntervalMs());
      await sleep(backoff, undefined, { signal }).catch(() => undefined);
      continue;
    }
    for (const run of runs) {
      const started: Promise<void> = options
        .start(run)
        .catch((error: unknown) => options.onError(error))
        .finally(() => running.delete(started));
      running.add(started);
    }
  }
  await Promise.allSettled(running);
}
