import { hostname } from "node:os";
import type { BatonClient } from "@baton/client";
import {
  BatonError,
  DEFAULT_LEASE_SECONDS,
  MAX_ACQUIRE_WAIT_SECONDS,
  type GlobalConcurrencyLimit,
  type SlotLease,
  type SlotMode,
} from "@baton/core";
import { currentRun } from "./context.js";
import { requiredClient } from "./settings.js";

export interface RateLimitOptions {
  /**
   * Slots to take (of each limit, when there are several).
   * @default 1
   */
  occupy?: number;
  /**
   * Give up with a `timeout` error after waiting this long for the slots.
   * @default wait as long as it takes
   */
  timeoutSeconds?: number;
  /**
   * Stops the wait (a `cancelled` error).
   * @default inside a run: the run's signal (a cancel or timeout of the run)
   */
  signal?: AbortSignal;
}

export interface ConcurrencyOptions extends RateLimitOptions {
  /**
   * How long the slots stay held if this process stops renewing their lease (it renews it every
   * third of this while it holds them): how long a crashed process's slots stay taken, at most.
   * @default 30
   */
  leaseSeconds?: number;
}

/** Slots of global concurrency limits held under one lease, until `release()`. */
export interface ConcurrencySlots {
  /** The lease holding the slots of every limit; null when the limits held none (they are inactive). */
  readonly lease: SlotLease | null;
  /** Gives the slots back (once; later calls do nothing). */
  release(): Promise<void>;
}

/**
 * Runs `body` while holding `occupy` slots of global concurrency limit `names` (or of each of several
 * limits), shared by every process of the server at BATON_API_URL (inside a tracked run: the run's
 * server): waits until the slots are free, holds them while `body` runs, and gives them back when it
 * ends, also when it throws. Answers what `body` answers. Several limits are taken all at once or not
 * at all: nothing is held while waiting, so callers naming them in any order cannot deadlock.
 *
 * ```ts
 * await concurrency("warehouse", () => loadRows(rows), { occupy: 2 });
 * await concurrency(["warehouse", "crm-api"], () => syncCustomers());
 * ```
 */
export async function concurrency<T>(
  names: string | readonly string[],
  body: () => T | Promise<T>,
  options: ConcurrencyOptions = {},
): Promise<T> {
  const slots = await acquireConcurrency(names, options);
  let result: T;
  try {
    result = await body();
  } catch (error) {
    // The body's error is the one to see: a release that fails too leaves a lease that runs out.
    await slots.release().catch(() => {});
    throw error;
  }
  await slots.release();
  return result;
}

/**
 * Takes `occupy` slots of global concurrency limit `names` (or of each of several, all at once),
 * waiting until they are free, and holds them until `release()` (renewing their one lease meanwhile).
 * Prefer `concurrency(names, body)`, which cannot forget the release; use this pair when the slots
 * outlive one call.
 */
export async function acquireConcurrency(
  names: string | readonly string[],
  options: ConcurrencyOptions = {},
): Promise<ConcurrencySlots> {
  const limits = limitsOf(names);
  const client = clientFor(limits);
  const leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const { lease } = await acquire(client, limits, "concurrency", { ...options, leaseSeconds });
  if (!lease) return { lease, release: async () => {} };
  let lost: unknown;
  const renewal = setInterval(
    () => {
      client.api
        .renewGlobalConcurrencyLease({ params: { id: lease.id }, body: { leaseSeconds } })
        .catch((error: unknown) => {
          // Gone (reset, or renewed too late): the slots are no longer held; a network blip may pass.
          if (!isNotFound(error)) return;
          lost = error;
          clearInterval(renewal);
          warn(`the slots of ${describe(limits)} were lost: ${(error as Error).message}`);
        });
    },
    (leaseSeconds * 1000) / 3,
  );
  // Held slots never keep a process alive that has nothing else to do.
  renewal.unref();
  let released: Promise<void> | undefined;
  return {
    lease,
    release: () => {
      released ??= (async () => {
        clearInterval(renewal);
        if (lost) return;
        // A lease that ran out before its holder noticed: its slots are free already.
        await client.api
          .releaseGlobalConcurrencyLease({ params: { id: lease.id } })
          .catch((error: unknown) => {
            if (!isNotFound(error)) throw error;
          });
      })();
      return released;
    },
  };
}

/**
 * Takes `occupy` slots of rate limit `names` (a global concurrency limit with `slotDecayPerSecond`),
 * or of each of several rate limits, all at once, waiting until they are free, and returns: the slots
 * free themselves at each limit's rate, so at most `limit` are taken at once and about
 * `slotDecayPerSecond` a second over time.
 *
 * ```ts
 * for (const page of pages) {
 *   await rateLimit(["github-api", "github-api-per-org"]);
 *   await fetchPage(page);
 * }
 * ```
 */
export async function rateLimit(
  names: string | readonly string[],
  options: RateLimitOptions = {},
): Promise<void> {
  const limits = limitsOf(names);
  await acquire(clientFor(limits), limits, "rate", options);
}

const isNotFound = (error: unknown) => error instanceof BatonError && error.code === "not_found";

const limitsOf = (names: string | readonly string[]): string[] =>
  typeof names === "string" ? [names] : [...names];

/** "global concurrency limit 'a'", or "global concurrency limits 'a', 'b'", for messages. */
const describe = (names: readonly string[]) =>
  `global concurrency limit${names.length === 1 ? "" : "s"} ${names.map((name) => `'${name}'`).join(", ")}`;

function clientFor(names: readonly string[]): BatonClient {
  return currentRun()?.client ?? requiredClient(describe(names));
}

/** Asks the server for the slots until it grants them: each request waits there (a long poll). */
async function acquire(
  client: BatonClient,
  names: readonly string[],
  mode: SlotMode,
  options: ConcurrencyOptions,
): Promise<{ lease: SlotLease | null }> {
  const occupy = options.occupy ?? 1;
  const signal = options.signal ?? currentRun()?.signal;
  const deadline =
    options.timeoutSeconds === undefined ? Infinity : Date.now() + options.timeoutSeconds * 1000;
  for (;;) {
    if (signal?.aborted) throw stoppedWaiting(names, signal);
    const waitSeconds = Math.max(0, Math.min(MAX_ACQUIRE_WAIT_SECONDS, (deadline - Date.now()) / 1000));
    const answer = await client.api
      .acquireGlobalConcurrencySlotsTogether(
        {
          body: {
            names: [...names],
            occupy,
            mode,
            waitSeconds,
            holder: holder(),
            ...(options.leaseSeconds !== undefined ? { leaseSeconds: options.leaseSeconds } : {}),
          },
        },
        signal,
      )
      .catch((error: unknown) => {
        throw signal?.aborted ? stoppedWaiting(names, signal) : error;
      });
    if (answer.granted) return answer;
    if (Date.now() >= deadline) {
      throw new BatonError(
        "timeout",
        `waited ${options.timeoutSeconds} s for ${occupy} slot(s) of ${describe(names)} (${inUse(answer.limits)}): give ${names.length === 1 ? "it" : "them"} more slots or a longer timeoutSeconds`,
      );
    }
  }
}

/** "1 of 2 in use", or "'a': 1 of 1 in use, 'b': 0 of 3 in use". */
const inUse = (limits: readonly GlobalConcurrencyLimit[]) =>
  limits
    .map(
      (limit) =>
        `${limits.length === 1 ? "" : `'${limit.name}': `}${limit.activeSlots} of ${limit.limit} in use`,
    )
    .join(", ");

const stoppedWaiting = (names: readonly string[], signal: AbortSignal) =>
  new BatonError("cancelled", `stopped waiting for ${describe(names)}`, {
    cause: signal.reason,
  });

/** Who holds a lease, as the limit shows it: the run, or this process. */
function holder(): string {
  const run = currentRun();
  if (run?.taskRunId) return `task run ${run.taskRunId}`;
  if (run?.flowRunId) return `flow run ${run.flowRunId}`;
  return `process ${process.pid} on ${hostname()}`;
}

function warn(message: string): void {
  const logger = currentRun()?.logger;
  if (logger) logger.warning(message);
  else console.warn(message);
}
