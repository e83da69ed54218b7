/**
 * Figure 3 of the benchmark issue, server write throughput: task-run state transitions per second the
 * server accepts from 8 concurrent clients. Target: ≥ 20,000/s on SQLite.
 *
 * Two ways a client sends them: "one per request" (create the task run PENDING, then propose RUNNING
 * and COMPLETED: three requests, each decided by the rules in its own transaction), and "batched"
 * (what the SDK does for tasks it orchestrates itself: `POST /task-runs/record` with 500 task runs of
 * three states each). The server runs in its own process; the 8 clients share this one.
 *
 * Quick pass: 3 s per variant; full: 10 s. Flags: --seconds=N --clients=N --batch=N --db=sqlite,postgres
 */
import { performance } from "node:perf_hooks";
import { BatonClient } from "@baton/client";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { completedTaskRuns } from "./records.js";
import { DATABASES, startBenchServer, type DatabaseKind } from "./server.js";
import { fmt } from "./stats.js";

const TARGET = 20_000;

type Variant = "one per request" | "batched";

async function flowRunFor(client: BatonClient): Promise<string> {
  const run = await client.api.createFlowRun({
    body: { flowName: "bench-writes", state: { type: "PENDING" } },
  });
  await client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
  return run.id;
}

/** One client's loop until the deadline; returns the transitions the server accepted. */
async function clientLoop(
  client: BatonClient,
  flowRunId: string,
  variant: Variant,
  batch: number,
  until: number,
): Promise<number> {
  let transitions = 0;
  let task = 0;
  while (performance.now() < until) {
    if (variant === "one per request") {
      const run = await client.api.createTaskRun({
        body: {
          flowRunId,
          name: `t-${task}`,
          taskKey: "bench",
          dynamicKey: String(task++),
          state: { type: "PENDING" },
        },
      });
      await client.api.setTaskRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
      await client.api.setTaskRunState({ params: { id: run.id }, body: { state: { type: "COMPLETED" } } });
      transitions += 3;
    } else {
      const records = completedTaskRuns(flowRunId, task, batch);
      task += batch;
      await client.api.recordTaskRuns({ body: records });
      transitions += batch * 3;
    }
  }
  return transitions;
}

export const writeThroughput: Benchmark = {
  name: "write-throughput",
  title: "Server write throughput: task-run state transitions per second, 8 concurrent clients",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const seconds = Number(flag("seconds") ?? (options.full ? 10 : 3));
    const clients = Number(flag("clients") ?? 8);
    const batch = Number(flag("batch") ?? 500);
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;
    const rows: string[][] = [];
    const data: { database: DatabaseKind; variant: Variant; perSecond: number }[] = [];
    for (const database of databases) {
      for (const variant of ["one per request", "batched"] as Variant[]) {
        const server = await startBenchServer(database, "process");
        try {
          const pool = Array.from({ length: clients }, () => new BatonClient({ url: server.apiUrl }));
          const flowRunId = await flowRunFor(pool[0]!);
          // Warm-up: a short burst, not counted.
          await Promise.all(
            pool.map((c) => clientLoop(c, flowRunId, variant, batch, performance.now() + 300)),
          );
          const started = performance.now();
          const counts = await Promise.all(
            pool.map((c) => clientLoop(c, flowRunId, variant, batch, started + seconds * 1000)),
          );
          const elapsed = (performance.now() - started) / 1000;
          const perSecond = counts.reduce((a, b) => a + b, 0) / elapsed;
          data.push({ database, variant, perSecond });
          options.progress(`${database} ${variant}: ${fmt(perSecond)} transitions/s`);
          rows.push([database, variant, String(clients), fmt(perSecond), fmt(perSecond / TARGET)]);
        } finally {
          await server.stop();
        }
      }
    }
    return {
      parameters: { seconds, clients, batch, databases },
      notes: [
        "A transition is one state a task run enters (PENDING, RUNNING, COMPLETED), accepted and stored with its history row.",
        `"one per request": each transition is its own HTTP request and transaction; "batched": ${batch} task runs × 3 states per request.`,
        `Target ≥ ${TARGET.toLocaleString("en")}/s on SQLite; the ratio column is measured / target.`,
      ],
      tables: [
        {
          title: "Transitions per second",
          header: ["database", "variant", "clients", "per second", "× target"],
          rows,
        },
      ],
      data,
    };
  },
};
