import type { BatonClient } from "@baton/client";
import { BatonError, type JsonObject, type State, type TaskRun } from "@baton/core";
import { loadResult } from "./results.js";
import { requiredClient } from "./settings.js";
import { waitForTaskRun } from "./task-run-watch.js";

/** A background task run ended without a result: FAILED, CRASHED or CANCELLED. */
export class TaskRunFailedError extends BatonError {
  override readonly name = "TaskRunFailedError";
  constructor(readonly taskRun: TaskRun) {
    const state = taskRun.state;
    super(
      state?.type === "CANCELLED" ? "cancelled" : "aborted",
      `task run '${taskRun.name}' ended ${state?.name ?? "without a state"}${state?.message ? `: ${state.message}` : ""}`,
    );
  }
}

/**
 * A background task run (`task.delay()`): its id at once, its result or error once a task worker has
 * run it. Another process reads the same result with `getTaskRunResult(id)`.
 */
export class TaskRunFuture<R> {
  readonly #client: BatonClient;
  readonly #created: Promise<unknown>;

  constructor(
    readonly id: string,
    client: BatonClient,
    created: Promise<unknown>,
  ) {
    this.#client = client;
    this.#created = created;
    // A future nobody awaits must not crash the process; its methods still throw.
    created.catch(() => undefined);
  }

  /** The run's state as the server has it now. */
  async state(): Promise<State | null> {
    await this.#created;
    return (await this.#client.api.readTaskRun({ params: { id: this.id } })).state;
  }

  /** Waits until the run is finished: its result, or a TaskRunFailedError with the failure's message. */
  async result(options: Omit<TaskRunResultOptions, "client"> = {}): Promise<R> {
    await this.#created;
    return getTaskRunResult<R>(this.id, { ...options, client: this.#client });
  }
}

export interface TaskRunResultOptions {
  /** Wait until the run is finished; otherwise a run not finished yet is an error. @default true */
  wait?: boolean;
  /** Give up waiting after this long (a `timeout` error). */
  timeoutSeconds?: number;
  signal?: AbortSignal;
  /** @default the client of BATON_API_URL and BATON_API_KEY */
  client?: BatonClient;
}

/**
 * The result of a task run, fetched from the server and decoded, from any process: waits for a
 * background run to finish first (unless `wait: false`); throws TaskRunFailedError when it failed.
 */
export async function getTaskRunResult<T = unknown>(
  taskRunId: string,
  options: TaskRunResultOptions = {},
): Promise<T> {
  const client = options.client ?? requiredClient("reading a task run's result");
  const run =
    options.wait === false
      ? await client.api.readTaskRun({ params: { id: taskRunId } })
      : await waitForTaskRun(client, taskRunId, options);
  if (run.state?.type === "COMPLETED") return (await loadResult(run.state.data)) as T;
  if (run.state && ["FAILED", "CRASHED", "CANCELLED"].includes(run.state.type)) {
    throw new TaskRunFailedError(run);
  }
  throw new BatonError(
    options.wait === false || options.signal?.aborted ? "conflict" : "timeout",
    `task run '${run.name}' has no result yet: it is ${run.state?.name ?? "not started"}`,
  );
}

/** A background task run's arguments as stored: JSON, as a flow run's parameters are. */
export function encodeArguments(args: unknown[], what: string): JsonObject {
  try {
    return { args: JSON.parse(JSON.stringify(args)) as JsonObject[] };
  } catch (error) {
    throw new BatonError(
      "invalid_argument",
      `${what}: the arguments of a background task must be JSON (${(error as Error).message})`,
      { cause: error },
    );
  }
}

export function decodeArguments(run: TaskRun): unknown[] {
  const args = run.parameters["args"];
  if (!Array.isArray(args)) {
    throw new BatonError("invalid_argument", `task run '${run.name}' has no 'args' list in its parameters`);
  }
  return args;
}
