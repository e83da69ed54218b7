/**
 * Figure 1 of the benchmark issue, task overhead: a flow of N trivial tasks, untracked and tracked,
 * time per task compared with calling the bare async function. Target: tracked ≤ 0.2 ms per task.
 *
 * Tracked variants: "sequential" and "concurrent" (Promise.all over .submit) take the SDK's fast
 * path (orchestrated in this process, recorded to the server in batches); "decided" gives each task
 * a cache key, so the server decides on each (three HTTP calls a task: create the task run,
 * propose RUNNING, propose COMPLETED).
 *
 * Quick pass: 2,000 tasks (200 for "decided"), 3 repetitions. Full pass (--full): 10,000 tasks
 * (2,000 for "decided"). Warm-up before each variant: a tenth of N, at least 50.
 *
 * Flags: --tasks=N --decided-tasks=N --reps=N --warmup=N
 *        --server=in-process|process|both (default in-process) --db=sqlite,postgres
 *        --shapes=sequential,concurrent,decided (the tracked variants to run)
 *        --breakdown=N (tasks whose HTTP calls are timed one by one, per path; 0 skips)
 *        --profile[=N] (CPU profile of N tracked tasks per tracked variant, default --tasks; first server of each
 *        database; written next to the results)
 */
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { setDefaultTransport, type Transport } from "@baton/client";
import { currentRun, flow, task } from "@baton/sdk";
import type { Benchmark, BenchmarkOptions, BenchmarkReport, ReportTable } from "./benchmark.js";
import { cpuProfile, profileTables, summarizeProfile, type ProfileSummary } from "./profile.js";
import { resultPath } from "./results.js";
import { DATABASES, startBenchServer, type DatabaseKind, type ServerMode } from "./server.js";
import { fmt, summarize, type Summary } from "./stats.js";

const TARGET_MS = 0.2;

/** "http": no task but one fetch round trip to an empty node:http server, the floor under an API call. */
type Shape = "bare" | "http" | "sequential" | "concurrent" | "decided";
type FlowShape = "sequential" | "concurrent" | "decided";
const TRACKED_SHAPES: FlowShape[] = ["sequential", "concurrent", "decided"];

interface Variant {
  id: string;
  shape: Shape;
  tracked: boolean;
  database?: DatabaseKind;
  server?: ServerMode;
}

interface Pass {
  /** Wall time of the whole flow call: flow run created, N calls, task runs recorded, run completed. */
  ms: number;
  /** Wall time of the N calls alone, inside the flow. */
  bodyMs: number;
  /** Per call: call to result (sequential) or submit to result (concurrent); none for bare. */
  latencies: number[];
  flowRunId: string | null;
}

interface VariantResult extends Variant {
  tasks: number;
  warmup: number;
  passes: { ms: number; bodyMs: number }[];
  perTaskMs: Summary;
  bodyPerTaskMs: Summary;
  latencyMs: Summary | null;
  /** Whether the runs were tracked as labelled (the flow run had an id exactly when tracked). */
  trackedConfirmed: boolean;
  error?: string;
}

const trivial = async (i: number): Promise<number> => i + 1;
const trivialTask = task({ name: "trivial" }, trivial);
/** A cache key makes the server decide on every run; a new nonce per flow run keeps every key new. */
let cacheNonce = 0;
const decidedTask = task(
  { name: "trivial-cached", cacheKey: (i: number) => `bench-${cacheNonce}-${i}` },
  trivial,
);

/** Where the bare loop's results go, so that the loop is not optimized away. */
export let sink = 0;

async function bare(n: number): Promise<Pass> {
  let sum = 0;
  const start = performance.now();
  for (let i = 0; i < n; i++) sum += await trivial(i);
  const ms = performance.now() - start;
  sink = sum;
  return { ms, bodyMs: ms, latencies: [], flowRunId: null };
}

/** One flow run of n task calls; the numbers leave through a closure, not the flow's (tracked) result. */
async function flowOf(shape: FlowShape, n: number): Promise<Pass> {
  let inner: Omit<Pass, "ms"> | undefined;
  const benchFlow = flow({ name: `bench-task-overhead-${shape}` }, async () => {
    const latencies = new Array<number>(n);
    const start = performance.now();
    if (shape === "concurrent") {
      await Promise.all(
        Array.from({ length: n }, (_, i) => {
          const t0 = performance.now();
          return trivialTask.submit(i).then(() => {
            latencies[i] = performance.now() - t0;
          });
        }),
      );
    } else {
      const chosen = shape === "decided" ? decidedTask : trivialTask;
      cacheNonce++;
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await chosen(i);
        latencies[i] = performance.now() - t0;
      }
    }
    inner = { bodyMs: performance.now() - start, latencies, flowRunId: currentRun()?.flowRunId ?? null };
  });
  const start = performance.now();
  await benchFlow();
  return { ms: performance.now() - start, ...inner! };
}

/** An HTTP server that answers every request at once, with a small JSON body like a state verdict. */
async function startEmptyServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((request, response) => {
    request.resume();
    request.once("end", () => {
      response.writeHead(200, { "content-type": "application/json" });
      response.end('{"status":"ACCEPT","reason":null,"state":null}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/task-runs/x/state`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

let emptyServerUrl: string | undefined;

/** n sequential fetch calls as BatonClient makes them (JSON body, response read as text). */
async function httpFloor(n: number): Promise<Pass> {
  const body = JSON.stringify({ state: { type: "RUNNING" } });
  const headers = { accept: "application/json", "content-type": "application/json" };
  const latencies = new Array<number>(n);
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const response = await fetch(emptyServerUrl!, { method: "POST", headers, body });
    JSON.parse(await response.text());
    latencies[i] = performance.now() - t0;
  }
  const ms = performance.now() - start;
  return { ms, bodyMs: ms, latencies, flowRunId: null };
}

const runOnce = (shape: Shape, n: number) =>
  shape === "bare" ? bare(n) : shape === "http" ? httpFloor(n) : flowOf(shape, n);

function label(v: Variant): string {
  if (v.shape === "http") return "1 HTTP call, empty server (fetch)";
  if (v.shape === "bare") return "bare";
  const shape = v.shape === "decided" ? "sequential, cache key: server decides" : v.shape;
  return v.tracked ? `tracked ${shape} (${v.database}, ${v.server})` : `untracked ${shape}`;
}

interface Sizes {
  tasks: number;
  reps: number;
  warmup: number;
}

/** Warm-up, then `reps` flow runs of `tasks` calls; a failure is recorded, not thrown. */
async function measure(v: Variant, sizes: Sizes, options: BenchmarkOptions): Promise<VariantResult> {
  const { tasks: n, reps } = sizes;
  // The bare loop costs nanoseconds a call: warm it up well enough to be optimized.
  const warmup = v.shape === "bare" ? Math.max(sizes.warmup, 100_000) : sizes.warmup;
  const name = label(v);
  const passes: Pass[] = [];
  let error: string | undefined;
  try {
    if (warmup > 0) {
      options.progress(`${name}: warm-up, ${warmup} tasks`);
      await runOnce(v.shape, warmup);
    }
    for (let rep = 1; rep <= reps; rep++) {
      const pass = await runOnce(v.shape, n);
      passes.push(pass);
      options.progress(`${name}: repetition ${rep}/${reps}: ${fmt(pass.ms / n)} ms per task`);
    }
  } catch (caught) {
    error = caught instanceof Error ? caught.message : String(caught);
    options.progress(`${name}: FAILED: ${error}`);
  }
  const latencies = passes.flatMap((p) => p.latencies);
  return {
    ...v,
    tasks: n,
    warmup,
    passes: passes.map((p) => ({ ms: p.ms, bodyMs: p.bodyMs })),
    perTaskMs: summarize(passes.map((p) => p.ms / n)),
    bodyPerTaskMs: summarize(passes.map((p) => p.bodyMs / n)),
    latencyMs: latencies.length ? summarize(latencies) : null,
    trackedConfirmed: passes.every((p) => (p.flowRunId !== null) === v.tracked),
    ...(error ? { error } : {}),
  };
}

/** What an API call is for, from its method, path and body. */
function requestKind(method: string, path: string, body: unknown): string {
  if (method === "POST" && path === "/task-runs") return "create task run";
  if (method === "POST" && path === "/task-runs/record") return "record task runs (batch)";
  const state = /^\/(task|flow)-runs\/[^/]+\/state$/.exec(path);
  if (method === "POST" && state) {
    // The client sends its bodies as JSON strings.
    const parsed = typeof body === "string" ? (JSON.parse(body) as { state?: { type?: string } }) : {};
    return `propose ${parsed.state?.type ?? "?"} (${state[1]} run)`;
  }
  return `${method} ${path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, ":id")}`;
}

/** Times every HTTP call the SDK makes while fn runs, by what it is for (body read included). */
async function timingRequests<T>(
  fn: () => Promise<T>,
): Promise<{ value: T; requests: Map<string, number[]> }> {
  const original = globalThis.fetch;
  const requests = new Map<string, number[]>();
  const note = (kind: string, ms: number) => {
    let list = requests.get(kind);
    if (!list) requests.set(kind, (list = []));
    list.push(ms);
  };
  // Calls go through the client's transport; an event stream through fetch, and stays open for the
  // whole run: only its opening is timed.
  globalThis.fetch = async (input, init) => {
    const start = performance.now();
    const response = await original(input, init);
    note("open event stream", performance.now() - start);
    return response;
  };
  const transport: Transport = async (url, init) => {
    const kind = requestKind(init.method, new URL(url).pathname.replace(/^\/api/, ""), init.body);
    const start = performance.now();
    const answer = await inner(url, init);
    note(kind, performance.now() - start);
    return answer;
  };
  const inner = setDefaultTransport(transport);
  try {
    return { value: await fn(), requests };
  } finally {
    globalThis.fetch = original;
    setDefaultTransport(inner);
  }
}

interface Breakdown {
  database: DatabaseKind;
  server: ServerMode;
  shape: FlowShape;
  tasks: number;
  flowMs: number;
  bodyMs: number;
  requests: { kind: string; count: number; totalMs: number; ms: Summary }[];
}

async function breakdown(
  database: DatabaseKind,
  server: ServerMode,
  shape: FlowShape,
  n: number,
): Promise<Breakdown> {
  const { value: pass, requests } = await timingRequests(() => flowOf(shape, n));
  return {
    database,
    server,
    shape,
    tasks: n,
    flowMs: pass.ms,
    bodyMs: pass.bodyMs,
    requests: [...requests]
      .map(([kind, ms]) => ({
        kind,
        count: ms.length,
        totalMs: ms.reduce((a, b) => a + b, 0),
        ms: summarize(ms),
      }))
      .sort((a, b) => b.totalMs - a.totalMs),
  };
}

function breakdownTable(b: Breakdown): ReportTable {
  const share = (ms: number) => `${((ms * 100) / b.flowMs).toFixed(0)}%`;
  const http = b.requests.reduce((sum, r) => sum + r.totalMs, 0);
  const path =
    b.shape === "decided"
      ? "tasks with a cache key (server decides each)"
      : "fast-path tasks (recorded in batches)";
  return {
    title: `HTTP calls of one tracked flow run of ${b.tasks} sequential ${path}, ${b.database}, server ${b.server}; timed from the client, body read included`,
    header: ["HTTP call", "calls", "per task", "median ms", "mean ms", "p99 ms", "total ms", "of flow run"],
    rows: [
      ...b.requests.map((r) => [
        r.kind,
        String(r.count),
        fmt(r.count / b.tasks),
        fmt(r.ms.median),
        fmt(r.ms.mean),
        fmt(r.ms.p99),
        fmt(r.totalMs),
        share(r.totalMs),
      ]),
      [
        "= all HTTP calls (those sent in the background overlap the tasks)",
        "",
        "",
        "",
        "",
        "",
        fmt(http),
        share(http),
      ],
      ["the N task calls", "", "", "", "", "", fmt(b.bodyMs), share(b.bodyMs)],
      ["the whole flow run", "", "", "", "", "", fmt(b.flowMs), "100%"],
    ],
  };
}

/** A whole number >= 0 from a flag, or the fallback. */
const count = (value: string | undefined, fallback: number) => {
  const n = Number(value);
  return value !== undefined && Number.isInteger(n) && n >= 0 ? n : fallback;
};

interface ProfileResult {
  database: DatabaseKind;
  server: ServerMode;
  shape: FlowShape;
  tasks: number;
  file: string;
  summary: ProfileSummary;
}

export const taskOverhead: Benchmark = {
  name: "task-overhead",
  title: "Task overhead: a flow of N trivial tasks, untracked and tracked, against the bare async function",
  async run(options): Promise<BenchmarkReport> {
    const { flags, full } = options;
    const n = count(flags.get("tasks"), full ? 10_000 : 2_000);
    const decidedN = count(flags.get("decided-tasks"), Math.min(n, full ? 2_000 : 200));
    const reps = Math.max(1, count(flags.get("reps"), 3));
    const sizesOf = (tasks: number): Sizes => ({
      tasks,
      reps,
      warmup: count(flags.get("warmup"), Math.max(50, Math.round(tasks / 10))),
    });
    const sizes = sizesOf(n);
    const decidedSizes = sizesOf(decidedN);
    const breakdownTasks = count(flags.get("breakdown"), Math.min(n, 1000));
    const profileFlag = flags.get("profile");
    const profileTasks =
      profileFlag === undefined ? 0 : count(profileFlag === "true" ? undefined : profileFlag, n);
    const serverFlag = flags.get("server") ?? "in-process";
    const servers: ServerMode[] =
      serverFlag === "both" ? ["in-process", "process"] : [serverFlag as ServerMode];
    if (!servers.every((s) => s === "in-process" || s === "process")) {
      throw new Error(`--server must be in-process, process or both, not '${serverFlag}'`);
    }
    const databases = flags.has("db")
      ? (flags.get("db")!.split(",") as DatabaseKind[]).filter((d) => DATABASES.includes(d))
      : DATABASES;
    const shapes = flags.has("shapes")
      ? TRACKED_SHAPES.filter((s) => flags.get("shapes")!.split(",").includes(s))
      : TRACKED_SHAPES;
    const tasksOf = (shape: FlowShape) => (shape === "decided" ? decidedN : n);

    const savedUrl = process.env.BATON_API_URL;
    delete process.env.BATON_API_URL;
    const results: VariantResult[] = [];
    const breakdowns: Breakdown[] = [];
    const profiles: ProfileResult[] = [];
    try {
      for (const shape of ["bare", "sequential", "concurrent"] as const) {
        results.push(await measure({ id: shape, shape, tracked: false }, sizes, options));
      }
      const empty = await startEmptyServer();
      emptyServerUrl = empty.url;
      try {
        results.push(await measure({ id: "http", shape: "http", tracked: false }, sizes, options));
      } finally {
        await empty.close();
      }
      for (const database of databases) {
        for (const server of servers) {
          options.progress(`starting a server (${database}, ${server})`);
          const running = await startBenchServer(database, server);
          process.env.BATON_API_URL = running.apiUrl;
          try {
            for (const shape of shapes) {
              const v: Variant = {
                id: `tracked-${shape}-${database}-${server}`,
                shape,
                tracked: true,
                database,
                server,
              };
              results.push(await measure(v, shape === "decided" ? decidedSizes : sizes, options));
            }
            for (const shape of shapes.filter((s) => s !== "concurrent")) {
              const tasks = Math.min(breakdownTasks, tasksOf(shape));
              if (tasks === 0) continue;
              options.progress(`${database}, ${server}: timing each HTTP call of ${tasks} ${shape} tasks`);
              breakdowns.push(await breakdown(database, server, shape, tasks));
            }
            for (const shape of profileTasks > 0 && server === servers[0] ? shapes : []) {
              const tasks = Math.min(profileTasks, tasksOf(shape));
              options.progress(`${database}, ${server}: CPU profile of ${tasks} tracked ${shape} tasks`);
              const { profile: cpu } = await cpuProfile(() => flowOf(shape, tasks));
              const file = resultPath(`task-overhead-${shape}-${database}-${server}`, "cpuprofile");
              writeFileSync(file, JSON.stringify(cpu));
              profiles.push({ database, server, shape, tasks, file, summary: summarizeProfile(cpu) });
            }
          } finally {
            delete process.env.BATON_API_URL;
            await running.stop();
          }
        }
      }
    } finally {
      if (savedUrl === undefined) delete process.env.BATON_API_URL;
      else process.env.BATON_API_URL = savedUrl;
    }

    const bareMs = results.find((r) => r.shape === "bare")!.perTaskMs.median;
    const rows = results.map((r) => {
      if (r.error) return [label(r), String(r.tasks), "FAILED", ...Array<string>(8).fill("-")];
      const ms = r.perTaskMs.median;
      const vsTarget = ms / TARGET_MS;
      return [
        label(r) + (r.trackedConfirmed ? "" : " [NOT AS LABELLED]"),
        String(r.tasks),
        fmt(ms),
        fmt(r.perTaskMs.min),
        fmt(r.perTaskMs.max),
        fmt(r.bodyPerTaskMs.median),
        fmt(1000 / ms),
        `${fmt(ms / bareMs)}x`,
        r.tracked ? `${fmt(vsTarget)}x ${vsTarget <= 1 ? "ok" : "over"}` : `${fmt(vsTarget)}x`,
        fmt(r.latencyMs?.median),
        fmt(r.latencyMs?.p99),
      ];
    });
    const notes = [
      `${n} tasks per flow run (${decidedN} for "cache key: server decides"), ${reps} repetition(s), each after a warm-up run of a tenth of that (at least 50).`,
      `ms/task = wall time of the whole flow call / N: flow run created, the N calls, task runs recorded, run completed (median over repetitions; min, max beside). "body" = the N calls alone; the rest is the wait at the end for the last batches.`,
      `Each task is \`async (i) => i + 1\`; "bare" awaits that function directly in a loop. Target: tracked <= ${TARGET_MS} ms per task.`,
      `"1 HTTP call, empty server" is no task: one fetch round trip to a node:http server in this process that answers at once, the floor under every API call.`,
      `Tracked runs report to a real Baton server on 127.0.0.1 over a throwaway database${servers.includes("in-process") ? "; with 'in-process' the SERVER RUNS IN THE SAME PROCESS (same event loop) as the flow, so its work adds to the client's" : ""}${servers.includes("process") ? "; with 'process' it runs in a child Node process (sources via tsx)" : ""}.`,
      `Call p50/p99: one task call, from call to result (sequential) or from submit to result (concurrent: all N submitted at once, then Promise.all), over all repetitions.`,
      ...results.filter((r) => r.error).map((r) => `${label(r)} FAILED: ${r.error}`),
      ...(DATABASES.includes("postgres")
        ? []
        : ["PostgreSQL skipped: set BATON_BENCH_DATABASE_URL or BATON_TEST_DATABASE_URL to include it."]),
    ];
    const tables: ReportTable[] = [
      {
        title: "Task overhead",
        header: [
          "variant",
          "tasks",
          "ms/task",
          "min",
          "max",
          "body",
          "tasks/s",
          "x bare",
          "x 0.2ms target",
          "call p50 ms",
          "call p99 ms",
        ],
        rows,
      },
      ...breakdowns.map(breakdownTable),
      ...profiles.flatMap((p) =>
        profileTables(
          p.summary,
          `CPU profile (sampled every 200 µs, which slows the run) of ${p.tasks} tracked ${p.shape} tasks, ${p.database}, server ${p.server}; ${p.file}`,
        ),
      ),
    ];
    return {
      parameters: {
        sizes,
        decidedSizes,
        breakdownTasks,
        profileTasks,
        servers,
        databases,
        shapes,
        targetMs: TARGET_MS,
      },
      notes,
      tables,
      data: { results, breakdowns, profiles },
    };
  },
};
