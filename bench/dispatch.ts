/**
 * Figure 2 of the benchmark issue, dispatch latency: from the API call that creates a run of a
 * deployment to the first line of the flow's code, in a serve process and in an idle process worker.
 * The worker figure is split into the claim (create → PENDING, as the server stamped it) and the
 * start (PENDING → first line): handing the run to the runner process the worker started ahead, which
 * loads the TypeScript entrypoint through tsx; `worker-cold` starts a new Node process per run instead.
 * Targets: serve p50 ≤ 25 ms; worker claim p50 ≤ 25 ms; worker claimed → first line ≤ 30 ms. Prefect's
 * workers poll every 10 s.
 *
 * Runs one after another (each waits for the previous to complete), so every run finds its runner
 * idle. Server, serve process and worker are separate processes, as users run them.
 *
 * Quick pass: 30 runs per runner (10 for the workers); full: 200 (50). Warm-up: 3 runs.
 * Flags: --runs=N --worker-runs=N --db=sqlite,postgres --runners=serve,worker,worker-cold
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { BatonClient } from "@baton/client";
import { waitForFlowRun } from "@baton/sdk";
import { startProcess, type TestProcess } from "../test/processes.js";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { DATABASES, startBenchServer, type DatabaseKind } from "./server.js";
import { fmt, summarize, type Summary } from "./stats.js";

/** A serve process; a process worker with a runner started ahead (its default); one without (cold). */
export type Runner = "serve" | "worker" | "worker-cold";
const RUNNERS: Runner[] = ["serve", "worker", "worker-cold"];
/**
 * A worker's run is created this long after the previous one completed: the worker is idle, and the
 * runner it started ahead has had the time to start (Node and tsx take about 0.7 s here).
 */
const WORKER_IDLE_MS = 1500;
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const now = () => performance.timeOrigin + performance.now();

interface Sample {
  /** API call → first line of the flow, ms. */
  total: number;
  /** API call → PENDING (claimed), ms. */
  claim: number;
  /** PENDING → first line, ms. */
  start: number;
}

export async function startRunner(runner: Runner, client: BatonClient, apiUrl: string): Promise<TestProcess> {
  const env = { BATON_API_URL: apiUrl };
  if (runner === "serve") {
    const served = startProcess([fixture("dispatch-serve.ts")], { env });
    await served.waitForLine(/^ready/);
    return served;
  }
  await client.api.createWorkPool({ body: { name: "bench", type: "process" } });
  await client.api.createDeployment({
    body: {
      name: "pooled",
      flowName: "bench-dispatch",
      workPoolName: "bench",
      entrypoint: "dispatch-flows.ts:firstLine",
      path: fixture(""),
    },
  });
  const warmRunners = runner === "worker" ? "1" : "0";
  const worker = startProcess([fixture("dispatch-worker.mjs"), "bench", warmRunners], { env, built: true });
  await worker.waitForLine(/^ready/);
  return worker;
}

export async function measure(client: BatonClient, deploymentId: string): Promise<Sample> {
  const created = now();
  const run = await client.api.createDeploymentRun({ params: { id: deploymentId }, body: {} });
  const done = await waitForFlowRun(client, run.id, 120);
  if (done.state?.type !== "COMPLETED")
    throw new Error(`run ended ${done.state?.name}: ${done.state?.message}`);
  const firstLine = (done.state.data as { value: number }).value;
  const states = await client.api.listFlowRunStates({ params: { id: run.id } });
  const pending = Date.parse(states.find((state) => state.type === "PENDING")!.timestamp);
  return { total: firstLine - created, claim: pending - created, start: firstLine - pending };
}

export const dispatch: Benchmark = {
  name: "dispatch",
  title: "Dispatch latency: API create → first line of the flow, serve and process worker",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const runs = Number(flag("runs") ?? (options.full ? 200 : 30));
    const workerRuns = Number(flag("worker-runs") ?? (options.full ? 50 : 10));
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;
    const runners = (flag("runners")?.split(",") as Runner[] | undefined) ?? RUNNERS;
    const rows: string[][] = [];
    const data: { database: DatabaseKind; runner: Runner; total: Summary; claim: Summary; start: Summary }[] =
      [];
    for (const database of databases) {
      for (const runner of runners) {
        const server = await startBenchServer(database, "process");
        const client = new BatonClient({ url: server.apiUrl });
        const process = await startRunner(runner, client, server.apiUrl);
        try {
          const deployment = await client.api.readDeploymentByName({
            params: { flowName: "bench-dispatch", deploymentName: runner === "serve" ? "served" : "pooled" },
          });
          const n = runner === "serve" ? runs : workerRuns;
          const idle = () => (runner === "serve" ? undefined : sleep(WORKER_IDLE_MS));
          for (let i = 0; i < 3; i++) await measure(client, deployment.id).then(idle);
          const samples: Sample[] = [];
          for (let i = 0; i < n; i++) {
            samples.push(await measure(client, deployment.id));
            await idle();
            if ((i + 1) % 10 === 0) options.progress(`${database} ${runner}: ${i + 1}/${n} runs`);
          }
          const total = summarize(samples.map((s) => s.total));
          const claim = summarize(samples.map((s) => s.claim));
          const start = summarize(samples.map((s) => s.start));
          data.push({ database, runner, total, claim, start });
          for (const [what, summary] of [
            ["create → first line", total],
            ["create → claimed (PENDING)", claim],
            ["claimed → first line", start],
          ] as const) {
            rows.push([
              database,
              runner,
              what,
              String(n),
              fmt(summary.min),
              fmt(summary.median),
              fmt(summary.p99),
              fmt(summary.max),
            ]);
          }
        } finally {
          await process.stop();
          await server.stop();
        }
      }
    }
    const serve = data.filter((entry) => entry.runner === "serve").map((entry) => entry.total.median);
    const claim = data.filter((entry) => entry.runner === "worker").map((entry) => entry.claim.median);
    const start = data.filter((entry) => entry.runner === "worker").map((entry) => entry.start.median);
    return {
      parameters: { runs, workerRuns, databases, runners },
      notes: [
        "Each run is created when the previous one has completed: its runner is idle and already polling " +
          `(a worker's ${WORKER_IDLE_MS} ms after, so that the runner it starts ahead is ready; worker-cold starts none).`,
        "Times across processes come from each process's clock (one machine); PENDING is the server's stamp.",
        `Targets: serve p50 ≤ 25 ms (measured ${serve.map((v) => fmt(v)).join(", ") || "-"} ms); ` +
          `worker claim p50 ≤ 25 ms (measured ${claim.map((v) => fmt(v)).join(", ") || "-"} ms); ` +
          `worker claimed → first line p50 ≤ 30 ms (measured ${start.map((v) => fmt(v)).join(", ") || "-"} ms). ` +
          "Prefect's workers poll every 10,000 ms.",
      ],
      tables: [
        {
          title: "Latency, ms",
          header: ["database", "runner", "span", "runs", "min", "p50", "p99", "max"],
          rows,
        },
      ],
      data,
    };
  },
};
