import { BatonError, type SetStateResult, type State, type StateInput } from "@baton/core";
import { loadResult, referenceFor, type ResultOptions } from "./results.js";
import type { Orchestrator } from "./orchestrator.js";

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        reject(signal.reason as Error);
      },
      { once: true },
    );
  });

/** A run's code ran past its timeout. */
export class TimeoutError extends BatonError {
  override readonly name = "TimeoutError";
  constructor(what: string, seconds: number) {
    super("timeout", `${what} timed out after ${seconds}s`);
  }
}

/** The run was cancelled (from the API, the dashboard or the CLI) while it ran. */
export class CancelledError extends BatonError {
  override readonly name = "CancelledError";
  constructor(what: string, why = "it was cancelled") {
    super("cancelled", `${what} stopped: ${why}`);
  }
}

/**
 * The server refused this process's attempt: the run crashed or was claimed again while the process
 * was away (frozen, cut off). It must stop and propose nothing more; another attempt carries it out.
 */
export class StaleAttemptError extends BatonError {
  override readonly name = "StaleAttemptError";
  constructor(what: string, why: string) {
    super("conflict", `${what} stopped: ${why}`);
  }
}

/**
 * The flow run was suspended (suspend()): its process stops here, proposing nothing more; the run
 * waits PAUSED and, once resumed, starts again from its deployment.
 */
export class SuspendedError extends BatonError {
  override readonly name = "SuspendedError";
  constructor(what: string, key: string) {
    super("aborted", `${what} is suspended (${key}) until it is resumed; it starts again then`);
  }
}

/** Proposes until the answer is not WAIT, sleeping as told. */
async function settle(
  orchestrator: Orchestrator,
  state: StateInput,
  signal: AbortSignal,
): Promise<SetStateResult> {
  for (;;) {
    const verdict = await orchestrator.propose(state);
    if (verdict.status !== "WAIT") return verdict;
    await sleep(Math.max(0, (verdict.delaySeconds ?? 0) * 1000), signal);
  }
}

export interface AttemptOptions<T> {
  what: string;
  orchestrator: Orchestrator;
  timeoutSeconds?: number | undefined;
  signal: AbortSignal;
  /** Runs one attempt; its signal aborts on timeout or cancellation. */
  body: (signal: AbortSignal) => Promise<T>;
  /** How the result is recorded in the final state. */
  results?: ResultOptions;
  /** Awaited before a final state is proposed, so no log line is lost. */
  beforeFinalState?: () => Promise<void>;
  log?: (message: string) => void;
}

export type RunOutcome<T> =
  { ok: true; value: T; state: State | null } | { ok: false; error: unknown; state: State | null };

/**
 * Drives one run through its states: RUNNING, then COMPLETED or FAILED, retrying whenever the rules
 * turn a failure into AwaitingRetry. A REJECT into a COMPLETED state (a cache hit) returns its result.
 */
export async function runAttempts<T>(options: AttemptOptions<T>): Promise<RunOutcome<T>> {
  const { orchestrator, signal } = options;
  for (;;) {
    const start = await settle(orchestrator, { type: "RUNNING" }, signal);
    if (start.status === "REJECT" && start.state?.type === "COMPLETED") {
      return { ok: true, value: (await loadResult(start.state.data)) as T, state: start.state };
    }
    if (start.status !== "ACCEPT") {
      return {
        ok: false,
        error: new BatonError("aborted", `${options.what} was not started: ${start.reason}`),
        state: start.state,
      };
    }
    const attempt = new AbortController();
    const onAbort = () => attempt.abort(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    try {
      // A timeout or a cancel ends the attempt at once, even if its code ignores the signal.
      const stopped = new Promise<never>((_, reject) => {
        const onStop = () => reject(attempt.signal.reason as Error);
        if (attempt.signal.aborted) onStop();
        else attempt.signal.addEventListener("abort", onStop, { once: true });
      });
      stopped.catch(() => undefined);
      if (options.timeoutSeconds) {
        const seconds = options.timeoutSeconds;
        timer = setTimeout(() => attempt.abort(new TimeoutError(options.what, seconds)), seconds * 1000);
      }
      const value = await Promise.race([options.body(attempt.signal), stopped]);
      await options.beforeFinalState?.();
      const done = await settle(
        orchestrator,
        { type: "COMPLETED", data: await referenceFor(value, options.results ?? {}) },
        signal,
      );
      if (done.status === "ABORT") {
        const error = new BatonError(
          "aborted",
          `${options.what} finished, but its end was refused: ${done.reason}`,
        );
        return { ok: false, error, state: done.state };
      }
      return { ok: true, value, state: done.state };
    } catch (error) {
      await options.beforeFinalState?.();
      // Another attempt holds the run now: anything this one proposed would be refused.
      if (attempt.signal.reason instanceof StaleAttemptError) {
        return { ok: false, error: attempt.signal.reason, state: null };
      }
      // Suspended: the run waits PAUSED, and carries on in another process once resumed.
      const suspended = [attempt.signal.reason, error].find((why) => why instanceof SuspendedError);
      if (suspended) return { ok: false, error: suspended, state: null };
      if (attempt.signal.reason instanceof CancelledError) {
        const cancelled = await orchestrator.propose({
          type: "CANCELLED",
          message: attempt.signal.reason.message,
        });
        return { ok: false, error: attempt.signal.reason, state: cancelled.state };
      }
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      // A timeout is a failure with a name of its own, as in Prefect.
      const timedOut = error instanceof TimeoutError || attempt.signal.reason instanceof TimeoutError;
      const failed = await settle(
        orchestrator,
        { type: "FAILED", ...(timedOut ? { name: "TimedOut" } : {}), message },
        signal,
      );
      if (failed.status === "REJECT" && failed.state?.type === "SCHEDULED") {
        options.log?.(`${failed.state.message ?? "retrying"}`);
        const at = failed.state.scheduledTime ? Date.parse(failed.state.scheduledTime) : Date.now();
        await sleep(Math.max(0, at - Date.now()), signal);
        const pending = await settle(orchestrator, { type: "PENDING" }, signal);
        if (pending.status !== "ACCEPT") return { ok: false, error, state: pending.state };
        continue;
      }
      return { ok: false, error, state: failed.state };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
    }
  }
}
