/**
 * The dashboard on a large store (issue 8: "stays fast with a million runs"): a store filled with N
 * flow runs, then the API calls the Runs page and the Overview make, timed one at a time as a
 * browser makes them. Target: every call under 100 ms at a million runs.
 *
 * The runs are written straight into the store in bulk (multi-row INSERTs through a connection of
 * this process, while the server, in a process of its own, is already running on it), spread as a
 * real store's are: over the last 30 days, across flows of very different popularity, most from
 * deployments in a few work pools, mostly Completed with some failures, a few in flight, a few Late
 * and some scheduled ahead; tags from the flow and the environment, and one customer's rare tag.
 *
 * Quick pass: 100,000 runs; full: 1,000,000. Flags: --runs=N --repeat=N --days=N --db=sqlite,postgres
 */
import { performance } from "node:perf_hooks";
import { BatonClient } from "@baton/client";
import { newId, type FlowRunQuery, type StateType } from "@baton/core";
import { openDatabase, type Db } from "@baton/server";
import { sql } from "kysely";
import type { Benchmark, BenchmarkReport } from "./benchmark.js";
import { DATABASES, startBenchServer, type DatabaseKind } from "./server.js";
import { fmt, summarize } from "./stats.js";

const TARGET_MS = 100;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const FLOWS = 40;
/** Flows with deployments (the most popular ones), and deployments per such flow. */
const DEPLOYED_FLOWS = 20;
const DEPLOYMENTS_PER_FLOW = 2;
const POOLS = ["k8s-prod", "k8s-batch", "docker-edge", "process-local"];
/** A pool with a single deployment, of a little-used flow: its runs are few. */
const RARE_POOL = "gpu";
const TEAMS = ["team-data", "team-ml", "team-billing", "team-growth", "team-infra"];
const RARE_TAG = "customer-4711";

/** A small seeded generator (mulberry32), so that every pass fills the same store. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Picks an index with the given weights. */
function weighted(rand: () => number, cumulative: number[]): number {
  const target = rand() * cumulative[cumulative.length - 1]!;
  let low = 0;
  let high = cumulative.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (cumulative[mid]! < target) low = mid + 1;
    else high = mid;
  }
  return low;
}

const cumulate = (weights: number[]) => {
  let sum = 0;
  return weights.map((weight) => (sum += weight));
};

interface FlowInfo {
  id: string;
  name: string;
  tags: string[];
  deployments: { id: string; name: string; pool: string }[];
}

/** What the calls below filter on: chosen once the store is made. */
interface Targets {
  flow: FlowInfo;
  pool: string;
  deploymentId: string;
}

/** Flows, work pools and deployments through the API, as the SDK and workers make them. */
export async function makeCatalog(client: BatonClient): Promise<FlowInfo[]> {
  for (const name of [...POOLS, RARE_POOL])
    await client.api.createWorkPool({ body: { name, type: "process" } });
  const flows: FlowInfo[] = [];
  for (let i = 0; i < FLOWS; i++) {
    const tags = [TEAMS[i % TEAMS.length]!, ...(i % 3 === 0 ? ["nightly"] : [])];
    const flow = await client.api.createFlow({ body: { name: `flow-${String(i).padStart(2, "0")}`, tags } });
    const info: FlowInfo = { id: flow.id, name: flow.name, tags, deployments: [] };
    const deployments = i < DEPLOYED_FLOWS ? DEPLOYMENTS_PER_FLOW : i === FLOWS - 1 ? 1 : 0;
    for (let d = 0; d < deployments; d++) {
      const pool = i === FLOWS - 1 ? RARE_POOL : POOLS[(i + d) % POOLS.length]!;
      const deployment = await client.api.createDeployment({
        body: { flowId: flow.id, name: d === 0 ? "prod" : "backfill", workPoolName: pool, tags },
      });
      info.deployments.push({ id: deployment.id, name: deployment.name, pool });
    }
    flows.push(info);
  }
  return flows;
}

/** The state a run is in now, by how old it is: in flight only when recent, scheduled ahead in the future. */
function stateFor(rand: () => number, created: number, now: number): { type: StateType; name: string } {
  if (created > now - HOUR / 4) {
    const r = rand();
    if (r < 0.3) return { type: "RUNNING", name: "Running" };
    if (r < 0.4) return { type: "PENDING", name: "Pending" };
    if (r < 0.5) return { type: "SCHEDULED", name: "Scheduled" };
  }
  const r = rand();
  if (r < 0.0005) return { type: "SCHEDULED", name: "Late" };
  if (r < 0.06) return { type: "FAILED", name: "Failed" };
  if (r < 0.07) return { type: "CRASHED", name: "Crashed" };
  if (r < 0.09) return { type: "CANCELLED", name: "Cancelled" };
  return { type: "COMPLETED", name: "Completed" };
}

const iso = (ms: number) => new Date(ms).toISOString();

/** `count` flow runs as rows of the flow_runs table, created over the `days` before `now`. */
function* runRows(flows: FlowInfo[], count: number, days: number, now: number, rand: () => number) {
  // Zipf-like popularity: the first flow runs about 40 times as often as the last.
  const popularity = cumulate(flows.map((_, i) => 1 / (i + 1)));
  // Creation times in order, so that ids (UUIDv7, made now) and times are both increasing.
  const span = days * DAY;
  const step = span / count;
  for (let i = 0; i < count; i++) {
    const created = now - span + i * step + rand() * step;
    const flow = flows[weighted(rand, popularity)]!;
    const deployment =
      flow.deployments.length > 0 && rand() < 0.8
        ? flow.deployments[Math.floor(rand() * flow.deployments.length)]!
        : undefined;
    const state = stateFor(rand, created, now);
    const tags = [...(deployment ? flow.tags : []), rand() < 0.9 ? "prod" : "staging"];
    if (rand() < 0.0005) tags.push(RARE_TAG);
    const started = state.type === "SCHEDULED" || state.type === "PENDING" ? null : created + 2000;
    const finished = started && state.type !== "RUNNING" ? started + 5000 + rand() * 600_000 : null;
    const stamp = iso(finished ?? started ?? created);
    const scheduled = state.type === "SCHEDULED" ? iso(state.name === "Late" ? created : now + DAY) : null;
    yield {
      id: newId(),
      name: `run-${i}`,
      flowId: flow.id,
      deploymentId: deployment?.id ?? null,
      deploymentName: deployment?.name ?? null,
      parentFlowRunId: null,
      parentTaskRunId: null,
      parameters: JSON.stringify({ date: iso(created).slice(0, 10), limit: 1000, dryRun: false }),
      tags: JSON.stringify(tags),
      labels: "{}",
      idempotencyKey: null,
      workPoolName: deployment?.pool ?? null,
      workQueueName: deployment ? "default" : null,
      workQueueId: null,
      jobVariables: "{}",
      state: JSON.stringify({
        type: state.type,
        name: state.name,
        timestamp: stamp,
        ...(scheduled ? { scheduledTime: scheduled } : {}),
        ...(state.type === "FAILED" ? { message: "Flow run failed: ValueError: bad row 1234" } : {}),
      }),
      stateType: state.type,
      stateName: state.name,
      runCount: started ? 1 : 0,
      retries: 0,
      retryDelaySeconds: "[]",
      timeoutSeconds: null,
      expectedStartTime: iso(created),
      nextScheduledStartTime: scheduled,
      startTime: started ? iso(started) : null,
      endTime: finished ? iso(finished) : null,
      lastHeartbeat: null,
      workerName: deployment ? "worker-1" : null,
      created: iso(created),
      updated: stamp,
    };
  }
}

/** Writes the runs in multi-row INSERTs, a transaction per few thousand; returns rows per second. */
export async function fill(
  db: Db,
  flows: FlowInfo[],
  count: number,
  days: number,
  progress: (message: string) => void,
): Promise<number> {
  // Statement parameters: SQLite takes 32,766, PostgreSQL 65,535; a run's row has 33 columns, a tag's 3.
  const perInsert = db.dialect === "sqlite" ? 900 : 1800;
  const perTransaction = perInsert * 10;
  const rows = runRows(flows, count, days, Date.now(), random(8));
  const started = performance.now();
  let written = 0;
  let lastReport = started;
  while (written < count) {
    await db.kysely.transaction().execute(async (trx) => {
      for (let n = 0; n < perTransaction / perInsert && written < count; n++) {
        const batch = [];
        for (let k = 0; k < perInsert && written + batch.length < count; k++) batch.push(rows.next().value!);
        await trx.insertInto("flowRuns").values(batch).execute();
        // Each run's tags one per row, as the server writes them with the run.
        const tags = batch.flatMap((run) =>
          (JSON.parse(run.tags) as string[]).map((tag) => ({ tag, created: run.created, flowRunId: run.id })),
        );
        for (let k = 0; k < tags.length; k += perInsert * 10) {
          await trx
            .insertInto("flowRunTags")
            .values(tags.slice(k, k + perInsert * 10))
            .execute();
        }
        written += batch.length;
      }
    });
    if (performance.now() - lastReport > 5000) {
      lastReport = performance.now();
      progress(
        `${db.dialect}: ${written.toLocaleString("en")} of ${count.toLocaleString("en")} runs written`,
      );
    }
  }
  return count / ((performance.now() - started) / 1000);
}

interface Call {
  name: string;
  /** What the page shows it for. */
  page: "runs" | "overview";
  run(client: BatonClient): Promise<unknown>;
}

function calls(targets: Targets): Call[] {
  const hourStart = Math.floor(Date.now() / HOUR) * HOUR;
  const history = (hours: number) => () => ({
    since: iso(hourStart - (hours - 1) * HOUR),
    bucketSeconds: 3600,
  });
  const list = (query: FlowRunQuery) => (client: BatonClient) =>
    client.api.listFlowRuns({ query: { limit: 50, ...query } });
  return [
    { name: "first page", page: "runs", run: list({}) },
    { name: "second page", page: "runs", run: list({ offset: 50 }) },
    { name: "state Failed", page: "runs", run: list({ stateType: ["FAILED"] }) },
    {
      name: "state Crashed, last 24 h",
      page: "runs",
      run: list({ stateType: ["CRASHED"], createdAfter: iso(Date.now() - DAY) }),
    },
    { name: `flow ${targets.flow.name}`, page: "runs", run: list({ flowId: targets.flow.id }) },
    {
      name: `flow ${targets.flow.name}, state Failed`,
      page: "runs",
      run: list({ flowId: targets.flow.id, stateType: ["FAILED"] }),
    },
    { name: "deployment", page: "runs", run: list({ deploymentId: targets.deploymentId }) },
    { name: "tag team-ml", page: "runs", run: list({ tag: "team-ml" }) },
    { name: `tag ${RARE_TAG} (rare)`, page: "runs", run: list({ tag: RARE_TAG }) },
    { name: "tag prod, state Crashed", page: "runs", run: list({ tag: "prod", stateType: ["CRASHED"] }) },
    { name: `work pool ${targets.pool}`, page: "runs", run: list({ workPoolName: targets.pool }) },
    { name: `work pool ${RARE_POOL} (rare)`, page: "runs", run: list({ workPoolName: RARE_POOL }) },
    { name: "created in the last 7 d", page: "runs", run: list({ createdAfter: iso(Date.now() - 7 * DAY) }) },
    {
      name: "history 24 h, hourly",
      page: "overview",
      run: (client) => client.api.flowRunHistory({ query: history(24)() }),
    },
    {
      name: "history 7 d, hourly",
      page: "overview",
      run: (client) => client.api.flowRunHistory({ query: history(24 * 7)() }),
    },
    {
      name: "late runs",
      page: "overview",
      run: list({ stateType: ["SCHEDULED"], stateName: "Late", limit: 1000 }),
    },
  ];
}

/** Times each call `repeat` times, one at a time, after one call not counted. */
async function timeCalls(client: BatonClient, list: Call[], repeat: number) {
  const results = [];
  for (const call of list) {
    await call.run(client);
    const times: number[] = [];
    for (let i = 0; i < repeat; i++) {
      const started = performance.now();
      await call.run(client);
      times.push(performance.now() - started);
    }
    results.push({ call, summary: summarize(times) });
  }
  return results;
}

export const dashboardScale: Benchmark = {
  name: "dashboard-scale",
  title: "The dashboard's API calls on a store of many flow runs",
  async run(options): Promise<BenchmarkReport> {
    const flag = (name: string) => options.flags.get(name);
    const runs = Number(flag("runs") ?? (options.full ? 1_000_000 : 100_000));
    const repeat = Number(flag("repeat") ?? (options.full ? 20 : 10));
    const days = Number(flag("days") ?? 30);
    const databases = (flag("db")?.split(",") as DatabaseKind[] | undefined) ?? DATABASES;
    const rows: string[][] = [];
    const fillRows: string[][] = [];
    const data: unknown[] = [];
    for (const database of databases) {
      const server = await startBenchServer(database, "process");
      const db = openDatabase(server.databaseUrl);
      try {
        const client = new BatonClient({ url: server.apiUrl });
        const flows = await makeCatalog(client);
        options.progress(`${database}: writing ${runs.toLocaleString("en")} flow runs`);
        const perSecond = await fill(db, flows, runs, days, (message) => options.progress(message));
        let analyzeMs = 0;
        if (database === "postgres") {
          // What autovacuum does to the tables after a bulk load, done now rather than within the minute.
          const started = performance.now();
          await sql`VACUUM ANALYZE flow_runs, flow_run_tags`.execute(db.kysely);
          analyzeMs = performance.now() - started;
        }
        fillRows.push([
          database,
          runs.toLocaleString("en"),
          fmt(perSecond),
          analyzeMs ? fmt(analyzeMs / 1000) : "-",
        ]);
        // The third flow: popular, with deployments in two pools.
        const flow = flows[2]!;
        const targets: Targets = { flow, pool: POOLS[1]!, deploymentId: flow.deployments[0]!.id };
        options.progress(`${database}: timing the calls, ${repeat} times each`);
        for (const { call, summary } of await timeCalls(client, calls(targets), repeat)) {
          rows.push([
            database,
            call.page,
            call.name,
            fmt(summary.median),
            fmt(summary.max),
            summary.median > TARGET_MS ? "slow" : "",
          ]);
          data.push({ database, runs, page: call.page, call: call.name, ...summary });
        }
      } finally {
        await db.close();
        await server.stop();
      }
    }
    return {
      parameters: { runs, repeat, days, databases },
      notes: [
        `${runs.toLocaleString("en")} flow runs over ${days} days, written straight into the store; ${FLOWS} flows (popularity 1/rank), ${DEPLOYED_FLOWS * DEPLOYMENTS_PER_FLOW + 1} deployments in ${POOLS.length + 1} work pools (80% of the deployed flows' runs), ~91% Completed, 6% Failed, 1% Crashed, 2% Cancelled, 0.05% Late, in flight only in the last 15 minutes; tags: the flow's team (deployment runs), prod/staging, and '${RARE_TAG}' on 0.05%.`,
        `Each call through the HTTP API as the dashboard makes it (pages of 50 runs), one at a time, ${repeat} times after one not counted; ms per call. The server runs in its own process.`,
        `PostgreSQL: VACUUM ANALYZE after the load (what autovacuum does soon after); SQLite: no ANALYZE (the server runs none).`,
        `Target: every call under ${TARGET_MS} ms at 1,000,000 runs ("slow" marks a median above it).`,
      ],
      tables: [
        {
          title: "Filling the store",
          header: ["database", "runs", "rows/s", "vacuum analyze s"],
          rows: fillRows,
        },
        {
          title: "API calls, ms",
          header: ["database", "page", "call", "median", "max", ""],
          rows,
        },
      ],
      data,
    };
  },
};
