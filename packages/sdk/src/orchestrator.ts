import type { BatonClient } from "@baton/client";
import { untilReachable } from "./reachable.js";
import { makeState, orchestrate, type SetStateResult, type State, type StateInput } from "@baton/core";
import { flowRunProposals } from "./proposals.js";
import { maskSecrets } from "./secrets.js";

/** Where a run's state proposals go: the server, or the same rules applied in this process. */
export interface Orchestrator {
  propose(state: StateInput): Promise<SetStateResult>;
}

export class RemoteOrchestrator implements Orchestrator {
  constructor(
    private readonly client: BatonClient,
    private readonly kind: "flow" | "task",
    private readonly id: string,
    /** The flow run's attempt this process carries out: the server refuses it once it is stale. */
    private readonly attempt?: number,
  ) {}

  propose(proposed: StateInput): Promise<SetStateResult> {
    const state = masked(proposed);
    const body = { state, ...(this.attempt !== undefined ? { attempt: this.attempt } : {}) };
    // A proposal that never reached the server (restarting, or a replica going away) is sent again:
    // losing a final state would leave the run to crash detection, and run it twice.
    return untilReachable(`the ${state.type} state of ${this.kind} run ${this.id}`, () =>
      this.kind === "flow"
        ? flowRunProposals(this.client).propose({ id: this.id, ...body })
        : this.client.api.setTaskRunState({ params: { id: this.id }, body }),
    );
  }
}

/**
 * A run the server started as it handed it over (a task run created with `start`, a flow run claimed
 * with `start`): the first RUNNING proposal is answered by the state that left it in, with no round
 * trip; every other proposal goes on to the server.
 */
export class StartedOrchestrator implements Orchestrator {
  #started: SetStateResult | null;

  constructor(
    private readonly remote: Orchestrator,
    handedOver: State | null,
  ) {
    // RUNNING: started. COMPLETED: a valid cached result, refused as the server refuses a start then.
    // Anything else (the rules said wait, or refused): proposed again, as if not tried yet.
    this.#started =
      handedOver?.type === "RUNNING"
        ? { status: "ACCEPT", reason: "started as it was handed over", state: handedOver }
        : handedOver?.type === "COMPLETED"
          ? { status: "REJECT", reason: "a valid cached result", state: handedOver }
          : null;
  }

  propose(state: StateInput): Promise<SetStateResult> {
    const started = this.#started;
    this.#started = null;
    return started && state.type === "RUNNING" ? Promise.resolve(started) : this.remote.propose(state);
  }
}

/** A state's message may quote an error that holds a secret's value (a failure, a crash): masked. */
const masked = (state: StateInput): StateInput =>
  state.message ? { ...state, message: maskSecrets(state.message) } : state;

/** Untracked runs obey the very same rules as tracked ones, over a state kept in memory. */
export class LocalOrchestrator implements Orchestrator {
  #state: State | null;
  #runCount = 0;

  constructor(
    private readonly kind: "flow" | "task",
    private readonly retries: number,
    private readonly retryDelaySeconds: number[],
    first: StateInput,
    /** A task's valid cached result, looked up beforehand: its start becomes that result (the cache rule). */
    private readonly cachedState: State | null = null,
  ) {
    this.#state = makeState(first);
  }

  get state(): State | null {
    return this.#state;
  }

  get runCount(): number {
    return this.#runCount;
  }

  async propose(input: StateInput): Promise<SetStateResult> {
    const now = new Date();
    const verdict = orchestrate({
      runKind: this.kind,
      initial: this.#state,
      // Recorded task runs ship the states made here (RecordingOrchestrator).
      proposed: makeState(masked(input), now),
      now,
      runCount: this.#runCount,
      retries: this.retries,
      retryDelaySeconds: this.retryDelaySeconds,
      cachedState: this.cachedState,
    });
    if (verdict.status === "WAIT")
      return {
        status: "WAIT",
        reason: verdict.reason,
        state: this.#state,
        delaySeconds: verdict.delaySeconds,
      };
    if (verdict.status === "ABORT" || !verdict.state)
      return { status: verdict.status, reason: verdict.reason, state: this.#state };
    if (verdict.state.type === "RUNNING" && this.#state?.type !== "RUNNING") this.#runCount++;
    this.#state = verdict.state;
    return { status: verdict.status, reason: verdict.reason, state: this.#state };
  }
}
