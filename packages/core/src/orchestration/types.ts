import type { State, StateType } from "../states.js";

export type RunKind = "flow" | "task";

/** What the server knows when a state is proposed; rules read it and never write it. */
export interface TransitionContext {
  runKind: RunKind;
  /** The run's current state; null for a run that has none yet. */
  initial: State | null;
  proposed: State;
  now: Date;
  /** How many times the run has entered RUNNING so far. */
  runCount: number;
  /** Retries allowed after the first attempt. */
  retries: number;
  /** Delay before each retry in seconds; the last entry repeats. */
  retryDelaySeconds: readonly number[];
  /**
   * Flow runs: a worker or serve process will pick the run up again once it is SCHEDULED (it belongs
   * to a deployment). A crash is retried only then: the process that ran anything else is gone.
   */
  claimable?: boolean;
  /** Task runs: the state of the flow run they belong to. */
  flowRunState?: State | null;
  /** Task runs entering RUNNING: each tag limit that applies, and whether this run already holds a slot. */
  tagLimits?: readonly TagLimitUsage[];
  /** Task runs entering RUNNING with a cache key: a valid cached COMPLETED state, if one exists. */
  cachedState?: State | null;
  /** The attempt that holds the flow run (the flow run a task run belongs to): raised by every claim. */
  attempt?: number;
  /** The attempt the proposing process carries, when it says (see fenceStaleAttempts). */
  proposedAttempt?: number;
  /** How long to wait before asking again when a tag limit is full. */
  concurrencyRetryDelaySeconds?: number;
}

export interface TagLimitUsage {
  tag: string;
  limit: number;
  active: number;
  holdsSlot: boolean;
}

/**
 * The answer to a proposal.
 * ACCEPT: the proposed state is applied. REJECT: `state` is applied instead (often the current state).
 * WAIT: nothing changes; ask again after `delaySeconds`. ABORT: nothing changes; stop trying.
 */
export type Verdict =
  | { status: "ACCEPT"; state: State; reason: string }
  | { status: "REJECT"; state: State | null; reason: string }
  | { status: "WAIT"; delaySeconds: number; reason: string }
  | { status: "ABORT"; reason: string };

export type VerdictStatus = Verdict["status"];

/** A state type, or null for "no state yet". */
export type FromState = StateType | null;

/** A small named rule: it applies to some transitions and may reject, delay or abort them. */
export interface Rule {
  name: string;
  runKinds: readonly RunKind[];
  from: readonly FromState[] | "any";
  to: readonly StateType[] | "any";
  /** Returns a verdict to stop the proposal, or undefined to let later rules decide. */
  apply(ctx: TransitionContext): Verdict | undefined;
}
