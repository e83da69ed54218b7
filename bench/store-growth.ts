/**
 * The store's size as finished runs pile up, and under retention: rounds of N flow runs, each with two
 * task runs (three states each) and five log lines of 100 bytes, as a small real flow leaves them.
 * "kept": nothing is deleted, so the store grows by the same amount each round (the figure: bytes per
 * 10,000 runs). "retention": after each round, the runs of the rounds before it are deleted as
 * `BATON_RUN_RETENTION_DAYS` deletes them (the same store function, through `DELETE /api/flow-runs`),
 * so the store should stay at about one round's size.
 *
 * Size: SQLite's pages in use (page_count × page_size, free pages given back by the incremental
 * vacuum); PostgreSQL's pg_database_size (dead rows are reused after autovacuum, not given back).
 *
 * Quick pass: 3 rounds of 2,000 runs; full: 5 rounds of 10,000. Flags: --runs=N --rounds=N --db=…
 */
import Database from "better-sqlite3";
import pg from "pg";
import { BatonClient } from "@baton/client";
import type { LogCreate, TaskRunRecord } from "@baton/core";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { completedTaskRuns } from "./records.js";
import { DATABASES, startBenchServer, type BenchServer, type DatabaseKind } from "./server.js";
import { fmt } from "./stats.js";

type Mode = "kept" | "retention";
const TASKS_PER_RUN = 2;
const LOGS_PER_RUN = 5;

/** The store's size in bytes, read straight from it. */
async function storeBytes(server: BenchServer): Promise<number> {
  if (server.database === "sqlite") {
    const db = new Database(server.databaseUrl, { readonly: true });
    try {
      const pages = db.pragma("page_count", { simple: true }) as number;
      return pages * (db.pragma("page_size", { simple: true }) as number);
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ bytes: string }>(
      "SELECT pg_database_size(current_database()) AS bytes",
    );
    return Number(rows[0]!.bytes);
  } finally {
    await client.end();
  }
}

/** One round: `runs` finished flow runs with their task runs and logs, 50 created at a time. */
async function round(client: BatonClient, runs: number, first: number): Promise<void> {
  for (let i = 0; i < runs; i += 50) {
    const created = await Promise.all(
      Array.from({ length: Math.min(50, runs - i) }, () =>
        client.api.createFlowRun({ body: { flowName: "bench-store", state: { type: "PENDING" } } }),
      ),
    );
    const to = (type: "RUNNING" | "COMPLETED") =>
      Promise.all(
        created.map((run) =>
          client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type } } }),
        ),
      );
    await to("RUNNING");
    const tasks: TaskRunRecord[] = created.flatMap((run, k) =>
      completedTaskRuns(run.id, (first + i + k) * TASKS_PER_RUN, TASKS_PER_RUN),
    );
    const timestamp = new Date().toISOString();
    const logs: LogCreate[] = created.flatMap((run) =>
      Array.from({ length: LOGS_PER_RUN }, (_, line) => ({
        flowRunId: run.id,
        level: 20,
        message: `line ${line} of a run: ${"x".repeat(80)}`,
        timestamp,
      })),
    );
    await client.api.recordTaskRuns({ body: tasks });
    await client.api.createLogs({ body: logs });
    await to("COMPLETED");
  }
}

export const storeGrowth: Benchmark = {
  name: "store-growth",
  title: "Store size per 10,000 finished runs with their task runs and logs, kept and under retention",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const runs = Number(flag("runs") ?? (options.full ? 10_000 : 2_000));
    const rounds = Number(flag("rounds") ?? (options.full ? 5 : 3));
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;
    const rows: string[][] = [];
    const data: { database: DatabaseKind; mode: Mode; sizes: number[] }[] = [];
    const mib = (bytes: number) => fmt(bytes / 1024 / 1024);
    for (const database of databases) {
      for (const mode of ["kept", "retention"] as Mode[]) {
        const server = await startBenchServer(database, "process");
        try {
          const client = new BatonClient({ url: server.apiUrl });
          const sizes = [await storeBytes(server)];
          for (let r = 0; r < rounds; r++) {
            const started = new Date().toISOString();
            options.progress(`${database}, ${mode}: round ${r + 1} of ${rounds} (${runs} runs)`);
            await round(client, runs, r * runs);
            // The runs of the rounds before this one are past the retention period.
            if (mode === "retention") await client.api.deleteFlowRuns({ query: { before: started } });
            sizes.push(await storeBytes(server));
          }
          data.push({ database, mode, sizes });
          const growth = sizes.slice(1).map((size, r) => size - sizes[r]!);
          const perTenThousand = (growth.slice(1).reduce((a, b) => a + b, 0) / (rounds - 1) / runs) * 10_000;
          rows.push([
            database,
            mode,
            sizes.map(mib).join(" → "),
            mode === "kept" ? mib(perTenThousand) : `${mib(sizes.at(-1)! - sizes[1]!)} since round 1`,
          ]);
        } finally {
          await server.stop();
        }
      }
    }
    return {
      parameters: { runs, rounds, tasksPerRun: TASKS_PER_RUN, logsPerRun: LOGS_PER_RUN, databases },
      notes: [
        `Each round: ${runs.toLocaleString("en")} flow runs (Pending → Running → Completed), each with ${TASKS_PER_RUN} task runs of three states and ${LOGS_PER_RUN} log lines of 100 bytes.`,
        "retention: after each round, the runs that ended before it began are deleted (what BATON_RUN_RETENTION_DAYS does).",
        "Growth per 10,000 runs: the mean growth of the rounds after the first (the first also fills the store's fixed costs).",
        "SQLite: pages in use (the incremental vacuum gives deleted pages back); PostgreSQL: pg_database_size (deleted rows are reused after autovacuum, not given back).",
        "What still grows under retention is the runs' events (their state changes), which BATON_EVENT_RETENTION_DAYS (7) deletes on its own schedule.",
      ],
      tables: [
        {
          title: "Store size, MiB",
          header: [
            "database",
            "mode",
            "empty → after each round",
            "growth per 10,000 runs (kept) / change after round 1",
          ],
          rows,
        },
      ],
      data,
    };
  },
};
