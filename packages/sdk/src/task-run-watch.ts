import type { BatonClient } from "@baton/client";
import { BatonError, EventName, isEvent, isTerminal, type State, type TaskRun } from "@baton/core";
import { perClient } from "./batcher.js";

export interface Waiter {
  /** The run changed to `state`, or, with null, may have changed while the stream was not open. */
  look(state: State | null): void;
  fail(error: unknown): void;
}

/**
 * One stream of task-run state changes per client, shared by everything in the process following
 * task runs: futures waiting for them to finish (a thousand futures of `task.delay()` are one
 * stream, not a thousand) and task workers hearing of a cancel. It is open while anyone follows a
 * run; when it opens (again, after the server restarted, say) every waiter looks, so a change made
 * before is seen too.
 */
class TaskRunWatch {
  readonly #waiters = new Map<string, Set<Waiter>>();
  #stop: AbortController | null = null;
  #open = false;

  constructor(private readonly client: BatonClient) {}

  /** Tells `waiter` of run `id`'s changes until the function it answers is called (once). */
  watch(id: string, waiter: Waiter): () => void {
    const waiters = this.#waiters.get(id) ?? new Set();
    this.#waiters.set(id, waiters.add(waiter));
    if (!this.#stop) this.#start();
    else if (this.#open) waiter.look(null);
    return () => {
      if (!waiters.delete(waiter)) return;
      if (waiters.size === 0) this.#waiters.delete(id);
      if (this.#waiters.size === 0) this.#close();
    };
  }

  #close(): void {
    this.#stop?.abort();
    this.#stop = null;
    this.#open = false;
  }

  #start(): void {
    const stop = new AbortController();
    this.#stop = stop;
    const everyone = () => [...this.#waiters.values()].flatMap((waiters) => [...waiters]);
    const follow = async () => {
      // The stream ends if the server restarts: open it again while anyone waits.
      while (!stop.signal.aborted) {
        await this.client.events(
          {
            names: [EventName.TaskRunStateChanged],
            signal: stop.signal,
            resume: true,
            onOpen: () => {
              this.#open = true;
              for (const waiter of everyone()) waiter.look(null);
            },
          },
          (event) => {
            if (!isEvent(event, EventName.TaskRunStateChanged)) return;
            for (const waiter of this.#waiters.get(event.resource.id) ?? []) waiter.look(event.payload.state);
          },
        );
      }
    };
    follow().catch((error: unknown) => {
      if (stop.signal.aborted) return;
      // Those waiting now are told; whoever waits next opens a new stream.
      const told = everyone();
      this.#close();
      for (const waiter of told) waiter.fail(error);
    });
  }
}

/** The process's watch of task runs through this client. */
export const taskRunWatch = perClient((client: BatonClient) => new TaskRunWatch(client));

/**
 * Waits until the task run is finished, the timeout passes or `signal` aborts (only the waiting
 * stops), and answers the run as it is then.
 */
export function waitForTaskRun(
  client: BatonClient,
  id: string,
  options: { timeoutSeconds?: number | undefined; signal?: AbortSignal | undefined } = {},
): Promise<TaskRun> {
  const read = () => client.api.readTaskRun({ params: { id } });
  return new Promise<TaskRun>((resolve, reject) => {
    let settled = false;
    let unwatch = () => {};
    let timer: NodeJS.Timeout | undefined;
    /** Settles once, with what `outcome` answers; later calls are ignored. */
    const finish = (outcome: () => Promise<TaskRun>) => {
      if (settled) return;
      settled = true;
      unwatch();
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", giveUp);
      outcome().then(resolve, (error: unknown) => reject(BatonError.from(error)));
    };
    const giveUp = () => finish(read);
    const look = (state: State | null) => {
      if (state !== null && !isTerminal(state.type)) return;
      void read().then(
        (run) => {
          if (isTerminal(run.state?.type)) finish(() => Promise.resolve(run));
        },
        (error: unknown) => finish(() => Promise.reject(BatonError.from(error))),
      );
    };
    if (options.signal?.aborted) return giveUp();
    options.signal?.addEventListener("abort", giveUp, { once: true });
    if (options.timeoutSeconds !== undefined) timer = setTimeout(giveUp, options.timeoutSeconds * 1000);
    unwatch = taskRunWatch(client).watch(id, {
      look,
      fail: (error) => finish(() => Promise.reject(BatonError.from(error))),
    });
  });
}
