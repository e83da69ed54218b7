/**
 * Figure 5 of the benchmark issue: the orchestration workload of Windmill's published benchmark, end
 * to end through a deployment: a flow of 40 sequential lightweight tasks, and a flow of 10 sequential
 * long tasks (Fibonacci of --fib, 33 by default). Time = API call creating the run → the run
 * COMPLETED, as a user waiting on it sees it (serve process idle and polling; server, serve process
 * and this client are three processes). Compared with the same work as bare function calls.
 * Windmill reports 1.2 s for its best engine on the 40-task flow.
 *
 * Quick pass: 5 repetitions each; full: 20. Flags: --reps=N --fib=N --db=sqlite,postgres
 */
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { BatonClient } from "@baton/client";
import { waitForFlowRun } from "@baton/sdk";
import { startProcess } from "../test/processes.js";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { fibonacci } from "./fixtures/windmill-shared.js";
import { DATABASES, startBenchServer, type DatabaseKind } from "./server.js";
import { fmt, summarize, type Summary } from "./stats.js";

const FLOWS = fileURLToPath(new URL("./fixtures/windmill-flows.ts", import.meta.url));

async function timeRun(client: BatonClient, deploymentId: string, parameters: Record<string, number>) {
  const started = performance.now();
  const run = await client.api.createDeploymentRun({ params: { id: deploymentId }, body: { parameters } });
  const done = await waitForFlowRun(client, run.id, 600);
  if (done.state?.type !== "COMPLETED")
    throw new Error(`run ended ${done.state?.name}: ${done.state?.message}`);
  return performance.now() - started;
}

export const windmill: Benchmark = {
  name: "windmill",
  title: "Windmill's orchestration workload: 40 light sequential tasks; 10 long sequential tasks",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const reps = Number(flag("reps") ?? (options.full ? 20 : 5));
    const fib = Number(flag("fib") ?? 33);
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;

    // The same work without Baton, in this process.
    const t0 = performance.now();
    let value = 0;
    for (let i = 0; i < 40; i++) value = await (async (x: number) => x + 1)(value);
    const bareLight = performance.now() - t0;
    const t1 = performance.now();
    for (let i = 0; i < 10; i++) value += fibonacci(fib);
    const bareLong = performance.now() - t1;

    const rows: string[][] = [];
    const data: { database: DatabaseKind; workload: string; ms: Summary; bareMs: number }[] = [];
    for (const database of databases) {
      const server = await startBenchServer(database, "process");
      const served = startProcess([FLOWS], { env: { BATON_API_URL: server.apiUrl } });
      try {
        await served.waitForLine(/^ready/);
        const client = new BatonClient({ url: server.apiUrl });
        const id = async (flowName: string) =>
          (await client.api.readDeploymentByName({ params: { flowName, deploymentName: "served" } })).id;
        for (const [workload, flowName, parameters, bare] of [
          ["40 light sequential tasks", "bench-40-light", {}, bareLight],
          [`10 long sequential tasks (fib ${fib})`, "bench-10-long", { n: fib }, bareLong],
        ] as const) {
          const deploymentId = await id(flowName);
          await timeRun(client, deploymentId, parameters); // warm-up
          const times: number[] = [];
          for (let i = 0; i < reps; i++) times.push(await timeRun(client, deploymentId, parameters));
          const ms = summarize(times);
          data.push({ database, workload, ms, bareMs: bare });
          options.progress(`${database} ${workload}: median ${fmt(ms.median)} ms`);
          rows.push([
            database,
            workload,
            fmt(ms.min),
            fmt(ms.median),
            fmt(ms.max),
            fmt(bare),
            fmt(ms.median - bare),
          ]);
        }
      } finally {
        await served.stop();
        await server.stop();
      }
    }
    return {
      parameters: { reps, fib, databases },
      notes: [
        "End to end: create the deployment run through the API → COMPLETED seen by the client (serve process idle, long-polling).",
        "Windmill's published figure for its best engine on the 40-task flow: 1.2 s.",
      ],
      tables: [
        {
          title: "End-to-end time, ms",
          header: ["database", "workload", "min", "median", "max", "bare", "overhead (median − bare)"],
          rows,
        },
      ],
      data,
    };
  },
};
