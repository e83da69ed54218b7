// Debian's Prometheus scraping a running Baton server with the scrape job and alerting rules of
// docs/operations.md: its query API answers the runs by state and the work queues' depth with the
// values the store holds, and follows them as they change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STATE_TYPES } from "@baton/core";
import { DIALECTS, startTestServer, type TestServer } from "./helpers.js";
import { PROMETHEUS, startPrometheus, type Prometheus } from "./prometheus.js";

if (!PROMETHEUS) {
  console.warn(
    `\n${"!".repeat(100)}\nPROMETHEUS SCRAPING SKIPPED: prometheus is not installed (Debian: apt-get install prometheus; .ci/run installs it)\n${"!".repeat(100)}\n`,
  );
}

const TOKEN = "a-metrics-token-for-prometheus";
/**
 * How long Prometheus may take to show what changed: it scrapes every second here, but applies its
 * targets some 5 s after starting.
 */
const WAIT_MS = 30_000;

const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

describe.skipIf(!PROMETHEUS).each(DIALECTS)("Prometheus scraping a server on %s", (dialect) => {
  let server: TestServer;
  let prometheus: Prometheus;

  /**
   * Waits (bounded) until `expression` evaluates to `expected`, given as `{value of label: value}`,
   * and asserts it: a failure shows what Prometheus answered last.
   */
  async function settles(expression: string, label: string, expected: Record<string, number>) {
    let seen: Record<string, number> = {};
    for (const deadline = Date.now() + WAIT_MS; Date.now() < deadline;) {
      const series = await prometheus.query(expression);
      seen = Object.fromEntries(series.map((s) => [s.labels[label] ?? "", s.value]));
      if (JSON.stringify(sorted(seen)) === JSON.stringify(sorted(expected))) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(seen, expression).toEqual(expected);
  }
  const sorted = (values: Record<string, number>) =>
    Object.entries(values).sort(([a], [b]) => a.localeCompare(b));

  beforeAll(async () => {
    // With an API key too: Prometheus reads with the metrics token alone.
    server = await startTestServer(dialect, { services: false, apiKey: "the-api-key", metricsToken: TOKEN });
    prometheus = await startPrometheus([new URL(server.url).host], TOKEN);
  });
  afterAll(async () => {
    await prometheus?.stop();
    await server?.stop();
  });

  it("answers runs by state and the work queues' depth with the store's values", async () => {
    const api = server.client.api;
    await api.createWorkPool({ body: { name: "etl", type: "process" } });
    await api.createWorkQueue({ params: { pool: "etl" }, body: { name: "urgent", priority: 1 } });
    const nightly = await api.createDeployment({
      body: { name: "nightly", flowName: "load", workPoolName: "etl", workQueueName: "default" },
    });
    const urgent = await api.createDeployment({
      body: { name: "urgent", flowName: "load", workPoolName: "etl", workQueueName: "urgent" },
    });
    for (const minutes of [-3, -2, -1, 30]) {
      await api.createDeploymentRun({
        params: { id: nightly.id },
        body: { state: { type: "SCHEDULED", scheduledTime: minutesFromNow(minutes) } },
      });
    }
    await api.createDeploymentRun({ params: { id: urgent.id }, body: {} });
    const done = await api.createFlowRun({ body: { flowName: "adhoc", state: { type: "PENDING" } } });
    await api.setFlowRunState({ params: { id: done.id }, body: { state: { type: "RUNNING" } } });
    await api.setFlowRunState({ params: { id: done.id }, body: { state: { type: "COMPLETED" } } });

    await settles('up{job="baton"}', "job", { baton: 1 });
    await settles("baton_stored_flow_runs", "state", states({ SCHEDULED: 5, COMPLETED: 1 }));
    await settles('baton_flow_runs{state="SCHEDULED"}', "deployment", {
      "load/nightly": 4,
      "load/urgent": 1,
      "": 0, // the run of no deployment: Prometheus shows an empty label as none
    });
    await settles('baton_work_queue_depth{work_pool="etl"}', "work_queue", { default: 3, urgent: 1 });

    // A worker claims three runs, the earliest due (the nightly ones): the next scrapes say so.
    const { runs } = await api.claimFlowRuns({
      body: { workerName: "w", workPoolName: "etl", limit: 3, waitSeconds: 0 },
    });
    expect(runs).toHaveLength(3);
    await settles('baton_work_queue_depth{work_pool="etl"}', "work_queue", { default: 0, urgent: 1 });
    await settles("baton_stored_flow_runs", "state", states({ SCHEDULED: 2, PENDING: 3, COMPLETED: 1 }));
    await settles('baton_flow_runs{state="PENDING"}', "deployment", {
      "load/nightly": 3,
      "load/urgent": 0,
      "": 0,
    });
    await settles("baton_dispatch_latency_seconds_count", "job", { baton: 3 });

    // The documented alerting rules load and evaluate without error against these series.
    let rules = await prometheus.rules();
    for (const deadline = Date.now() + WAIT_MS; rules.some((rule) => rule.health === "unknown");) {
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
      rules = await prometheus.rules();
    }
    expect(rules.map((rule) => rule.name)).toContain("BatonWorkWaiting");
    expect(rules.filter((rule) => rule.health !== "ok")).toEqual([]);
  }, 180_000);
});

/** Every state type, with the counts given and 0 for the rest (as the server reports them). */
function states(counts: Record<string, number>): Record<string, number> {
  return Object.fromEntries(STATE_TYPES.map((state) => [state, counts[state] ?? 0]));
}
