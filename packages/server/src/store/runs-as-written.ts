import { EventName, isTerminal, type BatonEvent, type StateType } from "@baton/core";
import type { EventBus } from "../events.js";
import type { LockedRun } from "./set-state.js";

/** The most runs a server keeps as it wrote them: past that, the longest kept is forgotten. */
const KEPT_RUNS = 10_000;
/** A run larger than this (a pause's form, a long message, many tags) is not kept: memory stays bounded. */
const KEPT_RUN_CHARS = 8_192;

/**
 * The runs this server changed last, as it wrote them (PostgreSQL only), so that the next change a
 * run's process proposes through this server (a claimed run's RUNNING or its end, a task run's end)
 * is decided without reading the run again: one statement where the read and the write were two.
 *
 * An entry can be stale: another server changed the run and its announcement has not arrived yet, or
 * a change here did not announce itself (a run's retries updated). It is still safe: a change is
 * written by writeIfUnchanged, whose conditions are every column the rules read that can change (a
 * flow run's end also checks its task runs there), so a stale entry writes nothing and the change is
 * decided again under the run's lock, on the run as it is; and a verdict that changes nothing (a
 * refusal), which no write checks, is decided again on the run as read (transitionUnlocked). A run is
 * forgotten when it is used, and whenever any server announces a change of it, this one included; it
 * is kept again as the change that announced left it (`keep`, after the announcement).
 */
export class RunsAsWritten {
  /** By the run's kind and id, as its events name it (`flow-run`, `task-run`): ids are the callers'. */
  readonly #runs = new Map<string, LockedRun>();

  constructor(events: EventBus) {
    events.subscribe((event) => {
      if (isRunStateChange(event)) this.#runs.delete(keyOf(event.resource));
    });
  }

  /** Keeps a run as a change left it; a finished run is not kept (its process has nothing to say). */
  keep(run: RunResource, written: LockedRun, stateType: StateType): void {
    if (isTerminal(stateType) || sizeOf(written) > KEPT_RUN_CHARS) return;
    const key = keyOf(run);
    this.#runs.delete(key);
    this.#runs.set(key, written);
    if (this.#runs.size > KEPT_RUNS) this.#runs.delete(this.#runs.keys().next().value!);
  }

  /** The run as this server last wrote it, if it did; forgotten once taken. */
  take(run: RunResource): LockedRun | undefined {
    const key = keyOf(run);
    const written = this.#runs.get(key);
    this.#runs.delete(key);
    return written;
  }
}

/** A run as its events name it. */
interface RunResource {
  kind: string;
  id: string;
}

const keyOf = ({ kind, id }: RunResource) => `${kind} ${id}`;

/** What a kept run holds that a caller chooses the size of: its state, its flow run's, their tags. */
const sizeOf = (run: LockedRun): number =>
  (run.state?.length ?? 0) +
  (run.flowRunState?.length ?? 0) +
  run.tags.length +
  run.retryDelaySeconds.length +
  (run.related?.tags.join().length ?? 0);

const isRunStateChange = (event: BatonEvent): boolean =>
  event.name === EventName.FlowRunStateChanged || event.name === EventName.TaskRunStateChanged;

const perServer = new WeakMap<EventBus, RunsAsWritten>();

/** The runs one server (one event bus) wrote. */
export function runsAsWrittenBy(events: EventBus): RunsAsWritten {
  let runs = perServer.get(events);
  if (!runs) perServer.set(events, (runs = new RunsAsWritten(events)));
  return runs;
}
