import { makeState, TERMINAL_STATE_TYPES, type State } from "../states.js";
import type { Rule, TransitionContext, Verdict } from "./types.js";

const keep = (ctx: TransitionContext, reason: string): Verdict =>
  ctx.initial ? { status: "REJECT", state: ctx.initial, reason } : { status: "ABORT", reason };

const describe = (state: State | null): string => (state ? `${state.name} (${state.type})` : "no state");

/**
 * Only the attempt that holds a flow run may move it or its task runs. A process whose attempt is
 * older (frozen past the heartbeat timeout, its run crashed and claimed again since) is told to stop,
 * so it can neither finish the run under the new attempt nor give back slots the new attempt holds.
 * Proposals that carry no attempt (a person cancelling, say) are not fenced.
 */
export const fenceStaleAttempts: Rule = {
  name: "fence-stale-attempts",
  runKinds: ["flow", "task"],
  from: "any",
  to: "any",
  apply(ctx) {
    const { attempt, proposedAttempt } = ctx;
    if (proposedAttempt === undefined || attempt === undefined || proposedAttempt === attempt)
      return undefined;
    return {
      status: "ABORT",
      reason: `attempt ${proposedAttempt} is stale: the flow run is held by attempt ${attempt} now, so this process must stop`,
    };
  },
};

/** Terminal runs stay terminal; only a flow run may be scheduled again (a rerun or a retry). */
export const stayTerminal: Rule = {
  name: "stay-terminal",
  runKinds: ["flow", "task"],
  from: TERMINAL_STATE_TYPES,
  to: "any",
  apply(ctx) {
    if (ctx.runKind === "flow" && ctx.proposed.type === "SCHEDULED") return undefined;
    return keep(
      ctx,
      `the run is already ${describe(ctx.initial)}; a finished run cannot become ${ctx.proposed.type}`,
    );
  },
};

/** Only one client may move a run to PENDING: whoever else tries is told to stop. */
export const claimPendingOnce: Rule = {
  name: "claim-pending-once",
  runKinds: ["flow", "task"],
  from: ["PENDING", "RUNNING", "CANCELLING", "PAUSED"],
  to: ["PENDING"],
  apply: (ctx) => ({
    status: "ABORT",
    reason: `the run is already ${describe(ctx.initial)}; another process has claimed it`,
  }),
};

/**
 * A run starts RUNNING only from PENDING (or when resumed from PAUSED).
 * RUNNING -> RUNNING is a second process trying to run it: that one must stop. Rejecting with the
 * RUNNING state instead would hand it a RUNNING state, and a client that goes on with the state it
 * is given would run the work twice.
 */
export const runningNeedsPending: Rule = {
  name: "running-needs-pending",
  runKinds: ["flow", "task"],
  from: [null, "SCHEDULED", "RUNNING", "CANCELLING"],
  to: ["RUNNING"],
  apply(ctx) {
    const from = ctx.initial?.type;
    if (from === "CANCELLING") return { status: "ABORT", reason: "the run is being cancelled" };
    if (from === "RUNNING") {
      return { status: "ABORT", reason: "the run is already RUNNING; another process has claimed it" };
    }
    return keep(ctx, `a run must be PENDING before it runs; it is ${describe(ctx.initial)}`);
  },
};

/** A scheduled run is not started before its time: callers are told how long to wait. */
export const waitForScheduledTime: Rule = {
  name: "wait-for-scheduled-time",
  runKinds: ["flow", "task"],
  from: ["SCHEDULED"],
  to: ["PENDING"],
  apply(ctx) {
    const at = ctx.initial?.scheduledTime;
    if (!at) return undefined;
    const delayMs = Date.parse(at) - ctx.now.getTime();
    if (delayMs <= 0) return undefined;
    return { status: "WAIT", delaySeconds: delayMs / 1000, reason: `the run is scheduled for ${at}` };
  },
};

/** PAUSED is entered from RUNNING only. */
export const pauseOnlyRunning: Rule = {
  name: "pause-only-running",
  runKinds: ["flow", "task"],
  from: [null, "SCHEDULED", "PENDING", "PAUSED", "CANCELLING"],
  to: ["PAUSED"],
  apply: (ctx) => keep(ctx, `only a RUNNING run can be paused; it is ${describe(ctx.initial)}`),
};

/**
 * Only a deployment's flow run may be suspended: its process ends, and nothing but a worker or serve
 * process claiming it again would start any other run anew, so it would wait for ever once resumed.
 */
export const suspendOnlyDeploymentRuns: Rule = {
  name: "suspend-only-deployment-runs",
  runKinds: ["flow"],
  from: ["RUNNING"],
  to: ["PAUSED"],
  apply: (ctx) =>
    ctx.proposed.pause?.reschedule && !ctx.claimable
      ? keep(
          ctx,
          "the run has no deployment, so nothing would start it again: pause() it instead of suspend()",
        )
      : undefined,
};

/**
 * A suspended run has no process left to go on in: it is resumed by being scheduled again. RUNNING is
 * refused, and so is whatever its old process proposes (it carries its attempt): code that caught
 * suspend()'s error and went on to finish must not end a run that waits to be resumed.
 */
export const resumeSuspendedBySchedule: Rule = {
  name: "resume-suspended-by-schedule",
  runKinds: ["flow"],
  from: ["PAUSED"],
  to: "any",
  apply: (ctx) =>
    ctx.initial?.pause?.reschedule && (ctx.proposed.type === "RUNNING" || ctx.proposedAttempt !== undefined)
      ? {
          status: "ABORT",
          reason: "the run is suspended: its process has ended, and a resume schedules it again",
        }
      : undefined,
};

/** A run that has not started needs no cooperation to cancel: it is cancelled at once. */
export const cancelNotStartedAtOnce: Rule = {
  name: "cancel-not-started-at-once",
  runKinds: ["flow", "task"],
  from: [null, "SCHEDULED", "PAUSED"],
  to: ["CANCELLING"],
  apply: (ctx) => ({
    status: "REJECT",
    state: makeState(
      { type: "CANCELLED", message: ctx.proposed.message ?? "Cancelled before it started" },
      ctx.now,
    ),
    reason: "the run had not started, so it is cancelled at once",
  }),
};

/** Cancelling twice changes nothing. */
export const cancellingOnce: Rule = {
  name: "cancelling-once",
  runKinds: ["flow", "task"],
  from: ["CANCELLING"],
  to: ["CANCELLING", "SCHEDULED", "PAUSED"],
  apply: (ctx) => keep(ctx, `the run is being cancelled; it cannot become ${ctx.proposed.type}`),
};

/**
 * Tasks of a flow run that is cancelling, finished or suspended do not start: a suspended flow run's
 * process has ended (its unfinished task runs were cancelled with it), and it runs again when resumed.
 */
export const noTasksInStoppedFlow: Rule = {
  name: "no-tasks-in-stopped-flow",
  runKinds: ["task"],
  from: "any",
  to: ["PENDING", "RUNNING"],
  apply(ctx) {
    const flowState = ctx.flowRunState;
    if (!flowState) return undefined;
    const suspended = flowState.type === "PAUSED" && flowState.pause?.reschedule;
    if (flowState.type === "CANCELLING" || TERMINAL_STATE_TYPES.includes(flowState.type) || suspended) {
      return { status: "ABORT", reason: `the flow run is ${describe(flowState)}; no new task may start` };
    }
    return undefined;
  },
};

/** A task whose cache key has a valid completed result is not run again: it takes the cached state. */
export const useCachedResult: Rule = {
  name: "use-cached-result",
  runKinds: ["task"],
  from: ["PENDING"],
  to: ["RUNNING"],
  apply(ctx) {
    const cached = ctx.cachedState;
    if (!cached) return undefined;
    return {
      status: "REJECT",
      state: { ...cached, name: "Cached", timestamp: ctx.now.toISOString() },
      reason: `a valid cached result exists for cache key '${cached.cacheKey ?? ""}'`,
    };
  },
};

/** A task whose tags have a full concurrency limit waits for a slot. */
export const tagConcurrency: Rule = {
  name: "tag-concurrency",
  runKinds: ["task"],
  from: ["PENDING"],
  to: ["RUNNING"],
  apply(ctx) {
    const needed = (ctx.tagLimits ?? []).filter((usage) => !usage.holdsSlot);
    // A limit of 0 never frees up, so it aborts even when another tag is merely full: waiting is pointless.
    const zero = needed.find((usage) => usage.limit === 0);
    if (zero) {
      return { status: "ABORT", reason: `the concurrency limit of tag '${zero.tag}' is 0; no run may start` };
    }
    for (const usage of needed) {
      if (usage.active >= usage.limit) {
        return {
          status: "WAIT",
          delaySeconds: ctx.concurrencyRetryDelaySeconds ?? 1,
          reason: `tag '${usage.tag}' has all ${usage.limit} slot(s) in use`,
        };
      }
    }
    return undefined;
  },
};

/** Seconds to wait before the retry after failed attempt `attempt` (1-based); the last delay repeats. */
export function retryDelayFor(delays: readonly number[], attempt: number): number {
  return delays.length === 0 ? 0 : (delays[Math.min(attempt - 1, delays.length - 1)] ?? 0);
}

/**
 * A failure with retries left becomes AwaitingRetry, scheduled after the retry delay.
 * Only a failed attempt is retried, i.e. one that reached RUNNING: runCount counts those, so a run
 * failing in PENDING would never use up its retries and would be rescheduled forever.
 */
export const retryFailures: Rule = {
  name: "retry-failures",
  runKinds: ["flow", "task"],
  from: ["RUNNING", "PAUSED"],
  to: ["FAILED", "CRASHED"],
  apply(ctx) {
    // A run paused in its process has run: when that process dies it is retried as a running one is.
    // A pause that timed out (PAUSED -> FAILED) fails for good.
    if (ctx.initial?.type === "PAUSED" && ctx.proposed.type !== "CRASHED") return undefined;
    // A failure is retried by the process that saw it; a crash only where a runner will claim the run again.
    if (ctx.proposed.type === "CRASHED" && !ctx.claimable) return undefined;
    const attempt = Math.max(ctx.runCount, 1);
    if (attempt > ctx.retries) return undefined;
    const delay = retryDelayFor(ctx.retryDelaySeconds, attempt);
    const scheduledTime = new Date(ctx.now.getTime() + delay * 1000).toISOString();
    const why = ctx.proposed.message ? `: ${ctx.proposed.message}` : "";
    return {
      status: "REJECT",
      state: makeState(
        {
          type: "SCHEDULED",
          name: "AwaitingRetry",
          scheduledTime,
          message: `Retry ${attempt} of ${ctx.retries} after ${ctx.proposed.name}${why}`,
          data: ctx.proposed.data ?? null,
        },
        ctx.now,
      ),
      reason: `retry ${attempt} of ${ctx.retries} in ${delay}s`,
    };
  },
};

/**
 * The policy: rules in order; the first that answers decides.
 * Lifecycle rules come first, so a run that may not move at all is never delayed or retried.
 */
export const POLICY: readonly Rule[] = [
  fenceStaleAttempts,
  stayTerminal,
  claimPendingOnce,
  runningNeedsPending,
  pauseOnlyRunning,
  suspendOnlyDeploymentRuns,
  resumeSuspendedBySchedule,
  cancelNotStartedAtOnce,
  cancellingOnce,
  noTasksInStoppedFlow,
  waitForScheduledTime,
  useCachedResult,
  tagConcurrency,
  retryFailures,
];
