import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AutomationCreate, State } from "@baton/core";
import {
  DIALECTS,
  startTestServer,
  throwawayDatabase,
  type TestDialect,
  type TestServer,
} from "../../../test/helpers.js";
import { Hooks } from "../../../test/hooks.js";
import { actionRunsOf, finishedActionRuns } from "../../../test/runs.js";
import { eventRetentionService } from "../src/services/event-retention.js";

const FAST = { serviceLoopSeconds: 0.1, actionRetrySeconds: 0.05, actionMaxAttempts: 4 } as const;

const finished = finishedActionRuns;

describe.each(DIALECTS)("automations on %s", (dialect: TestDialect) => {
  const hooks = new Hooks();
  const logs: string[] = [];
  const secrets = new Map<string, string>();
  let server: TestServer;
  beforeAll(async () => {
    await hooks.start();
    server = await startTestServer(dialect, {
      ...FAST,
      logLevel: "debug",
      logStream: { write: (line) => void logs.push(line) },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await hooks.stop();
  });
  const api = () => server.client.api;

  async function secret(name: string, path: string): Promise<string> {
    const url = hooks.url(path);
    secrets.set(name, url);
    await api().setSecret({ body: { name, value: url } });
    return url;
  }
  const automation = (body: AutomationCreate) => api().createAutomation({ body });

  /** A flow run of `flowName` taken through `states` by the API, as a runner would. */
  async function run(flowName: string, ...states: Partial<State>[]) {
    const created = await api().createFlowRun({ body: { flowName, state: { type: "PENDING" } } });
    for (const state of states) {
      await api().setFlowRunState({
        params: { id: created.id },
        body: { state: { type: "RUNNING", ...state } },
      });
    }
    return created;
  }

  it("posts to Slack the run, flow, state, message and dashboard link of a failing flow run", async () => {
    await secret("slack-url", "/services/T000/B000/slack-token-1");
    const alert = await automation({
      name: "etl failures to slack",
      trigger: { events: ["flow-run.state-changed"], flows: ["nightly-etl"], stateTypes: ["FAILED"] },
      actions: [
        {
          type: "slack",
          secret: "slack-url",
          text: "{{ flow.name }} run {{ flow_run.name }} is {{ state.name }}: {{ state.message }} <{{ flow_run.url }}>",
        },
      ],
    });
    // Another flow failing, and the state changes before the failure, match nothing.
    await run("other-etl", {}, { type: "FAILED", message: "not ours" });
    const failed = await run("nightly-etl", {}, { type: "FAILED", message: "disk full" });

    const [delivered] = await actionRunsOf(server.client, alert.id, finished(1));
    const text = `nightly-etl run ${failed.name} is Failed: disk full <${server.url}/runs/${failed.id}>`;
    expect(hooks.to("/services/T000/B000/slack-token-1")).toEqual([
      { path: "/services/T000/B000/slack-token-1", body: { text } },
    ]);
    expect(delivered).toMatchObject({
      status: "COMPLETED",
      resolved: { type: "slack", secret: "slack-url", text },
      attempts: [{ attempt: 1, ok: true, statusCode: 200, response: "ok", error: null }],
    });
    expect((await api().listActionRuns({ query: { automationId: alert.id } })).items).toHaveLength(1);
  });

  it("lists stored events by name prefix, resource and time, newest first, task runs with their flow run", async () => {
    const failed = await run("listed", {}, { type: "FAILED" });
    await api().recordTaskRuns({
      body: [
        {
          id: crypto.randomUUID(),
          flowRunId: failed.id,
          name: "extract",
          taskKey: "extract",
          dynamicKey: "0",
          tags: ["db"],
          retries: 0,
          retryDelaySeconds: [],
          timeoutSeconds: null,
          runCount: 1,
          states: [{ type: "COMPLETED", name: "Completed", timestamp: new Date().toISOString() }],
        },
      ],
    });
    const page = await api().listEvents({ query: { resourceId: failed.id, name: "flow-run.", limit: 2 } });
    expect(page.items.map((event) => (event.payload.state as State).name)).toEqual(["Failed", "Running"]);
    expect(page.nextOffset).toBe(2);
    expect(page.items[0]).toMatchObject({
      name: "flow-run.state-changed",
      resource: { kind: "flow-run", id: failed.id },
      flowRunId: failed.id,
      related: { flowRunName: failed.name, flowName: "listed", deploymentName: null, tags: [] },
      payload: { previousType: "RUNNING" },
    });
    const tasks = await api().listEvents({ query: { name: "task-run.", since: failed.created } });
    expect(tasks.items.find((event) => event.flowRunId === failed.id)).toMatchObject({
      related: { flowRunName: failed.name, flowName: "listed", tags: ["db"] },
    });
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await api().listEvents({ query: { since: future } })).items).toEqual([]);
  });

  it("delivers a webhook that answers 500 twice exactly once, with three attempts and the URL masked", async () => {
    const path = "/hooks/webhook-token-2";
    hooks.answer(path, [500, 500]);
    await secret("hook-url", path);
    const hook = await automation({
      name: "deployment changes to a webhook",
      trigger: { events: ["deployment.updated"], deployments: ["hooked/daily"] },
      actions: [
        {
          type: "webhook",
          secret: "hook-url",
          body: { summary: "{{ deployment.full_name }} changed", n: 1 },
        },
      ],
    });
    await api().createDeployment({ body: { name: "daily", flowName: "hooked" } });

    const [delivered] = await actionRunsOf(server.client, hook.id, finished(1));
    expect(delivered!.status).toBe("COMPLETED");
    expect(delivered!.attempts.map((attempt) => [attempt.statusCode, attempt.response])).toEqual([
      [500, "no luck with ***"],
      [500, "no luck with ***"],
      [200, "ok"],
    ]);
    const body = { summary: "hooked/daily changed", n: 1 };
    expect(hooks.to(path).map((request) => request.body)).toEqual([body, body, body]);
  });

  it("fails for good on a 4xx answer, tries again after a refused connection, and masks the URL in both", async () => {
    hooks.answer("/hooks/gone-token-3", [404]);
    await secret("gone-url", "/hooks/gone-token-3");
    secrets.set("closed-url", "http://127.0.0.1:1/hooks/closed-token-4");
    await api().setSecret({ body: { name: "closed-url", value: secrets.get("closed-url")! } });
    const broken = await automation({
      name: "broken endpoints",
      trigger: { events: ["work-pool.updated"], workPools: ["broken-pool"] },
      actions: [
        { type: "webhook", secret: "gone-url" },
        { type: "webhook", secret: "closed-url" },
        { type: "slack", secret: "no-such-secret" },
      ],
    });
    await api().createWorkPool({ body: { name: "broken-pool" } });

    const [gone, closed, missing] = await actionRunsOf(server.client, broken.id, finished(3));
    expect(gone).toMatchObject({
      status: "FAILED",
      attempts: [{ statusCode: 404, response: "no luck with ***" }],
    });
    expect(closed!.status).toBe("FAILED");
    expect(closed!.attempts).toHaveLength(FAST.actionMaxAttempts);
    expect(closed!.attempts[0]!.error).toMatch(/^fetch failed: /);
    expect(missing).toMatchObject({
      status: "FAILED",
      attempts: [
        { error: "secret 'no-such-secret' does not exist: set it with 'baton secret set no-such-secret'" },
      ],
    });
    // The default body: the template values of the event.
    expect(hooks.to("/hooks/gone-token-3")[0]?.body).toMatchObject({
      automation: { name: "broken endpoints" },
      event: { name: "work-pool.updated" },
      work_pool: { name: "broken-pool" },
      flow_run: null,
    });
  });

  it("runs a deployment, pauses a deployment and a work pool, and cancels a flow run", async () => {
    await api().createWorkPool({ body: { name: "guarded-pool" } });
    const main = await api().createDeployment({
      body: { name: "main", flowName: "guarded", workPoolName: "guarded-pool" },
    });
    const cleanup = await api().createDeployment({ body: { name: "cleanup", flowName: "guarded" } });
    const guard = await automation({
      name: "contain failures",
      trigger: { events: ["flow-run.state-changed"], deployments: ["guarded/main"], stateTypes: ["FAILED"] },
      actions: [
        { type: "pause-deployment" },
        { type: "pause-work-pool" },
        { type: "run-deployment", deployment: "guarded/cleanup", parameters: { reason: "main failed" } },
      ],
    });
    const stopper = await automation({
      name: "no runaways",
      trigger: { events: ["flow-run.state-changed"], flows: ["runaway"], stateNames: ["Running"] },
      actions: [{ type: "cancel-flow-run" }],
    });

    const failing = await api().createDeploymentRun({ params: { id: main.id }, body: {} });
    for (const type of ["PENDING", "RUNNING", "FAILED"] as const) {
      await api().setFlowRunState({ params: { id: failing.id }, body: { state: { type } } });
    }
    const runaway = await run("runaway", {});

    const guarded = await actionRunsOf(server.client, guard.id, finished(3));
    expect(guarded.map((action) => [action.status, action.resolved])).toEqual([
      ["COMPLETED", { type: "pause-deployment", deployment: "guarded/main" }],
      ["COMPLETED", { type: "pause-work-pool", workPool: "guarded-pool" }],
      [
        "COMPLETED",
        { type: "run-deployment", deployment: "guarded/cleanup", parameters: { reason: "main failed" } },
      ],
    ]);
    expect((await api().readDeployment({ params: { id: main.id } })).paused).toBe(true);
    expect((await api().readWorkPool({ params: { name: "guarded-pool" } })).paused).toBe(true);
    const cleanups = await api().listFlowRuns({ query: { deploymentId: cleanup.id } });
    expect(cleanups.items.map((flowRun) => flowRun.parameters)).toEqual([{ reason: "main failed" }]);

    const [cancel] = await actionRunsOf(server.client, stopper.id, finished(1));
    expect(cancel).toMatchObject({ status: "COMPLETED", resolved: { flowRunId: runaway.id } });
    const cancelled = await api().readFlowRun({ params: { id: runaway.id } });
    expect(cancelled.state).toMatchObject({
      type: "CANCELLING",
      message: "Cancelled by automation 'no runaways'",
    });
  });

  it("fires a reactive trigger on every third failure within its window", async () => {
    const flaky = await automation({
      name: "flaky",
      trigger: {
        events: ["flow-run.state-changed"],
        flows: ["flaky"],
        stateTypes: ["FAILED"],
        threshold: 3,
        withinSeconds: 3600,
      },
      actions: [{ type: "test-sink" }],
    });
    const failures = [];
    for (let i = 0; i < 3; i++)
      failures.push(await run("flaky", {}, { type: "FAILED", message: `try ${i}` }));
    const [first] = await actionRunsOf(server.client, flaky.id, finished(1));
    // The third failure fired it; the test sink records the default message, link included.
    expect(first!.resolved.text).toBe(
      `Baton automation 'flaky': flow run '${failures[2]!.name}' (flow 'flaky') is Failed: try 2 ${server.url}/runs/${failures[2]!.id}`,
    );
    for (let i = 3; i < 6; i++) await run("flaky", {}, { type: "FAILED" });
    const both = await actionRunsOf(server.client, flaky.id, finished(2));
    expect(both).toHaveLength(2);
  });

  it("fires a proactive trigger when no completed run of a deployment comes within its window", async () => {
    const quiet = await automation({
      name: "quiet deployment",
      trigger: {
        events: ["flow-run.state-changed"],
        deployments: ["quiet/hourly"],
        stateTypes: ["COMPLETED"],
        posture: "proactive",
        withinSeconds: 0.2,
      },
      actions: [
        { type: "test-sink", text: "No completed run of quiet/hourly in {{ trigger.within_seconds }} s" },
      ],
    });
    const [fired] = await actionRunsOf(server.client, quiet.id, finished(1));
    await api().updateAutomation({ params: { id: quiet.id }, body: { enabled: false } });
    expect(fired).toMatchObject({
      status: "COMPLETED",
      eventId: null,
      resolved: { type: "test-sink", text: "No completed run of quiet/hourly in 0.2 s" },
      context: { event: null, flow_run: null, trigger: { posture: "proactive" } },
    });
  });

  it("announces a worker going offline once, and again when it goes offline after coming back", async () => {
    await api().createWorkPool({ body: { name: "heartbeat-pool" } });
    const offline = await automation({
      name: "worker offline",
      trigger: { events: ["worker.offline"], workPools: ["heartbeat-pool"] },
      actions: [{ type: "test-sink", text: "{{ work_pool.name }} lost a worker" }],
    });
    const beat = () =>
      api().heartbeatWorker({
        params: { pool: "heartbeat-pool" },
        body: { name: "w1", heartbeatIntervalSeconds: 0.05 },
      });
    const worker = await beat();
    const [first] = await actionRunsOf(server.client, offline.id, finished(1));
    expect(first!.resolved.text).toBe("heartbeat-pool lost a worker");
    await beat();
    await actionRunsOf(server.client, offline.id, finished(2));
    const events = await api().listEvents({ query: { name: "worker.offline", resourceId: worker.id } });
    expect(events.items.map((event) => event.related.workPoolName)).toEqual([
      "heartbeat-pool",
      "heartbeat-pool",
    ]);
  });

  it("leaves alone an automation stored before triggers had a schema, and keeps matching the others", async () => {
    const now = new Date().toISOString();
    await server.ctx.db.kysely
      .insertInto("automations")
      .values({
        id: crypto.randomUUID(),
        name: "from an older version",
        description: null,
        enabled: 1,
        trigger: JSON.stringify({ event: "flow-run.state-changed" }),
        actions: JSON.stringify([{ type: "email" }]),
        windowStart: now,
        windowCount: 0,
        created: now,
        updated: now,
      })
      .execute();
    const current = await automation({
      name: "current",
      trigger: { events: ["flow-run.state-changed"], flows: ["after-legacy"], stateTypes: ["COMPLETED"] },
      actions: [{ type: "test-sink" }],
    });
    await run("after-legacy", {}, { type: "COMPLETED" });
    expect(await actionRunsOf(server.client, current.id, finished(1))).toMatchObject([
      { status: "COMPLETED" },
    ]);
  });

  it("refuses triggers and actions that cannot work, naming the field", async () => {
    const refused = (body: unknown) =>
      api()
        .createAutomation({ body: body as AutomationCreate })
        .then(
          () => "created",
          (error: Error) => error.message,
        );
    const base = { name: "bad", actions: [{ type: "test-sink" }] };
    expect(
      await refused({ ...base, trigger: { events: ["flow-run.state-changed"], posture: "proactive" } }),
    ).toMatch(/trigger\.withinSeconds: a proactive trigger needs withinSeconds/);
    expect(await refused({ ...base, trigger: { events: ["flow-run.failed"] } })).toMatch(
      /trigger\.events\.0/,
    );
    expect(
      await refused({ ...base, trigger: { events: ["deployment.updated"] }, actions: [{ type: "email" }] }),
    ).toMatch(/actions\.0/);
  });

  it("keeps what a PATCH leaves out: a paused automation stays paused and keeps counting its window", async () => {
    const paused = await automation({
      name: "paused on purpose",
      description: "left alone",
      enabled: false,
      trigger: { events: ["deployment.updated"] },
      actions: [{ type: "test-sink" }],
    });
    const windowOf = async () =>
      (
        await server.ctx.db.kysely
          .selectFrom("automations")
          .select("windowStart")
          .where("id", "=", paused.id)
          .executeTakeFirstOrThrow()
      ).windowStart;
    const before = await windowOf();
    const renamed = await api().updateAutomation({
      params: { id: paused.id },
      body: { name: "still paused" },
    });
    expect(renamed).toMatchObject({
      name: "still paused",
      description: "left alone",
      enabled: false,
      trigger: { events: ["deployment.updated"], posture: "reactive", threshold: 1 },
      actions: [{ type: "test-sink" }],
    });
    // Neither paused nor resumed: the window it counts in is not started again.
    expect(await windowOf()).toBe(before);
    expect(await api().readAutomation({ params: { id: paused.id } })).toMatchObject({ enabled: false });
    const resumed = await api().updateAutomation({ params: { id: paused.id }, body: { enabled: true } });
    expect(resumed).toMatchObject({ name: "still paused", description: "left alone", enabled: true });
    await api().deleteAutomation({ params: { id: paused.id } });
  });

  it("never shows a secret's value in an API answer or a log line", async () => {
    const answers = JSON.stringify([
      await api().listSecrets(),
      await Promise.all([...secrets.keys()].map((name) => api().readSecret({ params: { name } }))),
      await api().listAutomations(),
      await api().listActionRuns({ query: { limit: 1000 } }),
      await api().listEvents({ query: { limit: 1000 } }),
    ]);
    expect(secrets.size).toBeGreaterThan(3);
    expect(logs.length).toBeGreaterThan(10);
    for (const value of secrets.values()) {
      const token = value.slice(value.lastIndexOf("/") + 1);
      expect(answers).not.toContain(token);
      expect(logs.filter((line) => line.includes(token))).toEqual([]);
    }
  });

  it("deletes events and finished action runs past their retention, keeping pending action runs", async () => {
    const before = await api().listEvents({ query: { limit: 1000 } });
    expect(before.items.length).toBeGreaterThan(10);
    const pending = await api().listActionRuns({ query: { status: ["PENDING"] } });
    const retention = eventRetentionService(server.ctx, { ...server.settings, eventRetentionDays: 1 });
    // Two days from now, everything stored so far is a day past its retention.
    await retention.runOnce(new Date(Date.now() + 2 * 86_400_000));
    const kept = new Set((await api().listEvents({ query: { limit: 1000 } })).items.map((event) => event.id));
    expect(before.items.filter((event) => kept.has(event.id))).toEqual([]);
    expect((await api().listActionRuns({ query: { status: ["COMPLETED", "FAILED"] } })).items).toEqual([]);
    expect((await api().listActionRuns({ query: { status: ["PENDING"] } })).items.length).toBe(
      pending.items.length,
    );
  });
});

describe.each(DIALECTS)("automations across a restart on %s", (dialect: TestDialect) => {
  const hooks = new Hooks();
  beforeAll(() => hooks.start());
  afterAll(() => hooks.stop());

  it("delivers an event that a server without services recorded, once the next server starts", async () => {
    const database = await throwawayDatabase(dialect);
    try {
      const first = await startTestServer(dialect, { ...FAST, services: false }, database);
      await first.client.api.setSecret({
        body: { name: "slack", value: hooks.url("/restart/slack-token-5") },
      });
      const alert = await first.client.api.createAutomation({
        body: {
          name: "restart",
          trigger: { events: ["flow-run.state-changed"], stateTypes: ["CRASHED"] },
          actions: [{ type: "slack", secret: "slack", text: "{{ flow_run.name }} {{ state.name }}" }],
        },
      });
      const crashed = await first.client.api.createFlowRun({ body: { flowName: "restarted" } });
      await first.client.api.setFlowRunState({
        params: { id: crashed.id },
        body: { state: { type: "CRASHED" } },
      });
      const [event] = (await first.client.api.listEvents({ query: { resourceId: crashed.id } })).items;
      expect(event?.payload.state).toMatchObject({ type: "CRASHED" });
      await first.stop();

      const second = await startTestServer(dialect, FAST, database);
      try {
        const [delivered] = await actionRunsOf(second.client, alert.id, finished(1));
        expect(delivered).toMatchObject({ status: "COMPLETED", eventId: event!.id });
        expect(hooks.to("/restart/slack-token-5").map((request) => request.body)).toEqual([
          { text: `${crashed.name} Crashed` },
        ]);
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
    }
  });

  it("delivers an action that was still failing when its server stopped, after the restart", async () => {
    const database = await throwawayDatabase(dialect);
    const path = "/restart/hook-token-6";
    hooks.answer(path, Array<number>(1000).fill(503));
    try {
      // Many attempts: this server must not give up before it is stopped.
      const first = await startTestServer(dialect, { ...FAST, actionMaxAttempts: 1000 }, database);
      await first.client.api.setSecret({ body: { name: "hook", value: hooks.url(path) } });
      const hook = await first.client.api.createAutomation({
        body: {
          name: "restart",
          trigger: { events: ["work-pool.updated"] },
          actions: [{ type: "webhook", secret: "hook" }],
        },
      });
      await first.client.api.createWorkPool({ body: { name: "restarted" } });
      await actionRunsOf(first.client, hook.id, (runs) => (runs[0]?.attempts.length ?? 0) > 0);
      await first.stop();
      hooks.answer(path, []);

      const second = await startTestServer(dialect, FAST, database);
      try {
        const [delivered] = await actionRunsOf(second.client, hook.id, finished(1));
        expect(delivered!.status).toBe("COMPLETED");
        const codes = delivered!.attempts.map((attempt) => attempt.statusCode);
        expect(codes.at(-1)).toBe(200);
        expect(codes.slice(0, -1).every((code) => code === 503)).toBe(true);
        expect(hooks.to(path).length).toBe(codes.length);
      } finally {
        await second.stop();
      }
    } finally {
      await database.drop();
    }
  });
});
