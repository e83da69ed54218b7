import type { BatonClient } from "@baton/client";
import { BatonError, newId, type State, type TaskRun } from "@baton/core";
import { decodeArguments, encodeArguments, TaskRunFuture } from "./background.js";
import { currentRun, taskCallKey } from "./context.js";
import { drive, type StateHooks } from "./driver.js";
import { RunLogger, shipperFor } from "./logger.js";
import { loadResult, type ResultOptions } from "./results.js";
import {
  LocalOrchestrator,
  RemoteOrchestrator,
  StartedOrchestrator,
  type Orchestrator,
} from "./orchestrator.js";
import { cachedState, hasLimitedTag, RecordingOrchestrator } from "./recorder.js";
import { requiredClient } from "./settings.js";

export interface TaskOptions<A extends unknown[]> extends ResultOptions, StateHooks {
  name: string;
  /** @default 0 */
  retries?: number;
  /** Seconds before each retry; the last repeats. Use `exponentialBackoff()` for growing delays. */
  retryDelaySeconds?: number | number[];
  timeoutSeconds?: number;
  /** Tags; a tag with a concurrency limit (`baton concurrency-limit create TAG N`) bounds how many run at once. */
  tags?: string[];
  /** Calls with the same key reuse the result of a completed run instead of running again. */
  cacheKey?: (...args: A) => string;
  cacheExpirationSeconds?: number;
}

/** A task run that was submitted: await it for the result. */
export class TaskFuture<R> implements PromiseLike<R> {
  #state: State | null = null;
  readonly #promise: Promise<R>;

  constructor(start: (setState: (state: State | null) => void) => Promise<R>) {
    this.#promise = start((state) => (this.#state = state));
    // A future nobody awaits must not crash the process; awaiting it still throws.
    this.#promise.catch(() => undefined);
  }

  /** The last known state of the run. */
  get state(): State | null {
    return this.#state;
  }

  result(): Promise<R> {
    return this.#promise;
  }

  then<T1 = R, T2 = never>(
    onfulfilled?: ((value: R) => T1 | PromiseLike<T1>) | null,
    onrejected?: ((reason: unknown) => T2 | PromiseLike<T2>) | null,
  ): Promise<T1 | T2> {
    return this.#promise.then(onfulfilled, onrejected);
  }
}

export interface Task<A extends unknown[], R> {
  (...args: A): Promise<R>;
  readonly taskName: string;
  /** Starts the task without waiting; the future resolves with its result. */
  submit(...args: A): TaskFuture<R>;
  /** Submits one run per item. */
  map(items: Iterable<A[0]>): TaskFuture<R>[];
  /**
   * Runs the task in the background, in a task worker (`serveTasks()`, `baton task serve`), from any
   * process: answers at once with the run's id; its `result()` waits for the outcome. The arguments
   * must be JSON. Needs BATON_API_URL.
   */
  delay(...args: A): TaskRunFuture<R>;
}

/** Carries out a background task run that a task worker claimed, until it is finished. */
export type ClaimedTaskRunner = (run: TaskRun, client: BatonClient, signal: AbortSignal) => Promise<void>;

const claimedRunners = new WeakMap<object, ClaimedTaskRunner>();

/** How a task worker runs the claimed runs of a task (kept off the task's public type). */
export function claimedRunnerOf(task: Task<never, unknown>): ClaimedTaskRunner {
  const runner = claimedRunners.get(task);
  if (!runner) throw new BatonError("invalid_argument", "serve tasks declared with task()");
  return runner;
}

/** Exponential backoff delays for `retries` retries: base, base·2, base·4… with ±jitter. */
export function exponentialBackoff(base: number, retries: number, jitter = 0.2): number[] {
  return Array.from({ length: retries }, (_, i) => {
    const delay = base * 2 ** i;
    return Math.max(0, delay * (1 + (Math.random() * 2 - 1) * jitter));
  });
}

/** Declares a task: an async function whose calls inside a flow run are tracked task runs. */
export function task<A extends unknown[], R>(
  options: TaskOptions<A>,
  fn: (...args: A) => Promise<R>,
): Task<A, R> {
  const retries = options.retries ?? 0;
  const retryDelaySeconds =
    options.retryDelaySeconds === undefined
      ? []
      : Array.isArray(options.retryDelaySeconds)
        ? options.retryDelaySeconds
        : [options.retryDelaySeconds];

  /** What a task run the server records is created with: retries, tags, timeout, cache key. */
  const runSettings = (cacheKey: string | undefined) => ({
    retries,
    retryDelaySeconds,
    ...(options.tags ? { tags: options.tags } : {}),
    ...(options.timeoutSeconds ? { timeoutSeconds: options.timeoutSeconds } : {}),
    ...(cacheKey ? { cacheKey } : {}),
    ...(cacheKey && options.cacheExpirationSeconds
      ? { cacheExpiration: new Date(Date.now() + options.cacheExpirationSeconds * 1000).toISOString() }
      : {}),
  });

  async function run(args: A, setState: (state: State | null) => void): Promise<R> {
    const parent = currentRun();
    const client = parent?.client ?? null;
    const calls = parent?.taskCalls;
    const dynamicKey = String(calls?.get(options.name) ?? 0);
    calls?.set(options.name, Number(dynamicKey) + 1);
    // A flow run resumed after suspend() runs again: this call completed before, so its result stands.
    const completed = parent?.completedTasks?.get(taskCallKey(options.name, dynamicKey));
    if (completed) {
      setState(completed);
      return (await loadResult(completed.data)) as R;
    }
    const taskRunId = newId();
    const name = `${options.name}-${dynamicKey}`;
    const cacheKey = options.cacheKey?.(...args);
    let orchestrator: Orchestrator;
    // Tasks without a limited tag are orchestrated here, by the same rules, and recorded in batches:
    // no round trip on their way but, with a cache key, one read of the cached result it may take.
    if (client && parent?.flowRunId && !(await hasLimitedTag(client, options.tags))) {
      const cached = cacheKey ? await cachedState(client, cacheKey) : null;
      const { cacheExpiration } = runSettings(cacheKey);
      orchestrator = new RecordingOrchestrator(
        client,
        {
          id: taskRunId,
          flowRunId: parent.flowRunId,
          name,
          taskKey: options.name,
          dynamicKey,
          tags: options.tags ?? [],
          retries,
          retryDelaySeconds,
          timeoutSeconds: options.timeoutSeconds ?? null,
          ...(cacheKey ? { cacheKey } : {}),
          // A cached result used keeps its own expiration (as the server's rule does).
          ...(cached ? { cacheExpiration: cached.cacheExpiration ?? undefined } : { cacheExpiration }),
        },
        { type: "PENDING" },
        cached,
      );
    } else if (client && parent?.flowRunId) {
      const created = await client.api.createTaskRun({
        body: {
          id: taskRunId,
          flowRunId: parent.flowRunId,
          name,
          taskKey: options.name,
          dynamicKey,
          ...runSettings(cacheKey),
          // Created and started in one round trip.
          start: true,
          ...(parent.attempt !== undefined ? { attempt: parent.attempt } : {}),
        },
      });
      setState(created.state);
      orchestrator = new StartedOrchestrator(
        new RemoteOrchestrator(client, "task", taskRunId, parent.attempt),
        created.state,
      );
    } else {
      orchestrator = new LocalOrchestrator("task", retries, retryDelaySeconds, { type: "PENDING" });
    }
    const tracked = client && parent?.flowRunId ? client : null;
    const shipper = tracked ? shipperFor(tracked) : null;
    const logger = new RunLogger(`task run '${name}'`, shipper, {
      flowRunId: parent?.flowRunId ?? null,
      taskRunId: tracked ? taskRunId : null,
    });
    const signal = parent?.signal ?? new AbortController().signal;
    const outcome = await drive({
      name: options.name,
      runId: tracked ? taskRunId : null,
      what: `task run '${name}'`,
      orchestrator,
      context: {
        client,
        flowRunId: parent?.flowRunId ?? null,
        flowRunName: parent?.flowRunName ?? "",
        ...(parent?.attempt !== undefined ? { attempt: parent.attempt } : {}),
        taskRunId: tracked ? taskRunId : null,
        logger,
        signal,
        taskCalls: parent?.taskCalls ?? new Map<string, number>(),
        children: parent?.children ?? new Set(),
        logPrints: parent?.logPrints ?? false,
      },
      timeoutSeconds: options.timeoutSeconds,
      signal,
      body: () => fn(...args),
      results: options,
      hooks: options,
      logger,
    });
    setState(outcome.state);
    if (outcome.ok) return outcome.value;
    throw outcome.error instanceof Error ? outcome.error : BatonError.from(outcome.error);
  }

  const submit = (...args: A) => {
    const future = new TaskFuture<R>((setState) => run(args, setState));
    const children = currentRun()?.children;
    if (children) {
      const settled: Promise<unknown> = future.result().then(
        () => children.delete(settled),
        () => children.delete(settled),
      );
      children.add(settled);
    }
    return future;
  };
  const delay = (...args: A): TaskRunFuture<R> => {
    const what = `${options.name}.delay()`;
    const client = currentRun()?.client ?? requiredClient(what);
    const id = newId();
    const cacheKey = options.cacheKey?.(...args);
    const created = client.api.createTaskRun({
      body: {
        id,
        name: `${options.name}-${id.slice(-8)}`,
        taskKey: options.name,
        dynamicKey: id,
        parameters: encodeArguments(args, what),
        // No flow run and SCHEDULED: a task worker serving this task claims it.
        state: { type: "SCHEDULED" },
        ...runSettings(cacheKey),
      },
    });
    return new TaskRunFuture<R>(id, client, created);
  };

  const runClaimed: ClaimedTaskRunner = async (claimed, client, signal) => {
    const what = `task run '${claimed.name}'`;
    const shipper = shipperFor(client);
    const logger = new RunLogger(what, shipper, { flowRunId: null, taskRunId: claimed.id });
    await drive({
      name: options.name,
      runId: claimed.id,
      what,
      // The claim started it (or left it PENDING, or found a cached result): see StartedOrchestrator.
      orchestrator: new StartedOrchestrator(
        new RemoteOrchestrator(client, "task", claimed.id, claimed.attempt),
        claimed.state,
      ),
      context: {
        client,
        flowRunId: null,
        flowRunName: "",
        taskRunId: claimed.id,
        logger,
        signal,
        taskCalls: new Map<string, number>(),
        children: new Set(),
        logPrints: false,
      },
      timeoutSeconds: options.timeoutSeconds,
      signal,
      body: () => fn(...(decodeArguments(claimed) as A)),
      results: options,
      hooks: options,
      logger,
      beforeFinalState: () => shipper.flush(),
    });
  };

  const callable = ((...args: A) => submit(...args).result()) as Task<A, R>;
  claimedRunners.set(callable, runClaimed);
  Object.defineProperties(callable, {
    taskName: { value: options.name },
    submit: { value: submit },
    delay: { value: delay },
    map: {
      value: (items: Iterable<A[0]>) => Array.from(items, (item) => submit(...([item] as unknown as A))),
    },
  });
  return callable;
}
