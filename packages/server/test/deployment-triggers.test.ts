/**
 * Deployment triggers: automations a deployment owns, which run it when an event matches, with
 * parameters from the event. Replaced when the deployment's triggers are given again, removed with it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { actionRunsOf, finishedActionRuns } from "../../../test/runs.js";

const API_KEY = "the-api-key-0123456789";

describe.each(DIALECTS)("deployment triggers on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { apiKey: API_KEY, serviceLoopSeconds: 0.1 });
  });
  afterAll(() => server?.stop());
  const api = () => server.client.api;

  it("starts the deployment with parameters from the body of a request to a webhook", async () => {
    const deployment = await api().createDeployment({ body: { name: "release", flowName: "shipper" } });
    const [trigger] = await api().replaceDeploymentTriggers({
      params: { id: deployment.id },
      body: {
        triggers: [
          {
            events: ["release.requested"],
            parameters: {
              version: "{{ event.payload.body.version }}",
              notes: "{{ event.payload.body.notes }}",
            },
          },
        ],
      },
    });
    const webhook = await api().createWebhook({
      body: { name: "releases", template: { event: "release.requested" } },
    });

    // An external system: no API key, only the webhook's own URL.
    const answer = await fetch(`${new URL(server.apiUrl).origin}${webhook.path}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ version: 7, notes: { highlights: ["faster"] } }),
    });
    expect(answer.status).toBe(202);

    const [started] = await actionRunsOf(server.client, trigger!.id, finishedActionRuns(1));
    expect(started).toMatchObject({ status: "COMPLETED", resolved: { type: "run-deployment" } });
    const runs = await api().listFlowRuns({ query: { deploymentId: deployment.id } });
    expect(runs.items).toHaveLength(1);
    // A whole-tag template keeps the value's type: a number stays a number, an object an object.
    expect(runs.items[0]!.parameters).toEqual({ version: 7, notes: { highlights: ["faster"] } });
  });

  it("is an automation of the deployment: listed, replaced when given again, removed with it", async () => {
    const deployment = await api().createDeployment({ body: { name: "nightly", flowName: "loader" } });
    const first = await api().replaceDeploymentTriggers({
      params: { id: deployment.id },
      body: {
        triggers: [
          { events: ["files.landed"] },
          { name: "on demand", events: ["loader.wanted"], enabled: false },
        ],
      },
    });
    expect(first.map(({ name, enabled, deploymentId }) => ({ name, enabled, deploymentId }))).toEqual([
      { name: "deployment loader:nightly on files.landed", enabled: true, deploymentId: deployment.id },
      { name: "on demand", enabled: false, deploymentId: deployment.id },
    ]);
    expect(first[0]).toMatchObject({
      trigger: { events: ["files.landed"] },
      actions: [{ type: "run-deployment", deployment: "loader/nightly" }],
    });
    const listed = await api().listAutomations({ query: { limit: 200 } });
    expect(listed.items.filter((automation) => automation.deploymentId === deployment.id)).toHaveLength(2);

    const second = await api().replaceDeploymentTriggers({
      params: { id: deployment.id },
      body: { triggers: [{ events: ["files.arrived"] }] },
    });
    expect(second.map((automation) => automation.trigger)).toMatchObject([{ events: ["files.arrived"] }]);
    expect(await api().listDeploymentTriggers({ params: { id: deployment.id } })).toEqual(second);
    // The same trigger again (serve() registers its triggers on every start) is kept as it is.
    const again = await api().replaceDeploymentTriggers({
      params: { id: deployment.id },
      body: {
        triggers: [
          { events: ["files.arrived"] },
          { events: ["files.arrived"], threshold: 2, withinSeconds: 60 },
        ],
      },
    });
    expect(again.map((automation) => automation.id)).toContain(second[0]!.id);
    expect(again).toHaveLength(2);
    const ids = [...first, ...second, ...again].map((automation) => automation.id);

    await api().deleteDeployment({ params: { id: deployment.id } });
    const left = (await api().listAutomations({ query: { limit: 200 } })).items.map(
      (automation) => automation.id,
    );
    expect(left.filter((id) => ids.includes(id))).toEqual([]);
  });

  it("refuses a trigger it could not use, naming the field; a deployment that does not exist is a 404", async () => {
    const deployment = await api().createDeployment({ body: { name: "strict", flowName: "loader" } });
    const bad = await api()
      .replaceDeploymentTriggers({
        params: { id: deployment.id },
        body: { triggers: [{ events: ["files.landed"], posture: "proactive" }] },
      })
      .catch((error: Error) => error);
    expect((bad as Error).message).toContain("a proactive trigger needs withinSeconds");
    const missing = await api()
      .replaceDeploymentTriggers({
        params: { id: "0190f0f0-0000-7000-8000-000000000000" },
        body: { triggers: [] },
      })
      .catch((error: Error) => error);
    expect((missing as Error).message).toContain("does not exist");
  });
});
