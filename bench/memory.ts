/**
 * Figure 6 of the benchmark issue, memory: the server's resident set size idle, with many runs in
 * the store, and with many runs in flight. The server runs in its own process; RSS is read from
 * /proc after a forced settle (a few requests, then a short pause for the allocator).
 *
 * The stored runs are task runs of one flow run, recorded in batches of 1,000 with three states each
 * (as the SDK records them); the runs in flight are flow runs made RUNNING through the API.
 *
 * Quick pass: 10,000 stored, 200 in flight; full: 100,000 and 1,000.
 * Flags: --stored=N --in-flight=N --db=sqlite,postgres
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { BatonClient } from "@baton/client";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { completedTaskRuns } from "./records.js";
import { DATABASES, startBenchServer, type DatabaseKind } from "./server.js";
import { fmt } from "./stats.js";

/** Resident set size of a process, MiB. */
function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((entry) => entry.startsWith("VmRSS:"));
  return Number(line?.match(/(\d+)/)?.[1] ?? Number.NaN) / 1024;
}

async function settled(client: BatonClient, pid: number): Promise<number> {
  await client.api.health();
  await sleep(500); // lets timers and the allocator settle; this is a reading, not a wait for an event
  return rssMiB(pid);
}

export const memory: Benchmark = {
  name: "memory",
  title: "Server memory: RSS idle, with runs stored, with runs in flight",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const stored = Number(flag("stored") ?? (options.full ? 100_000 : 10_000));
    const inFlight = Number(flag("in-flight") ?? (options.full ? 1_000 : 200));
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;
    const rows: string[][] = [];
    const data: { database: DatabaseKind; idle: number; withStored: number; withInFlight: number }[] = [];
    for (const database of databases) {
      const server = await startBenchServer(database, "process");
      try {
        const client = new BatonClient({ url: server.apiUrl });
        const idle = await settled(client, server.pid);
        options.progress(`${database}: idle ${fmt(idle)} MiB; storing ${stored} runs`);
        const parent = await client.api.createFlowRun({
          body: { flowName: "bench-memory", state: { type: "PENDING" } },
        });
        for (let i = 0; i < stored; i += 1000) {
          const records = completedTaskRuns(parent.id, i, Math.min(1000, stored - i));
          await client.api.recordTaskRuns({ body: records });
        }
        const withStored = await settled(client, server.pid);
        options.progress(
          `${database}: ${fmt(withStored)} MiB with ${stored} stored; starting ${inFlight} runs`,
        );
        for (let i = 0; i < inFlight; i += 50) {
          await Promise.all(
            Array.from({ length: Math.min(50, inFlight - i) }, async () => {
              const run = await client.api.createFlowRun({
                body: { flowName: "bench-memory-live", state: { type: "PENDING" } },
              });
              await client.api.setFlowRunState({
                params: { id: run.id },
                body: { state: { type: "RUNNING" } },
              });
            }),
          );
        }
        // In flight means watched too: each run's process follows its events, as the SDK does.
        const watchers = new AbortController();
        const live = (
          await client.api.listFlowRuns({ query: { flowName: "bench-memory-live", limit: 1000 } })
        ).items;
        const streams = live.map((run) =>
          client
            .events({ flowRunId: run.id, signal: watchers.signal }, () => undefined)
            .catch(() => undefined),
        );
        const withInFlight = await settled(client, server.pid);
        watchers.abort();
        await Promise.all(streams);
        data.push({ database, idle, withStored, withInFlight });
        rows.push([
          database,
          fmt(idle),
          `${fmt(withStored)} (${stored.toLocaleString("en")} stored)`,
          `${fmt(withInFlight)} (${inFlight} in flight, each with an event stream)`,
        ]);
      } finally {
        await server.stop();
      }
    }
    return {
      parameters: { stored, inFlight, databases },
      notes: [
        "RSS of the server process (Node + the store's client; SQLite's page cache is in-process, PostgreSQL's is not).",
      ],
      tables: [
        {
          title: "Server RSS, MiB",
          header: ["database", "idle", "with runs stored", "with runs in flight"],
          rows,
        },
      ],
      data,
    };
  },
};
