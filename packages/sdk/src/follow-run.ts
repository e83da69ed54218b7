import { setTimeout as sleep } from "node:timers/promises";
import type { BatonClient } from "@baton/client";
import { BatonError, EventName, isEvent, type State, type StateType } from "@baton/core";

/** Errors after which following a run again cannot help: the key is refused, the run is gone. */
const FINAL_CODES: readonly string[] = [
  "unauthenticated",
  "permission_denied",
  "not_found",
  "invalid_argument",
];

/**
 * Tells `onState` each state flow run `flowRunId` enters until `stop` aborts, through its events,
 * and its state as read whenever the stream opens, so that a change made while it was closed is seen
 * too. A stream that breaks is opened again, through a server restart and whatever a starting server
 * answers meanwhile; rejects only when following cannot go on (the key refused, the run deleted).
 */
export function followFlowRun(
  client: BatonClient,
  flowRunId: string,
  stop: AbortSignal,
  onState: (state: State | null) => void,
): Promise<void> {
  return followStates(
    client,
    { flowRunId, resume: true },
    stop,
    () => readState(client, flowRunId, onState),
    (_, state) => onState(state),
  );
}

/**
 * The flow run state changes the stream's `query` lets through, until `stop` aborts: `onOpen` at each
 * opening, `onState` for each change (a state of null: the change came without it, read the run).
 * With `resume`, a stream opened again first gets the stored changes it missed.
 */
async function followStates(
  client: BatonClient,
  query: { flowRunId?: string; stateTypes?: StateType[]; resume: boolean },
  stop: AbortSignal,
  onOpen: () => void,
  onState: (flowRunId: string, state: State | null) => void,
): Promise<void> {
  while (!stop.aborted) {
    try {
      await client.events(
        { ...query, names: [EventName.FlowRunStateChanged], signal: stop, onOpen },
        (event) => {
          if (event.name !== EventName.FlowRunStateChanged) return;
          // A change relayed between servers without its payload (too large) says only which run.
          onState(
            event.resource.id,
            isEvent(event, EventName.FlowRunStateChanged) ? event.payload.state : null,
          );
        },
      );
    } catch (error) {
      if (stop.aborted) return;
      if (error instanceof BatonError && FINAL_CODES.includes(error.code)) throw error;
    }
    await sleep(1000, undefined, { signal: stop }).catch(() => undefined);
  }
}

const readState = (client: BatonClient, flowRunId: string, onState: (state: State | null) => void) =>
  void client.api.readFlowRun({ params: { id: flowRunId } }).then(
    (run) => onState(run.state),
    () => undefined,
  );

/** The states that stop a run in its process: a cancel, and a suspend (PAUSED, rescheduled). */
const STOPPING_TYPES: StateType[] = ["CANCELLING", "CANCELLED", "PAUSED"];

/** Stops heard for runs not watched (yet) kept at most: a cancel may come before its run is watched. */
const HEARD_MAX = 1000;

/**
 * The stops (cancels, suspends) of every flow run this process carries out, heard on one event stream
 * per client that the server narrows to those states. A run watched once it is open hears its stops
 * there; a run watched before is read when it opens, as all are when it opens again after a break
 * (it is not resumed: its last stop may be days old, and the server would read every change since).
 * A run taken before it was watched (a claim's) is read when watched if the stream opened again
 * since (`mark`): a stop may have come while it was closed. Open while a run is watched or someone
 * holds it (a serve process, for its life): a stream per run cost a request and a read of the run
 * for each, and a serve process carries out thousands.
 */
class RunStops {
  readonly #client: BatonClient;
  readonly #watched = new Map<string, (state: State | null) => void>();
  /** Runs not watched whose stops were heard, latest last: a claim's answer may come after its run's cancel. */
  readonly #heard = new Set<string>();
  #holds = 0;
  #stream: AbortController | undefined;
  /** How many times the stream has opened. */
  #openings = 0;

  constructor(client: BatonClient) {
    this.#client = client;
  }

  /** The stream's openings so far, to give `watch` for a run taken now and watched later. */
  mark(): number {
    return this.#openings;
  }

  /**
   * Tells `onState` of run `flowRunId`'s stops until the returned function is called; `since`, the
   * `mark()` when the run was taken.
   */
  watch(flowRunId: string, onState: (state: State | null) => void, since?: number): () => void {
    this.#watched.set(flowRunId, onState);
    this.#open();
    // Read rather than believed: what was heard may be of an earlier run of it (a rerun).
    const heard = this.#heard.delete(flowRunId);
    if (heard || (since !== undefined && since !== this.#openings))
      readState(this.#client, flowRunId, onState);
    return () => {
      if (this.#watched.get(flowRunId) !== onState) return;
      this.#watched.delete(flowRunId);
      this.#closeIfUnused();
    };
  }

  /** Keeps the stream open until the returned function is called, watched runs or not. */
  hold(): () => void {
    this.#holds++;
    this.#open();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#holds--;
      this.#closeIfUnused();
    };
  }

  #open(): void {
    if (this.#stream) return;
    const stream = (this.#stream = new AbortController());
    const opened = () => {
      this.#openings++;
      for (const id of this.#watched.keys()) readState(this.#client, id, (state) => this.#tell(id, state));
    };
    const query = { stateTypes: STOPPING_TYPES, resume: false };
    followStates(this.#client, query, stream.signal, opened, (id, state) => {
      if (this.#watched.has(id)) return this.#tell(id, state);
      this.#heard.delete(id);
      this.#heard.add(id);
      if (this.#heard.size > HEARD_MAX) this.#heard.delete(this.#heard.values().next().value!);
    })
      // Losing the stream loses only the stop signals, never a run; it opens again when next needed.
      .catch(() => undefined)
      .finally(() => {
        if (this.#stream === stream) this.#stream = undefined;
      });
  }

  #tell(flowRunId: string, state: State | null): void {
    const onState = this.#watched.get(flowRunId);
    if (!onState) return;
    if (state) onState(state);
    else readState(this.#client, flowRunId, onState);
  }

  #closeIfUnused(): void {
    if (this.#watched.size > 0 || this.#holds > 0) return;
    this.#stream?.abort();
    this.#stream = undefined;
    this.#heard.clear();
  }
}

const runStops = new WeakMap<BatonClient, RunStops>();

/** The stops of the runs this process carries out through `client`. */
export function runStopsOf(client: BatonClient): RunStops {
  let stops = runStops.get(client);
  if (!stops) runStops.set(client, (stops = new RunStops(client)));
  return stops;
}
