/**
 * The server's Prometheus metrics (`GET /api/metrics`, docs/operations.md), in a registry of its own
 * per server (several servers may share one process, as in tests).
 *
 * Two kinds:
 * - what the database holds (unfinished runs by state and deployment, late runs, every run by state,
 *   each work queue's due runs and the oldest one's age, workers online): read at scrape time by a
 *   few aggregate queries, so every server of one database reports the same, right figures. Only
 *   the count of every run by state reads a whole index (of `flow_runs`' state and creation time);
 *   the others read the unfinished runs only;
 * - what this process saw (runs created and ended by it, claim passes, dispatch latency, HTTP
 *   requests, event delivery lag, its database connections): counters and histograms of its own,
 *   which add up across servers. Nothing is computed for them until a scrape asks but an increment or
 *   an observation.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { sql } from "kysely";
import {
  EventName,
  isEvent,
  STATE_TYPES,
  TERMINAL_STATE_TYPES,
  type BatonEvent,
  type EventRelated,
} from "@baton/core";
import type { Db } from "./db/database.js";
import type { EventBus } from "./events.js";
import type { StoreObserver } from "./store/context.js";
import { workerIsOnline } from "./store/work-pools.js";

/** Waits from a run becoming due to its claim: from under a second (a waiting worker) to an hour. */
const DISPATCH_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Event delivery: milliseconds on one server, more through PostgreSQL to the others. */
const LAG_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The label of runs that belong to no deployment. */
const NO_DEPLOYMENT = "";

/** The states a run is in until it ends: few runs at a time, counted by deployment. */
const UNFINISHED_STATES = STATE_TYPES.filter((type) => !TERMINAL_STATE_TYPES.includes(type));

export class ServerMetrics implements StoreObserver {
  readonly registry = new Registry();
  readonly #db: Db;
  readonly #unsubscribe: (() => void)[] = [];

  readonly #runs = this.#gauge(
    "baton_flow_runs",
    "Unfinished flow runs in each state type (SCHEDULED, PENDING, RUNNING, PAUSED, CANCELLING), by deployment ('flow/deployment'; empty for none), from the database",
    ["state", "deployment"],
  );
  readonly #stored = this.#gauge(
    "baton_stored_flow_runs",
    "Every flow run in the database by state type, finished ones included until run retention deletes them",
    ["state"],
  );
  readonly #late = this.#gauge(
    "baton_flow_runs_late",
    "Flow runs marked Late (still SCHEDULED past their time), by deployment, from the database",
    ["deployment"],
  );
  readonly #queueDepth = this.#gauge(
    "baton_work_queue_depth",
    "Runs due in each work queue and not yet claimed, from the database",
    ["work_pool", "work_queue"],
  );
  readonly #oldestDue = this.#gauge(
    "baton_work_queue_oldest_due_run_age_seconds",
    "How long the earliest due run of each work queue has waited to be claimed (0 when none), from the database",
    ["work_pool", "work_queue"],
  );
  readonly #workersOnline = this.#gauge(
    "baton_workers_online",
    "Workers of each work pool that sent a heartbeat within three of their intervals, from the database",
    ["work_pool"],
  );
  readonly #connections = this.#gauge(
    "baton_database_connections",
    "This server's database connections: open, idle (open and unused) and max (PostgreSQL's pool; SQLite has one)",
    ["state"],
  );
  readonly #waiting = this.#gauge(
    "baton_database_connection_waiters",
    "Queries of this server waiting for a database connection (PostgreSQL)",
  );

  readonly #created = new Counter({
    name: "baton_flow_runs_created_total",
    help: "Flow runs created through this server",
    registers: [this.registry],
  });
  readonly #finished = new Counter({
    name: "baton_flow_runs_finished_total",
    help: "Flow runs this server moved into a final state (COMPLETED, FAILED, CRASHED, CANCELLED), by deployment ('flow/deployment'; empty for none)",
    labelNames: ["state", "deployment"],
    registers: [this.registry],
  });
  readonly #claimDuration = new Histogram({
    name: "baton_claim_duration_seconds",
    help: "Claim passes of this server (one transaction: lock, read the due runs, admit, move them to PENDING), by whether they claimed any run",
    labelNames: ["claimed"],
    registers: [this.registry],
  });
  readonly #dispatchLatency = new Histogram({
    name: "baton_dispatch_latency_seconds",
    help: "From a run becoming due (its scheduled time, or its creation if later) to its claim by a worker or serve process",
    buckets: DISPATCH_BUCKETS,
    registers: [this.registry],
  });
  readonly #httpDuration = new Histogram({
    name: "baton_http_request_duration_seconds",
    help: "HTTP requests answered by this server, by method, route pattern and status code (long polls and event streams last as long as they wait)",
    labelNames: ["method", "route", "status_code"],
    registers: [this.registry],
  });
  readonly #eventLag = new Histogram({
    name: "baton_event_delivery_lag_seconds",
    help: "From an event's time to its delivery to this server's subscribers (streams, claims, services), by origin: own (made here) or relayed (heard from another server of the database)",
    labelNames: ["origin"],
    buckets: LAG_BUCKETS,
    registers: [this.registry],
  });

  constructor(db: Db, events: EventBus) {
    this.#db = db;
    collectDefaultMetrics({ register: this.registry });
    for (const state of TERMINAL_STATE_TYPES) this.#finished.inc({ state, deployment: NO_DEPLOYMENT }, 0);
    this.#unsubscribe.push(
      events.subscribeOwn((event) => this.#count(event)),
      events.subscribeDelivered((event, relayed) => {
        const lag = (Date.now() - Date.parse(event.occurred)) / 1000;
        if (Number.isFinite(lag))
          this.#eventLag.observe({ origin: relayed ? "relayed" : "own" }, Math.max(0, lag));
      }),
    );
  }

  /** The exposition text, the database's figures read now. */
  async render(): Promise<string> {
    await this.#readStore(new Date());
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** One answered HTTP request; `route` is the pattern the router matched, never the raw URL. */
  request(method: string, route: string | undefined, statusCode: number, seconds: number): void {
    this.#httpDuration.observe(
      { method, route: route ?? "unmatched", status_code: String(statusCode) },
      seconds,
    );
  }

  claimPass(seconds: number, claimedDue: readonly string[], claimedAt: Date): void {
    this.#claimDuration.observe({ claimed: claimedDue.length > 0 ? "true" : "false" }, seconds);
    for (const due of claimedDue) {
      this.#dispatchLatency.observe(Math.max(0, (claimedAt.getTime() - Date.parse(due)) / 1000));
    }
  }

  close(): void {
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }

  #gauge<L extends string>(name: string, help: string, labelNames: L[] = []): Gauge<L> {
    return new Gauge({ name, help, labelNames, registers: [this.registry] });
  }

  #count(event: BatonEvent): void {
    if (event.name === EventName.FlowRunCreated) this.#created.inc();
    else if (isEvent(event, EventName.FlowRunStateChanged)) {
      const { state, previousType } = event.payload;
      if (TERMINAL_STATE_TYPES.includes(state.type) && previousType !== state.type) {
        // A stored event names the run's flow and deployment.
        const related = (event as { related?: Partial<EventRelated> }).related;
        const deployment =
          related?.deploymentName && related.flowName
            ? `${related.flowName}/${related.deploymentName}`
            : NO_DEPLOYMENT;
        this.#finished.inc({ state: state.type, deployment });
      }
    }
  }

  /** The figures only the database knows, in five aggregate queries. */
  async #readStore(now: Date): Promise<void> {
    const db = this.#db.kysely;
    const nowIso = now.toISOString();
    const [runs, stored, deployments, queues, workers] = await Promise.all([
      // The unfinished runs only, from the index on the state type.
      db
        .selectFrom("flowRuns")
        .select([
          "stateType",
          "deploymentId",
          (eb) => eb.fn.countAll<number>().as("runs"),
          sql<number>`count(case when state_type = 'SCHEDULED' and state_name = 'Late' then 1 end)`.as(
            "late",
          ),
        ])
        .where("stateType", "in", UNFINISHED_STATES)
        .groupBy(["stateType", "deploymentId"])
        .execute(),
      // Every run, from that index alone (no row is read).
      db
        .selectFrom("flowRuns")
        .select(["stateType", (eb) => eb.fn.countAll<number>().as("runs")])
        .groupBy("stateType")
        .execute(),
      db
        .selectFrom("deployments")
        .innerJoin("flows", "flows.id", "deployments.flowId")
        .select(["deployments.id", "deployments.name", "flows.name as flowName"])
        .execute(),
      // Due and claimable: SCHEDULED, its time come, not awaiting a retry in its own process.
      db
        .selectFrom("workQueues")
        .innerJoin("workPools", "workPools.id", "workQueues.workPoolId")
        .leftJoin("flowRuns", (join) =>
          join
            .onRef("flowRuns.workQueueId", "=", "workQueues.id")
            .on("flowRuns.stateType", "=", "SCHEDULED")
            .on("flowRuns.nextScheduledStartTime", "<=", nowIso)
            .on("flowRuns.lastHeartbeat", "is", null),
        )
        .select([
          "workPools.name as workPool",
          "workQueues.name as workQueue",
          (eb) => eb.fn.count<number>("flowRuns.id").as("depth"),
          (eb) => eb.fn.min("flowRuns.nextScheduledStartTime").as("oldestDue"),
        ])
        .groupBy(["workQueues.id", "workPools.name", "workQueues.name"])
        .execute(),
      db
        .selectFrom("workPools")
        .leftJoin("workers", "workers.workPoolId", "workPools.id")
        .select(["workPools.name as workPool", "workers.lastHeartbeat", "workers.heartbeatIntervalSeconds"])
        .execute(),
    ]);

    const names = new Map(deployments.map((row) => [row.id, `${row.flowName}/${row.name}`]));
    const deploymentLabel = (id: string | null) => (id === null ? NO_DEPLOYMENT : (names.get(id) ?? id));
    this.#runs.reset();
    this.#late.reset();
    const counts = new Map<string, Map<string, { runs: number; late: number }>>();
    for (const row of runs) {
      if (row.stateType === null) continue;
      const deployment = deploymentLabel(row.deploymentId);
      const states = counts.get(deployment) ?? new Map<string, { runs: number; late: number }>();
      const count = states.get(row.stateType) ?? { runs: 0, late: 0 };
      states.set(row.stateType, { runs: count.runs + Number(row.runs), late: count.late + Number(row.late) });
      counts.set(deployment, states);
    }
    // Every deployment (and none) with every unfinished state, 0 included: an emptied state reads 0,
    // not a gap, and a deployment's series are there before its first run.
    for (const deployment of new Set([NO_DEPLOYMENT, ...names.values(), ...counts.keys()])) {
      const states = counts.get(deployment);
      let late = 0;
      for (const state of UNFINISHED_STATES) {
        const count = states?.get(state);
        this.#runs.set({ state, deployment }, count?.runs ?? 0);
        late += count?.late ?? 0;
      }
      this.#late.set({ deployment }, late);
    }
    this.#stored.reset();
    const storedCounts = new Map<string | null, number>(
      stored.map((row) => [row.stateType, Number(row.runs)]),
    );
    for (const state of STATE_TYPES) this.#stored.set({ state }, storedCounts.get(state) ?? 0);

    this.#queueDepth.reset();
    this.#oldestDue.reset();
    for (const row of queues) {
      const labels = { work_pool: row.workPool, work_queue: row.workQueue };
      this.#queueDepth.set(labels, Number(row.depth));
      const oldest = typeof row.oldestDue === "string" ? Date.parse(row.oldestDue) : NaN;
      this.#oldestDue.set(labels, Number.isFinite(oldest) ? Math.max(0, (now.getTime() - oldest) / 1000) : 0);
    }

    this.#workersOnline.reset();
    const online = new Map<string, number>();
    for (const row of workers) {
      const up =
        row.lastHeartbeat !== null &&
        row.heartbeatIntervalSeconds !== null &&
        workerIsOnline(
          { lastHeartbeat: row.lastHeartbeat, heartbeatIntervalSeconds: row.heartbeatIntervalSeconds },
          now.getTime(),
        );
      online.set(row.workPool, (online.get(row.workPool) ?? 0) + (up ? 1 : 0));
    }
    for (const [workPool, count] of online) this.#workersOnline.set({ work_pool: workPool }, count);

    const use = this.#db.connections();
    this.#connections.reset();
    this.#connections.set({ state: "open" }, use.open);
    this.#connections.set({ state: "max" }, use.max);
    if (use.idle !== undefined) this.#connections.set({ state: "idle" }, use.idle);
    this.#waiting.set(use.waiting ?? 0);
  }
}
