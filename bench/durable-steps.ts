/**
 * A step whose start the server decides, beside DBOS Transact's checkpointed workflow step, on the
 * same local PostgreSQL in the same run:
 *
 * - Baton: a tracked flow run of N sequential tasks, each with a cache key of its own (the task reads
 *   whether a valid cached result exists, and records PENDING, RUNNING and COMPLETED with their
 *   history), and again with a tag that has a concurrency limit, as the seed's `db-lock` (the server
 *   decides every start, taking a slot under the limit, and gives the slot back at its end); the
 *   server runs in a process of its own, as in production;
 * - DBOS: a workflow of N sequential steps; DBOS checkpoints each step's output in its system database
 *   (in the workflow's process) so that a recovered workflow skips it.
 *
 * Both figures are milliseconds per step of the sequence, after a warm-up. PostgreSQL only (set
 * BATON_BENCH_DATABASE_URL or BATON_TEST_DATABASE_URL). Quick pass: 200 steps, 3 repetitions; full:
 * 2,000. Flags: --steps=N --reps=N
 */
import { performance } from "node:perf_hooks";
import { DBOS } from "@dbos-inc/dbos-sdk";
import { BatonClient } from "@baton/client";
import { flow, task } from "@baton/sdk";
import { throwawayDatabase } from "../test/databases.js";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { POSTGRES_URL, startBenchServer } from "./server.js";
import { fmt, summarize, type Summary } from "./stats.js";

const increment = async (i: number): Promise<number> => i + 1;

/** A new nonce per flow run keeps every cache key new: each start is a real decision. */
let nonce = 0;
/** Steps per flow run, set before the runs (a closure, as the task-overhead benchmark does). */
let sequenceLength = 0;
const decided = task(
  { name: "bench-decided-step", cacheKey: (i: number) => `step-${nonce}-${i}` },
  increment,
);
const LIMITED_TAG = "bench-db-lock";
const limited = task({ name: "bench-limited-step", tags: [LIMITED_TAG] }, increment);
const sequenceOf = (step: (i: number) => Promise<number>) =>
  flow({ name: "bench-durable-steps" }, async () => {
    nonce++;
    for (let i = 0; i < sequenceLength; i++) await step(i);
  });
const batonSequences = { cached: sequenceOf(decided), limited: sequenceOf(limited) };

/** Milliseconds per step of each repetition, after one warm-up repetition. */
async function perStep(reps: number, steps: number, sequence: () => Promise<unknown>): Promise<Summary> {
  await sequence();
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const started = performance.now();
    await sequence();
    samples.push((performance.now() - started) / steps);
  }
  return summarize(samples);
}

async function baton(reps: number, steps: number): Promise<Record<keyof typeof batonSequences, Summary>> {
  const server = await startBenchServer("postgres", "process");
  const savedUrl = process.env.BATON_API_URL;
  process.env.BATON_API_URL = server.apiUrl;
  try {
    sequenceLength = steps;
    await new BatonClient({ url: server.apiUrl }).api.createConcurrencyLimit({
      body: { tag: LIMITED_TAG, limit: 10 },
    });
    return {
      cached: await perStep(reps, steps, () => batonSequences.cached()),
      limited: await perStep(reps, steps, () => batonSequences.limited()),
    };
  } finally {
    if (savedUrl === undefined) delete process.env.BATON_API_URL;
    else process.env.BATON_API_URL = savedUrl;
    await server.stop();
  }
}

async function dbos(reps: number, steps: number): Promise<Summary> {
  const database = await throwawayDatabase("postgres", {
    postgresUrl: POSTGRES_URL,
    prefix: "baton-bench-dbos",
  });
  try {
    DBOS.setConfig({ name: "baton-bench", systemDatabaseUrl: database.url, logLevel: "error" });
    const step = DBOS.registerStep(increment, { name: "increment" });
    const workflow = DBOS.registerWorkflow(
      async (n: number) => {
        for (let i = 0; i < n; i++) await step(i);
      },
      { name: "sequence" },
    );
    await DBOS.launch();
    try {
      return await perStep(reps, steps, () => workflow(steps));
    } finally {
      await DBOS.shutdown();
    }
  } finally {
    await database.drop();
  }
}

export const durableSteps: Benchmark = {
  name: "durable-steps",
  title: "A step with a cache key or a limited tag (Baton) beside a checkpointed DBOS step (PostgreSQL)",
  async run(options): Promise<BenchmarkReport> {
    if (!POSTGRES_URL)
      throw new Error("set BATON_BENCH_DATABASE_URL (or BATON_TEST_DATABASE_URL) to a PostgreSQL server");
    const steps = Number(options.flags.get("steps") ?? (options.full ? 2_000 : 200));
    const reps = Number(options.flags.get("reps") ?? 3);
    options.progress(`DBOS: ${reps} × ${steps} steps`);
    const dbosSteps = await dbos(reps, steps);
    options.progress(`Baton: ${reps} × ${steps} decided tasks`);
    const batonSteps = await baton(reps, steps);
    const row = (system: string, s: Summary) => [
      system,
      fmt(s.median),
      fmt(s.min),
      fmt(s.max),
      fmt(s.median / dbosSteps.median),
    ];
    return {
      parameters: { steps, reps },
      notes: [
        "Milliseconds per step of a sequence, median (min, max) over the repetitions, after a warm-up.",
        "Baton: every task has a new cache key (its process reads whether a cached result exists) or a tag with a concurrency limit (the server decides its start, taking a slot); each records its three states. DBOS checkpoints each step's output.",
        "The ratio is Baton's figure over DBOS's: above 1 is slower.",
      ],
      tables: [
        {
          title: "Per step on the local PostgreSQL",
          header: ["system", "ms/step median", "min", "max", "× DBOS"],
          rows: [
            row("DBOS Transact step", dbosSteps),
            row("Baton task, cache key", batonSteps.cached),
            row("Baton task, limited tag (server decides)", batonSteps.limited),
          ],
        },
      ],
      data: { dbos: dbosSteps, baton: batonSteps },
    };
  },
};
