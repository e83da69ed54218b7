// GET /api/metrics: the Prometheus text a real server answers over a real database, with runs in
// several states, deployments and work queues; and who may read it (API key, BATON_METRICS_TOKEN).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatonClient } from "@baton/client";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of Prometheus' text format (comments and blank lines left out). */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
function valueOf(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (sample) =>
      sample.name === name &&
      Object.keys(sample.labels).length === wanted.length &&
      wanted.every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

async function scrape(url: string, token?: string): Promise<Response> {
  return fetch(`${url}/api/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
}

describe.each(DIALECTS)("Prometheus metrics on %s", (dialect) => {
  let server: TestServer;
  // Services off: no late-runs pass or scheduler changes the runs between their making and the scrape.
  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
  });
  afterAll(async () => server?.stop());
  const api = () => server.client.api;

  async function setUp(client: BatonClient) {
    await client.api.createWorkPool({ body: { name: "batch", type: "process" } });
    await client.api.createWorkQueue({ params: { pool: "batch" }, body: { name: "urgent", priority: 1 } });
    await client.api.createWorkPool({ body: { name: "reports", type: "process" } });
    const deployment = (name: string, flowName: string, workPoolName: string, workQueueName: string) =>
      client.api.createDeployment({ body: { name, flowName, workPoolName, workQueueName } });
    const nightly = await deployment("nightly", "etl", "batch", "default");
    const hourly = await deployment("hourly", "etl", "batch", "urgent");
    const daily = await deployment("daily", "report", "reports", "default");
    const run = (id: string, state?: { type: "SCHEDULED"; name?: string; scheduledTime: string }) =>
      client.api.createDeploymentRun({ params: { id }, body: state ? { state } : {} });
    // batch/default: two due (10 and 1 minutes ago) and one due in an hour.
    await run(nightly.id, { type: "SCHEDULED", scheduledTime: minutesFromNow(-10) });
    await run(nightly.id, { type: "SCHEDULED", scheduledTime: minutesFromNow(-1) });
    await run(nightly.id, { type: "SCHEDULED", scheduledTime: minutesFromNow(60) });
    // batch/urgent: one Late run, still due and claimable.
    await run(hourly.id, { type: "SCHEDULED", name: "Late", scheduledTime: minutesFromNow(-5) });
    // reports/default: one claimed (PENDING), one completed, one failed.
    const completed = await run(daily.id);
    const failed = await run(daily.id);
    const { runs: claimed } = await client.api.claimFlowRuns({
      body: { workerName: "w1", workPoolName: "reports", limit: 2, waitSeconds: 0 },
    });
    expect(claimed.map(({ flowRun }) => flowRun.id).sort()).toEqual([completed.id, failed.id].sort());
    for (const [id, end] of [
      [completed.id, "COMPLETED"],
      [failed.id, "FAILED"],
    ] as const) {
      await client.api.setFlowRunState({ params: { id }, body: { state: { type: "RUNNING" } } });
      await client.api.setFlowRunState({ params: { id }, body: { state: { type: end } } });
    }
    await run(daily.id);
    await client.api.claimFlowRuns({
      body: { workerName: "w1", workPoolName: "reports", limit: 1, waitSeconds: 0 },
    });
    await client.api.heartbeatWorker({ params: { pool: "reports" }, body: { name: "w1" } });
    // A run of no deployment, carried by its own process.
    const adhoc = await client.api.createFlowRun({ body: { flowName: "adhoc", state: { type: "PENDING" } } });
    await client.api.setFlowRunState({ params: { id: adhoc.id }, body: { state: { type: "RUNNING" } } });
    return { claimed: claimed.length + 1 };
  }

  it("counts runs by state and deployment, work queues, workers, claims and requests", async () => {
    const { claimed } = await setUp(server.client);
    await api()
      .readFlowRun({ params: { id: "00000000-0000-7000-8000-000000000000" } })
      .catch(() => null);
    await fetch(`${server.apiUrl}/no-such-thing/${"x".repeat(20)}`);

    const response = await scrape(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseExposition(await response.text());
    const runs = (state: string, deployment: string) =>
      valueOf(samples, "baton_flow_runs", { state, deployment });

    expect(runs("SCHEDULED", "etl/nightly")).toBe(3);
    expect(runs("SCHEDULED", "etl/hourly")).toBe(1);
    expect(runs("RUNNING", "etl/nightly")).toBe(0); // every state of a deployment with runs, 0 included
    expect(runs("PENDING", "report/daily")).toBe(1);
    expect(runs("SCHEDULED", "report/daily")).toBe(0);
    expect(runs("RUNNING", "")).toBe(1);
    // Finished runs are counted by state only (the unfinished ones by deployment).
    expect(runs("COMPLETED", "report/daily")).toBeUndefined();
    const stored = (state: string) => valueOf(samples, "baton_stored_flow_runs", { state });
    expect([
      stored("SCHEDULED"),
      stored("PENDING"),
      stored("RUNNING"),
      stored("COMPLETED"),
      stored("FAILED"),
      stored("CRASHED"),
    ]).toEqual([4, 1, 1, 1, 1, 0]);
    expect(valueOf(samples, "baton_flow_runs_late", { deployment: "etl/hourly" })).toBe(1);
    expect(valueOf(samples, "baton_flow_runs_late", { deployment: "etl/nightly" })).toBe(0);

    const queue = (name: string, work_pool: string, work_queue: string) =>
      valueOf(samples, name, { work_pool, work_queue });
    expect(queue("baton_work_queue_depth", "batch", "default")).toBe(2);
    expect(queue("baton_work_queue_depth", "batch", "urgent")).toBe(1);
    expect(queue("baton_work_queue_depth", "reports", "default")).toBe(0);
    const oldest = queue("baton_work_queue_oldest_due_run_age_seconds", "batch", "default")!;
    expect(oldest).toBeGreaterThanOrEqual(600);
    expect(oldest).toBeLessThan(600 + 120);
    expect(queue("baton_work_queue_oldest_due_run_age_seconds", "reports", "default")).toBe(0);
    expect(valueOf(samples, "baton_workers_online", { work_pool: "reports" })).toBe(1);
    expect(valueOf(samples, "baton_workers_online", { work_pool: "batch" })).toBe(0);

    // This server's own counters and histograms.
    expect(valueOf(samples, "baton_flow_runs_created_total")).toBe(8);
    const finished = (state: string, deployment: string) =>
      valueOf(samples, "baton_flow_runs_finished_total", { state, deployment });
    expect(finished("COMPLETED", "report/daily")).toBe(1);
    expect(finished("FAILED", "report/daily")).toBe(1);
    expect(finished("CRASHED", "")).toBe(0);
    expect(valueOf(samples, "baton_dispatch_latency_seconds_count")).toBe(claimed);
    expect(valueOf(samples, "baton_claim_duration_seconds_count", { claimed: "true" })).toBe(2);
    const lagged = valueOf(samples, "baton_event_delivery_lag_seconds_count", { origin: "own" });
    expect(lagged).toBeGreaterThan(0);

    // Requests by route pattern and status: never a raw URL.
    const requests = samples.filter((sample) => sample.name === "baton_http_request_duration_seconds_count");
    const count = (method: string, route: string, status_code: string) =>
      valueOf(samples, "baton_http_request_duration_seconds_count", { method, route, status_code });
    expect(count("POST", "/api/work-pools", "201")).toBe(2);
    expect(count("GET", "/api/flow-runs/:id", "404")).toBe(1);
    expect(count("GET", "unmatched", "404")).toBe(1);
    expect(requests.every((sample) => !/[0-9a-f]{8}-|xxxx/.test(sample.labels.route!))).toBe(true);

    expect(valueOf(samples, "baton_database_connections", { state: "open" })).toBeGreaterThanOrEqual(1);
    if (dialect === "postgres") {
      expect(valueOf(samples, "baton_database_connections", { state: "max" })).toBe(
        server.settings.databasePoolSize,
      );
      expect(valueOf(samples, "baton_database_connections", { state: "idle" })).toBeGreaterThanOrEqual(0);
    } else {
      expect(valueOf(samples, "baton_database_connections", { state: "max" })).toBe(1);
    }
    expect(valueOf(samples, "baton_database_connection_waiters")).toBe(0);
    // Node's own, as every Prometheus client has them.
    expect(valueOf(samples, "process_cpu_user_seconds_total")).toBeGreaterThan(0);
  });

  it("reads what changed since the last scrape", async () => {
    const [due] = (await api().listFlowRuns({ query: { workQueueName: "urgent", stateType: ["SCHEDULED"] } }))
      .items;
    await api().setFlowRunState({ params: { id: due!.id }, body: { state: { type: "CANCELLED" } } });
    const samples = parseExposition(await (await scrape(server.url)).text());
    expect(valueOf(samples, "baton_work_queue_depth", { work_pool: "batch", work_queue: "urgent" })).toBe(0);
    expect(valueOf(samples, "baton_flow_runs_late", { deployment: "etl/hourly" })).toBe(0);
    expect(valueOf(samples, "baton_flow_runs", { state: "SCHEDULED", deployment: "etl/hourly" })).toBe(0);
    expect(valueOf(samples, "baton_stored_flow_runs", { state: "CANCELLED" })).toBe(1);
    expect(
      valueOf(samples, "baton_flow_runs_finished_total", { state: "CANCELLED", deployment: "etl/hourly" }),
    ).toBe(1);
  });
});

describe.skipIf(!DIALECTS.includes("postgres"))("two servers on one PostgreSQL database", () => {
  let first: TestServer;
  let second: TestServer;
  beforeAll(async () => {
    first = await startTestServer("postgres", { services: false });
    second = await startTestServer("postgres", { services: false }, first.database);
  });
  afterAll(async () => {
    await second?.stop();
    await first?.stop();
  });

  it("count each change once, on the server that made it, and time the relay to the other", async () => {
    const run = await first.client.api.createFlowRun({
      body: { flowName: "relayed", state: { type: "PENDING" } },
    });
    await first.client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    // The second server's bus delivers the change to its subscribers (the metrics among them).
    const heard = new Promise<void>((resolve) => {
      const unsubscribe = second.ctx.events.subscribe((event) => {
        if (event.resource.id === run.id && event.name === "flow-run.state-changed") {
          const { state } = event.payload as { state: { type: string } };
          if (state.type === "COMPLETED") {
            unsubscribe();
            resolve();
          }
        }
      });
    });
    await first.client.api.setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "COMPLETED" } },
    });
    await heard;

    const [made, relayed] = await Promise.all(
      [first, second].map(async (server) => parseExposition(await (await scrape(server.url)).text())),
    );
    const completed = { state: "COMPLETED", deployment: "" };
    expect(valueOf(made!, "baton_flow_runs_finished_total", completed)).toBe(1);
    expect(valueOf(relayed!, "baton_flow_runs_finished_total", completed)).toBe(0);
    expect(
      valueOf(relayed!, "baton_event_delivery_lag_seconds_count", { origin: "relayed" }),
    ).toBeGreaterThan(0);
    // The database's figures are the same through either server.
    for (const samples of [made!, relayed!]) {
      expect(valueOf(samples, "baton_stored_flow_runs", { state: "COMPLETED" })).toBe(1);
    }
  });
});

describe("who may read the metrics", () => {
  const servers: TestServer[] = [];
  const start = async (settings: { apiKey?: string; metricsToken?: string }) => {
    const server = await startTestServer("sqlite", { services: false, ...settings });
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const server of servers) await server.stop();
  });

  async function refused(response: Response): Promise<string> {
    expect(response.status).toBe(401);
    expect(response.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(response.headers.get("www-authenticate")).toBe("Bearer");
    const problem = (await response.json()) as { code: string; detail: string };
    expect(problem.code).toBe("unauthenticated");
    return problem.detail;
  }

  it("takes the API key or the metrics token, and the token opens nothing else", async () => {
    const server = await start({ apiKey: "the-api-key", metricsToken: "the-metrics-token" });
    expect(await refused(await scrape(server.url))).toMatch(/the API key or BATON_METRICS_TOKEN/);
    expect(await refused(await scrape(server.url, "a-wrong-token"))).toMatch(
      /not the API key or BATON_METRICS_TOKEN/,
    );
    expect((await scrape(server.url, "the-metrics-token")).status).toBe(200);
    expect((await scrape(server.url, "the-api-key")).status).toBe(200);
    const other = await fetch(`${server.apiUrl}/work-pools`, {
      headers: { authorization: "Bearer the-metrics-token" },
    });
    await refused(other);
  });

  it("needs the token when only a metrics token is set, leaving the rest of the API as it is", async () => {
    const server = await start({ metricsToken: "the-metrics-token" });
    expect(await refused(await scrape(server.url))).toMatch(/BATON_METRICS_TOKEN/);
    expect((await scrape(server.url, "the-metrics-token")).status).toBe(200);
    expect((await fetch(`${server.apiUrl}/work-pools`)).status).toBe(200);
  });

  it("needs the API key when only it is set, and is open like the rest when neither is", async () => {
    const keyed = await start({ apiKey: "the-api-key" });
    expect(await refused(await scrape(keyed.url, "the-metrics-token"))).toMatch(
      /not the API key of this server/,
    );
    expect((await scrape(keyed.url, "the-api-key")).status).toBe(200);
    const open = await start({});
    const response = await scrape(open.url);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("# TYPE baton_flow_runs gauge");
  });

  it("refuses a query parameter by name", async () => {
    const server = await start({});
    const response = await fetch(`${server.apiUrl}/metrics?format=json`);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toMatch(/format/);
  });
});
