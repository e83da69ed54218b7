import { Command } from "commander";
import { Worker } from "@baton/worker";
import { collect, parseCount, parsePositive } from "../options.js";
import { requirePool } from "../pools.js";
import { apiClient } from "../settings.js";

export function workerCommand(): Command {
  const group = new Command("worker").description("Run workers that carry out the runs of a work pool");
  group
    .command("start")
    .description("Start a worker: it claims the pool's runs and runs each in its own process")
    .requiredOption("-p, --pool <pool>", "the work pool to serve")
    .option("-q, --work-queue <queue>", "serve only this queue (repeatable)", collect, [])
    .option("-n, --name <name>", "the worker's name (default worker-<host>-<pid>)")
    .option("-l, --limit <n>", "runs carried out at once, at most", parsePositive, 10)
    .option("--heartbeat-interval <seconds>", "seconds between heartbeats", parsePositive, 10)
    .option(
      "--warm-runners <n>",
      "process pools: runner processes kept started ahead, so a run starts at once (0: none)",
      parseCount,
      1,
    )
    .action(
      async (options: {
        pool: string;
        workQueue: string[];
        name?: string;
        limit: number;
        heartbeatInterval: number;
        warmRunners: number;
      }) => {
        const client = apiClient();
        // Fails fast, in one line, on an unreachable server or a pool or queue that does not exist.
        await requirePool(client, options.pool, options.workQueue);
        const stop = new AbortController();
        const onSignal = () => {
          if (stop.signal.aborted) process.exit(130); // a second Ctrl-C does not wait
          process.stderr.write(
            "Stopping: no new runs; waiting for the runs in flight (Ctrl-C again to exit now)\n",
          );
          stop.abort();
        };
        process.on("SIGINT", onSignal).on("SIGTERM", onSignal);
        await new Worker({
          client,
          pool: options.pool,
          queues: options.workQueue,
          ...(options.name ? { name: options.name } : {}),
          limit: options.limit,
          heartbeatIntervalSeconds: options.heartbeatInterval,
          warmRunners: options.warmRunners,
          signal: stop.signal,
        }).run();
      },
    );
  return group;
}
