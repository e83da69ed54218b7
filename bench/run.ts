/**
 * Baton's benchmarks. Never part of the test suite: they measure and print, and assert nothing.
 *
 *   npm run bench                                   # every benchmark, quick pass
 *   npm run bench -- task-overhead --full           # one benchmark, full pass
 *   npm run bench -- task-overhead --server=both --profile
 *
 * Runs on the TypeScript sources (node --conditions=source --import tsx); a server in a process of its
 * own runs the built packages (`npm run build`, done by `npm ci`), as users run it.
 * Prints a table per benchmark on stdout (progress on stderr) and writes the numbers to
 * bench/results/NAME-TIMESTAMP.json. Set BATON_BENCH_DATABASE_URL (or BATON_TEST_DATABASE_URL) to a
 * PostgreSQL server to measure on PostgreSQL as well as SQLite.
 */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, platform, release } from "node:os";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { resultPath } from "./results.js";
import { table } from "./stats.js";

/** Every benchmark, by name, loaded only when picked. Add new ones here. */
const BENCHMARKS: Record<string, () => Promise<Benchmark>> = {
  "task-overhead": async () => (await import("./task-overhead.js")).taskOverhead,
  dispatch: async () => (await import("./dispatch.js")).dispatch,
  "write-throughput": async () => (await import("./write-throughput.js")).writeThroughput,
  "queue-throughput": async () => (await import("./queue-throughput.js")).queueThroughput,
  windmill: async () => (await import("./windmill.js")).windmill,
  memory: async () => (await import("./memory.js")).memory,
  "job-queues": async () => (await import("./job-queues.js")).jobQueues,
  "dashboard-scale": async () => (await import("./dashboard-scale.js")).dashboardScale,
  replicas: async () => (await import("./replicas.js")).replicas,
  "store-growth": async () => (await import("./store-growth.js")).storeGrowth,
  "durable-steps": async () => (await import("./durable-steps.js")).durableSteps,
};

function parseArgs(argv: string[]) {
  const names: string[] = [];
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const flag = /^--([^=]+)(?:=(.*))?$/.exec(arg);
    if (flag) flags.set(flag[1]!, flag[2] ?? "true");
    else names.push(arg);
  }
  return { names, flags };
}

function gitCommit(): string | null {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).trim();
  } catch {
    return null;
  }
}

function print(benchmark: Benchmark, report: BenchmarkReport, file: string): void {
  const lines = [`== ${benchmark.name}: ${benchmark.title}`, ""];
  for (const note of report.notes) lines.push(`- ${note}`);
  for (const t of report.tables) lines.push("", t.title, table(t.header, t.rows));
  lines.push("", `Results: ${file}`, "");
  process.stdout.write(`${lines.join("\n")}\n`);
}

async function main(): Promise<number> {
  const { names, flags } = parseArgs(process.argv.slice(2));
  if (flags.has("help") || flags.has("h")) {
    console.log(
      `usage: npm run bench -- [${Object.keys(BENCHMARKS).join("|")}]... [--full] [benchmark flags]`,
    );
    return 0;
  }
  const unknown = names.filter((name) => !(name in BENCHMARKS));
  if (unknown.length > 0) {
    console.error(
      `unknown benchmark(s): ${unknown.join(", ")}; there are: ${Object.keys(BENCHMARKS).join(", ")}`,
    );
    return 2;
  }
  const full = flags.delete("full");
  const machine = {
    node: process.version,
    platform: `${platform()} ${release()}`,
    cpu: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
  };
  process.stdout.write(
    `Baton benchmarks, ${full ? "full" : "quick"} pass; Node ${machine.node}, ${machine.cpus} x ${machine.cpu}\n\n`,
  );
  for (const name of names.length ? names : Object.keys(BENCHMARKS)) {
    const benchmark = await BENCHMARKS[name]!();
    const startedAt = new Date();
    const report = await benchmark.run({
      full,
      flags,
      progress: (message) => process.stderr.write(`  [${name}] ${message}\n`),
    });
    const file = resultPath(name, "json");
    const result = {
      benchmark: name,
      title: benchmark.title,
      pass: full ? "full" : "quick",
      startedAt: startedAt.toISOString(),
      seconds: (Date.now() - startedAt.getTime()) / 1000,
      commit: gitCommit(),
      machine,
      flags: Object.fromEntries(flags),
      ...report,
    };
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    print(benchmark, report, file);
  }
  return 0;
}

// Exit explicitly: keep-alive sockets to stopped servers must not hold the process open.
main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
