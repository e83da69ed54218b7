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
 * Quick pass: 1,000 runs; full: 10,000. Flags: --runs=N --workers=N --limit=N --db=sqlite,postgres
 */
import { performance } from "node:perf_hooks";
import { BatonClient } from "@baton/client";
import { claimLoop } from "@baton/sdk";
import { openDatabase } from "@baton/server";
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
    const data: { database: DatabaseKind; runsPerSecond: number; peak: number }[] = [];
    for (const database of databases) {
      const server = await startBenchServer(database, "process");
      try {
        const seconds = await drainQueue(server.apiUrl, { runs, workers, limit }, (message) =>
          options.progress(`${database}: ${message}`),
        );
        const peak = await peakInFlight(server.databaseUrl);
        const runsPerSecond = runs / seconds;
        data.push({ database, runsPerSecond, peak });
        rows.push([database, String(runs), String(workers), String(limit), fmt(runsPerSecond), String(peak)]);
      } finally {
        await server.stop();
      }
    }
    return {
      parameters: { runs, workers, limit, databases },
      notes: [
        "Runs per second: from the workers' start to the last run's completion; each run is claimed, RUNNING, COMPLETED.",
        `Peak in flight must equal the limit (${limit}) and never exceed it.`,
      ],
      tables: [
        {
          title: "Throughput",
          header: ["database", "runs", "workers", "queue limit", "runs/s", "peak in flight"],
          rows,
        },
      ],
      data,
    };
  },
};
