import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateType } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { automationsService } from "../src/services/automations.js";
import { metricSample } from "../src/store/automation-metrics.js";

/**
 * The automations service is run by hand (the server's own services are off), so each evaluation
 * happens exactly after the runs before it ended.
 */
describe.each(DIALECTS)("metric triggers on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
  });
  afterAll(() => server?.stop());
  const api = () => server.client.api;
  const evaluate = () => automationsService(server.ctx, server.settings).runOnce(new Date());

  /** A flow run of `flowName` that ran `seconds` (ending now) and ended `type`. */
  async function ended(flowName: string, type: StateType, seconds = 1) {
    const run = await api().createFlowRun({ body: { flowName, state: { type: "PENDING" } } });
    const end = Date.now();
    const at = (time: number) => new Date(time).toISOString();
    await api().setFlowRunState({
      params: { id: run.id },
      body: { state: { type: "RUNNING", timestamp: at(end - seconds * 1000) } },
    });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type, timestamp: at(end) } } });
    return run;
  }

  it("fires on a failure ratio once past the threshold, not again while it stays there, again after it resolved", async () => {
    const alert = await api().createAutomation({
      body: {
        name: "etl failing",
        trigger: {
          type: "metric",
          metric: "failure-ratio",
          operator: ">",
          threshold: 0.5,
          rangeSeconds: 3600,
          flows: ["metric-etl"],
        },
        actions: [
          { type: "test-sink", text: "{{ metric.name }} is {{ metric.value }} over {{ metric.runs }} runs" },
        ],
      },
    });
    const firings = async () => {
      await evaluate();
      const runs = (await api().listActionRuns({ query: { automationId: alert.id } })).items;
      return runs.map((run) => (run.resolved as { text: string }).text).reverse();
    };

    // Another flow's failures are not its runs.
    await ended("other-etl", "FAILED");
    expect(await firings()).toEqual([]);
    await ended("metric-etl", "COMPLETED");
    await ended("metric-etl", "FAILED");
    expect(await firings()).toEqual([]); // 1 of 2: at the threshold, not past it
    await ended("metric-etl", "FAILED");
    expect(await firings()).toEqual(["failure-ratio is 0.6666666666666666 over 3 runs"]);
    await ended("metric-etl", "CRASHED");
    expect(await firings()).toHaveLength(1); // 3 of 4: still past it
    await ended("metric-etl", "COMPLETED");
    await ended("metric-etl", "COMPLETED");
    expect(await firings()).toHaveLength(1); // 3 of 6: resolved
    await ended("metric-etl", "FAILED");
    expect(await firings()).toEqual([
      "failure-ratio is 0.6666666666666666 over 3 runs",
      "failure-ratio is 0.5714285714285714 over 7 runs",
    ]);
  });

  it("counts a deployment's runs that ended in the range, and their mean run time", async () => {
    const flow = await api().createFlow({ body: { name: "timed" } });
    const deployment = await api().createDeployment({ body: { flowId: flow.id, name: "prod" } });
    for (const seconds of [10, 30]) {
      const run = await api().createDeploymentRun({ params: { id: deployment.id }, body: {} });
      const end = Date.now();
      await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } });
      await api().setFlowRunState({
        params: { id: run.id },
        body: { state: { type: "RUNNING", timestamp: new Date(end - seconds * 1000).toISOString() } },
      });
      await api().setFlowRunState({
        params: { id: run.id },
        body: {
          state: { type: seconds === 10 ? "FAILED" : "COMPLETED", timestamp: new Date(end).toISOString() },
        },
      });
    }
    await ended("timed", "FAILED", 500); // the flow's, but not the deployment's
    const trigger = { rangeSeconds: 3600, deployments: ["timed/prod"] };
    expect(await metricSample(server.ctx, trigger, new Date())).toEqual({
      runs: 2,
      failed: 1,
      meanDurationSeconds: 20,
    });
    // An hour on, they ended before the range.
    const later = new Date(Date.now() + 3601_000);
    expect(await metricSample(server.ctx, trigger, later)).toMatchObject({
      runs: 0,
      meanDurationSeconds: null,
    });
  });

  it("refuses a metric trigger it could not judge, naming the field", async () => {
    const error = await api()
      .createAutomation({
        body: {
          name: "bad",
          trigger: {
            type: "metric",
            metric: "failure-ratio",
            operator: ">",
            threshold: 2,
            rangeSeconds: 3600,
          },
          actions: [{ type: "test-sink" }],
        },
      })
      .catch((caught: Error) => caught);
    expect((error as Error).message).toContain("a failure-ratio threshold is a ratio from 0 to 1");
  });
});
