import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AutomationCreate } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { Hooks } from "../../../test/hooks.js";
import { actionRunsOf, finishedActionRuns } from "../../../test/runs.js";

const FAST = { serviceLoopSeconds: 0.1, actionRetrySeconds: 0.05, actionMaxAttempts: 2 } as const;

describe.each(DIALECTS)("send-notification and change-flow-run-state on %s", (dialect: TestDialect) => {
  const hooks = new Hooks();
  let server: TestServer;
  beforeAll(async () => {
    await hooks.start();
    server = await startTestServer(dialect, FAST);
  });
  afterAll(async () => {
    await server?.stop();
    await hooks.stop();
  });
  const api = () => server.client.api;
  const automation = (body: AutomationCreate) => api().createAutomation({ body });
  const secret = (name: string, path: string) => api().setSecret({ body: { name, value: hooks.url(path) } });

  it("sends one notification to every destination, each delivered and recorded on its own", async () => {
    await secret("team-slack", "/slack/team");
    await secret("broken-hook", "/hooks/broken");
    await secret("pager-hook", "/hooks/pager");
    hooks.answer("/hooks/broken", [400]);
    const notify = await automation({
      name: "order alerts everywhere",
      trigger: { events: ["shop.order-failed"] },
      actions: [
        {
          type: "send-notification",
          destinations: [
            { type: "webhook", secret: "broken-hook" },
            { type: "slack", secret: "team-slack" },
            { type: "webhook", secret: "pager-hook" },
          ],
          text: "order {{ event.payload.order }} failed",
          body: { order: "{{ event.payload.order }}" },
        },
      ],
    });
    await api().createEvent({ body: { event: "shop.order-failed", payload: { order: 17 } } });

    const runs = await actionRunsOf(server.client, notify.id, finishedActionRuns(3));
    expect(runs).toHaveLength(3);
    const by = (secretName: string) => runs.find((run) => run.resolved.secret === secretName);
    // The first destination refusing does not keep the others from theirs.
    expect(by("broken-hook")).toMatchObject({
      actionIndex: 0,
      status: "FAILED",
      attempts: [{ statusCode: 400 }],
    });
    expect(by("team-slack")).toMatchObject({
      actionIndex: 0,
      status: "COMPLETED",
      resolved: { type: "slack", text: "order 17 failed" },
    });
    expect(by("pager-hook")).toMatchObject({ status: "COMPLETED", resolved: { body: { order: "17" } } });
    expect(hooks.to("/slack/team").map((request) => request.body)).toEqual([{ text: "order 17 failed" }]);
    expect(hooks.to("/hooks/pager").map((request) => request.body)).toEqual([{ order: "17" }]);
  });

  it("refuses a send-notification without destinations, naming the field", async () => {
    const error = await automation({
      name: "nowhere",
      trigger: { events: ["shop.order-failed"] },
      actions: [{ type: "send-notification", destinations: [] }],
    }).catch((caught: Error) => caught);
    expect((error as Error).message).toContain("destinations is empty");
  });

  it("forces the event's flow run into the state named, through the orchestration, with its event", async () => {
    const run = await api().createFlowRun({ body: { flowName: "qa-gated", state: { type: "PENDING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "RUNNING" } } });
    await api().setFlowRunState({ params: { id: run.id }, body: { state: { type: "COMPLETED" } } });
    const reject = await automation({
      name: "qa rejects",
      trigger: { events: ["qa.rejected"] },
      actions: [
        {
          type: "change-flow-run-state",
          state: "FAILED",
          name: "Rejected",
          message: "QA said no: {{ event.payload.reason }}",
        },
      ],
    });
    await api().createEvent({
      body: { event: "qa.rejected", flowRunId: run.id, payload: { reason: "blurry" } },
    });

    const [changed] = await actionRunsOf(server.client, reject.id, finishedActionRuns(1));
    expect(changed).toMatchObject({ status: "COMPLETED", resolved: { flowRunId: run.id } });
    const after = await api().readFlowRun({ params: { id: run.id } });
    // Forced: a finished run is moved all the same.
    expect(after.state).toMatchObject({ type: "FAILED", name: "Rejected", message: "QA said no: blurry" });
    const events = await api().listEvents({ query: { name: "flow-run.state-changed", resourceId: run.id } });
    expect(events.items.map((event) => event.payload.state)).toContainEqual(
      expect.objectContaining({ type: "FAILED", name: "Rejected" }),
    );
  });

  it("changes a flow run given by id, and fails without retrying when there is no such run", async () => {
    const run = await api().createFlowRun({ body: { flowName: "named", state: { type: "SCHEDULED" } } });
    const missing = "0190f0f0-0000-7000-8000-000000000000";
    const change = await automation({
      name: "cancel by id",
      trigger: { events: ["ops.cancel"] },
      actions: [
        { type: "change-flow-run-state", flowRunId: run.id, state: "CANCELLED" },
        { type: "change-flow-run-state", flowRunId: missing, state: "CANCELLED" },
      ],
    });
    await api().createEvent({ body: { event: "ops.cancel" } });
    const [done, failed] = await actionRunsOf(server.client, change.id, finishedActionRuns(2));
    expect([done!.status, failed!.status]).toEqual(["COMPLETED", "FAILED"]);
    expect(failed!.attempts).toHaveLength(1);
    expect((await api().readFlowRun({ params: { id: run.id } })).state).toMatchObject({
      type: "CANCELLED",
      message: "State changed by automation 'cancel by id'",
    });
  });
});
