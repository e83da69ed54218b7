import { setTimeout as sleep } from "node:timers/promises";
import type { BatonClient } from "@baton/client";
import type { ClaimedRun, ClaimRequest } from "@baton/core";

/** How long one claim waits on the server for a run; a run created meanwhile answers it at once. */
export const LONG_POLL_SECONDS = 20;
const MAX_BACKOFF_SECONDS = 10;

export interface ClaimLoopOptions {
  client: BatonClient;
  request: Omit<ClaimRequest, "limit" | "waitSeconds">;
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
    claim: async (limit) =>
      (
        await client.api.claimFlowRuns(
          { body: { ...options.request, limit, waitSeconds: LONG_POLL_SECONDS } },
          signal,
        )
      ).runs,
  });
}

/** The claim loop over any kind of claim: `claim` long-polls for at most `limit` runs. */
export async function claimEach<T>(options: {
  capacity: number;
  signal: AbortSignal;
  claim(limit: number): Promise<T[]>;
  start(run: T): Promise<void>;
  onError(error: unknown): void;
}): Promise<void> {
  const { signal } = options;
  const running = new Set<Promise<void>>();
  let backoff = 0;
  while (!signal.aborted) {
    if (running.size >= options.capacity) {
      await Promise.race(running);
      continue;
    }
    let runs: T[];
    try {
      runs = await options.claim(options.capacity - running.size);
      backoff = 0;
    } catch (error) {
      if (signal.aborted) break;
      options.onError(error);
      backoff = Math.min(backoff * 2 || 0.5, MAX_BACKOFF_SECONDS);
      await sleep(backoff * 1000, undefined, { signal }).catch(() => undefined);
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
