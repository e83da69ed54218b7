import { hostname } from "node:os";
import type { BatonClient } from "@baton/client";
import { BatonError, type TaskRun } from "@baton/core";
import { claimEach, LONG_POLL_SECONDS } from "./claim-loop.js";
import { CancelledError } from "./engine.js";
import { sendHeartbeats } from "./heartbeats.js";
import { requiredClient } from "./settings.js";
import { claimedRunnerOf, type Task } from "./task.js";
import { taskRunWatch } from "./task-run-watch.js";

export interface ServeTasksOptions {
  /** Task runs carried out at once in this process, at most. @default 10 */
  limit?: number;
  /** Stops serving when it aborts; SIGINT and SIGTERM stop it too. */
  signal?: AbortSignal;
  /** Called once the worker is about to claim its first runs. */
  onReady?: () => void;
  /** The name the runs record as the task worker that ran them. @default task-worker-<host>-<pid> */
  name?: string;
  /** @default the client of BATON_API_URL and BATON_API_KEY */
  client?: BatonClient;
}

/**
 * A task worker: carries out the background runs of these tasks (`task.delay()`) in this process
 * until stopped, then takes no new run and resolves once the runs in flight have finished. Runs are
 * claimed as a serve process claims its deployments' runs (a long poll woken when one is created),
 * each with its task's retries, timeout, cache and result options, and heartbeats while it runs.
 */
export async function serveTasks(
  // Any task: the arguments of a claimed run come from the run itself.
  tasks: Task<never, unknown>[],
  options: ServeTasksOptions = {},
): Promise<void> {
  if (tasks.length === 0) throw new TypeError("serveTasks() needs at least one task");
  const limit = options.limit ?? 10;
  if (!Number.isInteger(limit) || limit < 1) {
    throw new BatonError(
      "invalid_argument",
      `serveTasks(): limit must be a whole number of 1 or more, not ${limit}`,
    );
  }
  const client = options.client ?? requiredClient("serveTasks()");
  const runners = new Map(tasks.map((task) => [task.taskName, claimedRunnerOf(task)]));
  if (runners.size < tasks.length) {
    throw new BatonError("invalid_argument", "serveTasks() was given two tasks of the same name");
  }
  const stop = new AbortController();
  const onSignal = () => {
    if (stop.signal.aborted) process.exit(130); // a second Ctrl-C does not wait
    console.error("Stopping: no new task runs; waiting for the runs in flight (Ctrl-C again to exit now)");
    stop.abort();
  };
  options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
  process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
  const workerName = options.name ?? `task-worker-${hostname()}-${process.pid}`;
  console.error(
    `Serving tasks ${[...runners.keys()].map((name) => `'${name}'`).join(", ")} as ${workerName}`,
  );
  options.onReady?.();
  try {
    await claimEach<TaskRun>({
      capacity: limit,
      signal: stop.signal,
      claim: async (limit, claim) =>
        (
          await client.api.claimTaskRuns(
            {
              body: {
                workerName,
                taskKeys: [...runners.keys()],
                limit,
                waitSeconds: LONG_POLL_SECONDS,
                ...claim,
              },
            },
            stop.signal,
          )
        ).runs,
      start: async (run) => {
        // Aborted when the run is cancelled or another attempt holds it: a stop lets the run finish.
        const controller = new AbortController();
        const stopHeartbeats = sendHeartbeats(
          () => client.api.heartbeatTaskRun({ params: { id: run.id }, body: { attempt: run.attempt } }),
          controller,
          `task run '${run.name}'`,
        );
        const unwatch = watchForCancel(client, run, controller);
        try {
          // The run's outcome is in its state and logs; a failure here is not the worker's concern.
          await runners.get(run.taskKey)!(run, client, controller.signal).catch(() => undefined);
        } finally {
          unwatch();
          stopHeartbeats();
        }
      },
      onError: (error) => console.error(`task worker: ${(error as Error).message}`),
    });
  } finally {
    process.off("SIGINT", onSignal).off("SIGTERM", onSignal);
  }
}

/**
 * A cancel (CANCELLING, from the API, the CLI or the dashboard) stops the run at once: its signal
 * aborts with a CancelledError, and the run ends CANCELLED.
 */
function watchForCancel(client: BatonClient, run: TaskRun, controller: AbortController): () => void {
  const cancel = () => controller.abort(new CancelledError(`task run '${run.name}'`));
  return taskRunWatch(client).watch(run.id, {
    look: (state) => {
      if (state) {
        if (state.type === "CANCELLING") cancel();
        return;
      }
      // The stream (re)opened: a cancel may have come before it.
      void client.api.readTaskRun({ params: { id: run.id } }).then(
        (now) => {
          if (now.state?.type === "CANCELLING") cancel();
        },
        () => undefined,
      );
    },
    // Heard of no more: the run goes on, as a flow run whose cancel stream broke does.
    fail: () => undefined,
  });
}
