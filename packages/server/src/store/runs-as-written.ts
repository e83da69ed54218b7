import { EventName, isTerminal, type BatonEvent, type StateType } from "@baton/core";
import type { EventBus } from "../events.js";
import type { LockedRun } from "./set-state.js";

/**
 * The most runs a server keeps as it wrote them, and their most characters together (sizeOf): past
 * either, the longest kept are forgotten. The runs processes are carrying out have short states.
 */
const KEPT_RUNS = 10_000;
const KEPT_CHARS = 4_000_000;
/** A run larger than this (a pause's form, a long message, many tags) is not kept at all. */
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
  readonly #runs = new Map<string, { run: LockedRun; size: number }>();
  /** The sizes of the runs kept, added up (sizeOf). */
  #size = 0;

  constructor(events: EventBus) {
    events.subscribe((event) => {
      if (isRunChange(event)) this.forget(event.resource);
    });
  }

  /** Keeps a run as a change left it; a finished run is not kept (its process has nothing to say). */
  keep(resource: RunResource, run: LockedRun, stateType: StateType): void {
    const size = sizeOf(run);
    if (isTerminal(stateType) || size > KEPT_RUN_CHARS) return;
    this.forget(resource);
    this.#runs.set(keyOf(resource), { run, size });
    this.#size += size;
    // The longest kept go first.
    for (const [key, kept] of this.#runs) {
      if (this.#runs.size <= KEPT_RUNS && this.#size <= KEPT_CHARS) break;
      this.#runs.delete(key);
      this.#size -= kept.size;
    }
  }

  /** The run as this server last wrote it, if it did; forgotten once taken. */
  take(resource: RunResource): LockedRun | undefined {
    const kept = this.#runs.get(keyOf(resource));
    this.forget(resource);
    return kept?.run;
  }

  /** Forgets a run: changed by another server, or deleted. */
  forget(resource: RunResource): void {
    const key = keyOf(resource);
    const kept = this.#runs.get(key);
    if (!kept) return;
    this.#runs.delete(key);
    this.#size -= kept.size;
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

/** A run changed or deleted (a task run's deletion is not announced: deleteTaskRun forgets it here). */
const isRunChange = (event: BatonEvent): boolean =>
  event.name === EventName.FlowRunStateChanged ||
  event.name === EventName.TaskRunStateChanged ||
  event.name === EventName.FlowRunDeleted;

const perServer = new WeakMap<EventBus, RunsAsWritten>();

/** The runs one server (one event bus) wrote. */
export function runsAsWrittenBy(events: EventBus): RunsAsWritten {
  let runs = perServer.get(events);
  if (!runs) perServer.set(events, (runs = new RunsAsWritten(events)));
  return runs;
}
