/**
 * Figure 4 of the benchmark issue, queue throughput under limits: N runs through one work pool
 * whose queue is limited to 8, with 4 workers claiming them: runs per second, and the most runs in
 * flight at once (PENDING to final state, from the server's own state history): it must equal the
 * limit and never exceed it.
 *
 * The workers are 4 claim loops (the SDK's, as `baton worker start` uses) in this process, each able
 * to take 4 runs at once (16 > the limit, so the limit binds); "running" a run is proposing RUNNING
 * and COMPLETED, so the figure is the queue's, not child processes' start time (see dispatch).
 *
 * The same queue, of a served deployment, is then drained by one serve process carrying out `limit`
 * runs at once, each a flow that returns at once: claimed and started in one step, then COMPLETED.
 *
 * Quick pass: 1,000 runs; full: 10,000. Flags: --runs=N --workers=N --limit=N --db=sqlite,postgres
 */
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { BatonClient } from "@baton/client";
import { claimLoop } from "@baton/sdk";
import { openDatabase } from "@baton/server";
import { startProcess } from "../test/processes.js";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { DATABASES, startBenchServer, type DatabaseKind } from "./server.js";
import { fmt } from "./stats.js";

/** The most runs holding the queue at one instant, from each run's PENDING and final state times. */
async function peakInFlight(databaseUrl: string): Promise<number> {
  const db = openDatabase(databaseUrl);
  try {
    const states = await db.kysely
      .selectFrom("states")
      .select(["flowRunId", "type", "timestamp"])
      .where("flowRunId", "is not", null)
      .where("type", "in", ["PENDING", "COMPLETED"])
      .execute();
    // An end and a start at the same millisecond: the end first (the claim saw the room it left).
    const edges = states.map((s) => [Date.parse(s.timestamp), s.type === "PENDING" ? 1 : -1] as const);
    edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let open = 0;
    let most = 0;
    for (const [, change] of edges) most = Math.max(most, (open += change));
    return most;
  } finally {
    await db.close();
  }
}

/**
 * Puts `runs` runs in a pool whose queue is limited to `limit` and drains it with `workers` claim
 * loops; returns the seconds from the workers' start to the last completion.
 */
export async function drainQueue(
  apiUrl: string,
  { runs, workers, limit }: { runs: number; workers: number; limit: number },
  progress: (message: string) => void,
): Promise<number> {
  const client = new BatonClient({ url: apiUrl });
  await client.api.createWorkPool({ body: { name: "bench", type: "process" } });
  await client.api.updateWorkQueue({
    params: { pool: "bench", name: "default" },
    body: { concurrencyLimit: limit },
  });
  const deployment = await client.api.createDeployment({
    body: { name: "queued", flowName: "bench-queue", workPoolName: "bench" },
  });
  progress(`creating ${runs} runs`);
  for (let i = 0; i < runs; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, runs - i) }, () =>
        client.api.createDeploymentRun({ params: { id: deployment.id }, body: {} }),
      ),
    );
  }
  progress(`${workers} workers draining the queue`);
  let done = 0;
  const stop = new AbortController();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const own = new BatonClient({ url: apiUrl });
      return claimLoop({
        client: own,
        signal: stop.signal,
        capacity: 4,
        request: { workerName: `bench-${w}`, workPoolName: "bench" },
        start: async ({ flowRun }) => {
          const id = { params: { id: flowRun.id } };
          await own.api.setFlowRunState({ ...id, body: { state: { type: "RUNNING" } } });
          await own.api.setFlowRunState({ ...id, body: { state: { type: "COMPLETED" } } });
          if (++done === runs) stop.abort();
        },
        onError: (error) => progress(`worker ${w}: ${String(error)}`),
      });
    }),
  );
  return (performance.now() - started) / 1000;
}

const SERVE = fileURLToPath(new URL("./fixtures/drain-serve.ts", import.meta.url));

/**
 * Puts `runs` runs in a served deployment and drains them with one serve process carrying out
 * `limit` at once. Its rate is counted from its ready line (its deployments registered) to the last
 * completion, heard on the event stream of changes into COMPLETED, over the runs completed in that
 * time: a new Node process's start (`startSeconds`) is no part of a queue's throughput, and the job
 * queues beside it start their workers within the benchmark's own process.
 */
export async function drainServed(
  apiUrl: string,
  { runs, limit }: { runs: number; limit: number },
  progress: (message: string) => void,
): Promise<{ runsPerSecond: number; startSeconds: number }> {
  const env = { BATON_API_URL: apiUrl, BATON_BENCH_SERVE_LIMIT: String(limit) };
  const registering = startProcess([SERVE], { env });
  await registering.waitForLine(/^ready/);
  await registering.stop();
  const client = new BatonClient({ url: apiUrl });
  const { id } = await client.api.readDeploymentByName({
    params: { flowName: "bench-dispatch", deploymentName: "drained" },
  });
  progress(`creating ${runs} runs`);
  for (let i = 0; i < runs; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, runs - i) }, () =>
        client.api.createDeploymentRun({ params: { id }, body: {} }),
      ),
    );
  }
  const stop = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  let completed = 0;
  const drained = new Promise<void>((resolve, reject) => {
    const counting = { stateTypes: ["COMPLETED" as const], signal: stop.signal, onOpen: () => opened() };
    client.events(counting, () => ++completed === runs && resolve()).catch(reject);
  });
  await open;
  progress(`a serve process draining the runs, ${limit} at a time`);
  const spawned = performance.now();
  const served = startProcess([SERVE], { env });
  try {
    await served.waitForLine(/^ready/);
    const [started, before] = [performance.now(), completed];
    await drained;
    const seconds = (performance.now() - started) / 1000;
    return { runsPerSecond: (runs - before) / seconds, startSeconds: (started - spawned) / 1000 };
  } finally {
    stop.abort();
    await served.stop();
  }
}

export const queueThroughput: Benchmark = {
  name: "queue-throughput",
  title: "Queue throughput under limits: runs/s through a pool with 4 workers and a queue limit of 8",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const runs = Number(flag("runs") ?? (options.full ? 10_000 : 1_000));
    const workers = Number(flag("workers") ?? 4);
    const limit = Number(flag("limit") ?? 8);
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;
    const rows: string[][] = [];
    const data: { database: DatabaseKind; runner: string; runsPerSecond: number; peak: number }[] = [];
    for (const database of databases) {
      const progress = (message: string) => options.progress(`${database}: ${message}`);
      for (const [runner, drain] of [
        [
          `${workers} workers`,
          async (apiUrl: string) => runs / (await drainQueue(apiUrl, { runs, workers, limit }, progress)),
        ],
        [
          "serve process",
          async (apiUrl: string) => (await drainServed(apiUrl, { runs, limit }, progress)).runsPerSecond,
        ],
      ] as const) {
        const server = await startBenchServer(database, "process");
        try {
          const runsPerSecond = await drain(server.apiUrl);
          const peak = await peakInFlight(server.databaseUrl);
          data.push({ database, runner, runsPerSecond, peak });
          rows.push([database, runner, String(runs), String(limit), fmt(runsPerSecond), String(peak)]);
        } finally {
          await server.stop();
        }
      }
    }
    return {
      parameters: { runs, workers, limit, databases },
      notes: [
        "Runs per second: from the workers' start (a serve process's ready line: its Node process's start not counted) to the last run's completion; each run is claimed, RUNNING, COMPLETED.",
        `Workers: the queue is limited to ${limit}; serve: one process carrying out ${limit} at once, its claims starting the runs.`,
        `Peak in flight must equal the limit (${limit}) and never exceed it.`,
      ],
      tables: [
        {
          title: "Throughput",
          header: ["database", "carried out by", "runs", "limit", "runs/s", "peak in flight"],
          rows,
        },
      ],
      data,
    };
  },
};
