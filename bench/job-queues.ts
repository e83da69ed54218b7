/**
 * Figure 7 of the benchmark issue: Baton beside the job queues a TypeScript user picks for background
 * jobs, graphile-worker and pg-boss, on the same local PostgreSQL in the same run:
 *
 * - latency: enqueue → handler start, one job at a time on an idle worker (Baton: create a deployment
 *   run → first line of the flow in an idle serve process, as in the dispatch benchmark);
 * - throughput: N jobs queued, then drained with 8 at a time (Baton: one serve process carrying out 8
 *   at once, as a graphile-worker process does, and, in a row of its own, the queue-throughput
 *   benchmark's pool with a queue limit of 8 and 4 workers; every run gets PENDING, RUNNING and
 *   COMPLETED states with their history, which the job queues do not keep).
 *
 * PostgreSQL only (set BATON_TEST_DATABASE_URL or BATON_BENCH_DATABASE_URL). Quick pass: 30 latency
 * samples, 1,000 jobs; full: 200 and 10,000. Flags: --samples=N --jobs=N
 */
import { performance } from "node:perf_hooks";
import { BatonClient } from "@baton/client";
import { Logger, makeWorkerUtils, run as runGraphile } from "graphile-worker";
import pg from "pg";
import PgBoss from "pg-boss";
import { throwawayDatabase } from "../test/databases.js";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { measure, startRunner } from "./dispatch.js";
import { drainQueue, drainServed } from "./queue-throughput.js";
import { POSTGRES_URL, startBenchServer } from "./server.js";
import { fmt, summarize, type Summary } from "./stats.js";

const now = () => performance.timeOrigin + performance.now();
const CONCURRENCY = 8;
/** graphile-worker logs every job on stdout, which holds the report. */
const quiet = new Logger(() => () => undefined);

interface Figures {
  latency: Summary;
  jobsPerSecond: number;
  /** Baton only: the same queue drained by 4 workers from a pool whose queue is limited to 8. */
  poolJobsPerSecond?: number;
}

/** A job handler that resolves the promise its enqueuer waits on, with the start time. */
function handlerSignals() {
  const waiting = new Map<number, (at: number) => void>();
  return {
    started: (id: number) => waiting.get(id)?.(now()),
    wait: (id: number) => new Promise<number>((resolve) => waiting.set(id, resolve)),
  };
}

async function graphile(url: string, samples: number, jobs: number): Promise<Figures> {
  const signals = handlerSignals();
  let handled = 0;
  let allHandled: () => void = () => undefined;
  const taskList = {
    latency: async (payload: unknown) => signals.started((payload as { id: number }).id),
    work: async () => {
      if (++handled === jobs) allHandled();
    },
  };
  // One pool for all of graphile-worker's parts, ended here: an idle connection of a pool it ends
  // later would be terminated by the database's drop, an 'error' nobody listens to.
  const pgPool = new pg.Pool({ connectionString: url, max: CONCURRENCY + 2 });
  pgPool.on("error", () => undefined);
  const utils = await makeWorkerUtils({ pgPool, logger: quiet });
  await utils.migrate();
  const runner = await runGraphile({
    pgPool,
    concurrency: CONCURRENCY,
    noHandleSignals: true,
    logger: quiet,
    taskList,
  });
  try {
    const latencies: number[] = [];
    for (let id = -3; id < samples; id++) {
      const started = signals.wait(id);
      const at = now();
      await utils.addJob("latency", { id });
      const latency = (await started) - at;
      if (id >= 0) latencies.push(latency); // the first three warm up
    }
    await runner.stop();
    await utils.addJobs(Array.from({ length: jobs }, () => ({ identifier: "work", payload: {} })));
    const drained = new Promise<void>((resolve) => (allHandled = resolve));
    const t0 = performance.now();
    const draining = await runGraphile({
      pgPool,
      concurrency: CONCURRENCY,
      noHandleSignals: true,
      logger: quiet,
      taskList,
    });
    await drained;
    const seconds = (performance.now() - t0) / 1000;
    await draining.stop();
    return { latency: summarize(latencies), jobsPerSecond: jobs / seconds };
  } finally {
    await utils.release();
    await pgPool.end();
  }
}

async function pgBoss(url: string, samples: number, jobs: number): Promise<Figures> {
  const boss = new PgBoss({ connectionString: url });
  boss.on("error", () => undefined);
  await boss.start();
  try {
    await boss.createQueue("latency");
    await boss.createQueue("work");
    const signals = handlerSignals();
    // Its best configuration: pg-boss polls (every 0.5 s at the fastest) and has no push between
    // processes, but a producer in the worker's process may wake it (`notifyWorker`), and a worker
    // woken after a full batch fetches the next at once instead of waiting for the poll.
    const latencyWorker = await boss.work<{ id: number }>(
      "latency",
      { pollingIntervalSeconds: 0.5 },
      async ([job]) => {
        signals.started(job!.data.id);
      },
    );
    const latencies: number[] = [];
    for (let id = -3; id < samples; id++) {
      const started = signals.wait(id);
      const at = now();
      await boss.send("latency", { id });
      boss.notifyWorker(latencyWorker);
      const latency = (await started) - at;
      if (id >= 0) latencies.push(latency);
    }
    await boss.insert(Array.from({ length: jobs }, () => ({ name: "work", data: {} })));
    let handled = 0;
    let worker = "";
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      void boss
        .work("work", { pollingIntervalSeconds: 0.5, batchSize: CONCURRENCY }, async (batch) => {
          handled += batch.length;
          if (handled >= jobs) resolve();
          else if (batch.length === CONCURRENCY) boss.notifyWorker(worker);
        })
        .then((id) => (worker = id));
    });
    const seconds = (performance.now() - t0) / 1000;
    return { latency: summarize(latencies), jobsPerSecond: jobs / seconds };
  } finally {
    await boss.stop({ graceful: false, wait: false });
  }
}

async function baton(samples: number, jobs: number, progress: (message: string) => void): Promise<Figures> {
  const latencyServer = await startBenchServer("postgres", "process");
  let latency: Summary;
  try {
    const client = new BatonClient({ url: latencyServer.apiUrl });
    const served = await startRunner("serve", client, latencyServer.apiUrl);
    try {
      const { id } = await client.api.readDeploymentByName({
        params: { flowName: "bench-dispatch", deploymentName: "served" },
      });
      for (let i = 0; i < 3; i++) await measure(client, id);
      const totals: number[] = [];
      for (let i = 0; i < samples; i++) totals.push((await measure(client, id)).total);
      latency = summarize(totals);
    } finally {
      await served.stop();
    }
  } finally {
    await latencyServer.stop();
  }
  const onServer = async <T>(drain: (apiUrl: string) => Promise<T>): Promise<T> => {
    const queueServer = await startBenchServer("postgres", "process");
    try {
      return await drain(queueServer.apiUrl);
    } finally {
      await queueServer.stop();
    }
  };
  const served = await onServer((apiUrl) =>
    drainServed(apiUrl, { runs: jobs, limit: CONCURRENCY }, progress),
  );
  progress(`the serve process started in ${served.startSeconds.toFixed(2)} s (not counted)`);
  return {
    latency,
    jobsPerSecond: served.runsPerSecond,
    poolJobsPerSecond: await onServer(
      async (apiUrl) =>
        jobs / (await drainQueue(apiUrl, { runs: jobs, workers: 4, limit: CONCURRENCY }, progress)),
    ),
  };
}

export const jobQueues: Benchmark = {
  name: "job-queues",
  title: "Beside graphile-worker and pg-boss: enqueue → handler start, and jobs per second (PostgreSQL)",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const samples = Number(flag("samples") ?? (options.full ? 200 : 30));
    const jobs = Number(flag("jobs") ?? (options.full ? 10_000 : 1_000));
    if (!POSTGRES_URL) {
      return {
        parameters: {},
        notes: ["skipped: set BATON_TEST_DATABASE_URL (or BATON_BENCH_DATABASE_URL) to a PostgreSQL server"],
        tables: [],
        data: null,
      };
    }
    const results: Record<string, Figures> = {};
    for (const [name, measureOne] of [
      ["graphile-worker", (url: string) => graphile(url, samples, jobs)],
      ["pg-boss", (url: string) => pgBoss(url, samples, jobs)],
    ] as const) {
      const db = await throwawayDatabase("postgres", { postgresUrl: POSTGRES_URL, prefix: "baton-bench" });
      try {
        options.progress(`${name}: ${samples} latency samples, ${jobs} jobs`);
        results[name] = await measureOne(db.url);
      } finally {
        await db.drop();
      }
    }
    options.progress(`baton: ${samples} latency samples, ${jobs} runs`);
    results.baton = await baton(samples, jobs, (message) => options.progress(message));
    const ours = results.baton;
    const rows = Object.entries(results).map(([name, figures]) => [
      name,
      fmt(figures.latency.median),
      fmt(figures.latency.p99),
      fmt(figures.jobsPerSecond),
      name === "baton" ? "1" : fmt(ours.latency.median / figures.latency.median),
      name === "baton" ? "1" : fmt(ours.jobsPerSecond / figures.jobsPerSecond),
    ]);
    rows.push(["baton, 4 pool workers", "–", "–", fmt(ours.poolJobsPerSecond), "–", "–"]);
    return {
      parameters: { samples, jobs, concurrency: CONCURRENCY },
      notes: [
        "Latency: enqueue → handler start (Baton: create a deployment run → the flow's first line in an idle serve process).",
        `Throughput: ${jobs} jobs queued first, then drained ${CONCURRENCY} at a time (Baton: one serve process, counted from its ready line as the queues' workers start within this process; its last row, 4 workers from a pool whose queue is limited to ${CONCURRENCY}). Baton records three states with history per run, the queues one row.`,
        "Ratios are Baton's figure over the other's: latency below 1 is faster, throughput above 1 is more.",
        `pg-boss at its best: polling every 0.5 s (its shortest), woken by notifyWorker from the producer in its process, and fetching the next batch of ${CONCURRENCY} at once after a full one.`,
      ],
      tables: [
        {
          title: "Job queues on the local PostgreSQL",
          header: [
            "system",
            "latency p50 ms",
            "latency p99 ms",
            "jobs/s",
            "Baton latency ×",
            "Baton jobs/s ×",
          ],
          rows,
        },
      ],
      data: results,
    };
  },
};
