import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, type FlowRun } from "@baton/core";
import { runDeployment } from "@baton/sdk";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { lossyProxy } from "../../../test/lossy-proxy.js";
import { startProcess, type TestProcess } from "../../../test/processes.js";
import { isType, limitSpans, mostAtOnce, waitForRunState } from "../../../test/runs.js";

const servedFlows = fileURLToPath(new URL("./fixtures/served-flows.ts", import.meta.url));

describe.each(DIALECTS)("serve() on %s", (dialect) => {
  let server: TestServer;
  let served: TestProcess;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    served = startProcess([servedFlows], { env: { BATON_API_URL: server.apiUrl } });
    await served.waitForLine(/^ready /);
  });
  afterAll(async () => {
    expect(await served.stop()).toBe(0);
    expect(served.lines).toContain("stopped");
    await server.stop();
  });
  const api = () => server.client.api;

  it("starts runs created through the API, with JSON parameters decoded into their types", async () => {
    const finished = await runDeployment("greet/api", {
      parameters: { name: "ada", when: "2031-05-06T07:08:09Z" },
      client: server.client,
    });
    expect(finished.state).toMatchObject({
      type: "COMPLETED",
      data: { kind: "inline", value: { greeting: "hello ada hello ada", year: 2031, isDate: true } },
    });
    expect(finished.workerName).toMatch(/^serve-/);
    // Claimed and started in one step (start: true), with every state recorded once.
    const history = await api().listFlowRunStates({ params: { id: finished.id } });
    expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]);
    // The deployment shows that a process serves it.
    const served = await api().readDeploymentByName({ params: { flowName: "greet", deploymentName: "api" } });
    expect(served.lastPolled).not.toBeNull();
  });

  it("refuses parameters that do not fit the schema before any run is created", async () => {
    const before = (await api().listFlowRuns({ query: { flowName: "greet" } })).items.length;
    const error = await runDeployment("greet/api", {
      parameters: { name: 42, when: "2031-05-06T07:08:09Z" },
      client: server.client,
    }).catch((caught: unknown) => caught as BatonError);
    expect(error).toBeInstanceOf(BatonError);
    expect((error as BatonError).message).toMatch(/name/);
    expect((await api().listFlowRuns({ query: { flowName: "greet" } })).items.length).toBe(before);
  });

  it("cancels a running run, and a scheduled run never starts", async () => {
    const deployment = await api().readDeploymentByName({
      params: { flowName: "slow", deploymentName: "limited" },
    });
    const running = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ms: 60_000 } },
    });
    await waitForRunState(server.client, running.id, isType("RUNNING"));
    await api().setFlowRunState({ params: { id: running.id }, body: { state: { type: "CANCELLING" } } });
    const cancelled = await waitForRunState(server.client, running.id, isType("CANCELLED"));
    expect(cancelled.state?.type).toBe("CANCELLED");

    const later = new Date(Date.now() + 3_600_000).toISOString();
    const scheduled = await api().createDeploymentRun({
      params: { id: deployment.id },
      body: { parameters: { ms: 1 }, state: { type: "SCHEDULED", scheduledTime: later } },
    });
    await api().setFlowRunState({ params: { id: scheduled.id }, body: { state: { type: "CANCELLING" } } });
    const never = await api().readFlowRun({ params: { id: scheduled.id } });
    expect(never).toMatchObject({ state: { type: "CANCELLED" }, runCount: 0, startTime: null });
  });

  it("never runs two runs of a deployment limited to one at once", async () => {
    const deployment = await api().readDeploymentByName({
      params: { flowName: "slow", deploymentName: "limited" },
    });
    const runs = await Promise.all(
      Array.from({ length: 4 }, () =>
        api().createDeploymentRun({ params: { id: deployment.id }, body: { parameters: { ms: 30 } } }),
      ),
    );
    const finished: FlowRun[] = await Promise.all(
      runs.map((run) => waitForRunState(server.client, run.id, isType("COMPLETED"))),
    );
    // Each run holds the limit from its PENDING state to its end: the spans must not overlap.
    expect(mostAtOnce(await limitSpans(server.client, finished))).toBe(1);
  });
});

describe.each(DIALECTS)("serve() on %s when a claim's answer is lost", (dialect) => {
  let server: TestServer;
  let proxy: Awaited<ReturnType<typeof lossyProxy>>;
  let served: TestProcess;
  beforeAll(async () => {
    server = await startTestServer(dialect);
    // The first claim that took a run is answered by the server, and its answer never arrives.
    proxy = await lossyProxy(
      server.apiUrl,
      (request, answer) =>
        request.path.endsWith("/flow-runs/claim") &&
        answer.body.includes('"flowRun"') &&
        !proxy.requests.some((earlier) => earlier.lost),
    );
    served = startProcess([servedFlows], { env: { BATON_API_URL: proxy.url } });
    await served.waitForLine(/^ready /);
  });
  afterAll(async () => {
    expect(await served.stop()).toBe(0);
    await proxy.stop();
    await server.stop();
  });

  it("claims again under the same name and carries out the run it took, once", async () => {
    const finished = await runDeployment("greet/api", {
      parameters: { name: "ada", when: "2031-05-06T07:08:09Z" },
      client: server.client,
    });
    // Carried out by the serve process, not ended by crash detection a heartbeat timeout later.
    expect(finished.state?.type).toBe("COMPLETED");
    const history = await server.client.api.listFlowRunStates({ params: { id: finished.id } });
    expect(history.map((state) => state.type)).toEqual(["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]);
    expect(finished.attempt).toBe(1);

    const claims = proxy.requests.filter((request) => request.path.endsWith("/flow-runs/claim"));
    const lost = claims.findIndex((claim) => claim.lost);
    expect(lost).toBeGreaterThanOrEqual(0);
    const named = (claim: { body: string }) =>
      JSON.parse(claim.body) as { claimId?: string; resent?: boolean };
    const { claimId } = named(claims[lost]!);
    expect(claimId).toMatch(/^[0-9a-f-]{36}$/);
    expect(named(claims[lost]!).resent).toBe(false);
    expect(named(claims[lost + 1]!)).toMatchObject({ claimId, resent: true });
    // The claim after an answered one is a new one (sent before the run it answered began).
    expect(named(claims[lost + 2]!)).toMatchObject({ resent: false });
    expect(named(claims[lost + 2]!).claimId).not.toBe(claimId);
  });
});
