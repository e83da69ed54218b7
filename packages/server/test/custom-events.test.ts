/**
 * Custom events: `POST /api/events` stores an event that is listed and streamed with Baton's own,
 * refuses bad bodies with a 4xx naming what is wrong, relates an event to the flow run it names, and
 * wakes automations that trigger on its name, whose run-deployment action takes its parameters from
 * the event's payload.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BatonEvent } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { actionRunsOf, finishedActionRuns } from "../../../test/runs.js";

const KiB = 1024;

interface Answer {
  status: number;
  contentType: string;
  body: { status?: number; detail?: string; [key: string]: unknown } | null;
}

/** The first event of the live stream that `matches`; the stream is open when this returns. */
export async function nextEvent(
  server: TestServer,
  names: string[],
  matches: (event: BatonEvent) => boolean = () => true,
): Promise<{ event: Promise<BatonEvent> }> {
  const controller = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  let found!: (event: BatonEvent) => void;
  const event = new Promise<BatonEvent>((resolve) => (found = resolve));
  const stream = server.client
    .events({ names, signal: controller.signal, onOpen: opened }, (seen) => {
      if (matches(seen)) found(seen);
    })
    .catch(() => undefined);
  await Promise.race([open, stream]);
  return {
    event: event.finally(() => {
      controller.abort();
      return stream;
    }),
  };
}

describe.each(DIALECTS)("custom events on %s", (dialect: TestDialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect, { serviceLoopSeconds: 0.1, actionRetrySeconds: 0.05 });
  });
  afterAll(async () => {
    await server?.stop();
  });
  const api = () => server.client.api;

  async function post(body: string | object): Promise<Answer> {
    const response = await fetch(`${server.apiUrl}/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });
    const text = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get("content-type") ?? "",
      body: text ? (JSON.parse(text) as Answer["body"]) : null,
    };
  }

  function expectProblem(answer: Answer, status: number, ...mentions: string[]): void {
    expect(answer.contentType).toMatch(/^application\/problem\+json/);
    expect(answer.status).toBe(status);
    for (const text of mentions) expect(answer.body?.detail).toContain(text);
  }

  it("stores an event that the listing and the stream show", async () => {
    const streamed = await nextEvent(server, ["shop.order-placed"]);
    const answer = await post({
      event: "shop.order-placed",
      resource: { kind: "order", id: "o-1" },
      payload: { total: 42, items: ["a", "b"] },
    });
    expect(answer.status).toBe(201);
    const stored = answer.body as unknown as BatonEvent;
    expect(stored).toMatchObject({
      name: "shop.order-placed",
      resource: { kind: "order", id: "o-1" },
      flowRunId: null,
      payload: { total: 42, items: ["a", "b"] },
    });
    expect(await streamed.event).toMatchObject({ id: stored.id, payload: { total: 42 } });
    const listed = await api().listEvents({ query: { name: "shop." } });
    expect(listed.items.map((event) => [event.id, event.name])).toEqual([[stored.id, "shop.order-placed"]]);
    expect((await api().listEvents({ query: { resourceId: "o-1" } })).items).toHaveLength(1);
  });

  it("takes the event's name as its resource when none is given", async () => {
    const event = await api().createEvent({ body: { event: "nightly.done" } });
    expect(event).toMatchObject({ resource: { kind: "event", id: "nightly.done" }, payload: {} });
  });

  it("relates an event to the flow run it names, and refuses one that does not exist", async () => {
    const run = await api().createFlowRun({ body: { flowName: "reporter", tags: ["finance"] } });
    const event = await api().createEvent({
      body: { event: "report.ready", flowRunId: run.id, payload: { pages: 3 } },
    });
    expect(event.related).toMatchObject({ flowRunName: run.name, flowName: "reporter", tags: ["finance"] });
    const missing = await post({ event: "report.ready", flowRunId: "01900000-0000-7000-8000-000000000001" });
    expectProblem(missing, 404, "flow run '01900000-0000-7000-8000-000000000001' does not exist");
  });

  it("refuses bad bodies with a 4xx naming what is wrong, and stores none of them", async () => {
    const before = (await api().listEvents({ query: { limit: 1000 } })).items.length;
    expectProblem(await post({ payload: {} }), 400, "body.event");
    expectProblem(await post({ event: "Not A Name" }), 400, "body.event", "lowercase words");
    expectProblem(await post({ event: "a".repeat(101) }), 400, "over the 100");
    expectProblem(
      await post({ event: "flow-run.state-changed", payload: {} }),
      400,
      "is Baton's own",
      "'flow-run.'",
    );
    expectProblem(await post({ event: "log" }), 400, "is Baton's own");
    expectProblem(await post({ event: "x.y", payload: [1] }), 400, "body.payload");
    expectProblem(await post({ event: "x.y", surprise: 1 }), 400, "'surprise'");
    expectProblem(
      await post({ event: "x.y", payload: { blob: "x".repeat(300 * KiB) } }),
      413,
      "body.payload",
      "BATON_MAX_EVENT_PAYLOAD_BYTES",
    );
    const deep = `{"event":"x.y","payload":{"a":${"[".repeat(100)}${"]".repeat(100)}}}`;
    expectProblem(await post(deep), 400, "deeper than 64 levels");
    expectProblem(await post("{not json"), 400);
    expect((await api().listEvents({ query: { limit: 1000 } })).items).toHaveLength(before);
  });

  it("fires automations triggered by a custom event, running a deployment with the payload's values", async () => {
    const deployment = await api().createDeployment({
      body: { name: "ship", flowName: "shipper", parameters: { carrier: "post" } },
    });
    const automation = await api().createAutomation({
      body: {
        name: "ship paid orders",
        trigger: { events: ["shop.order-paid"] },
        actions: [
          {
            type: "run-deployment",
            deployment: "shipper/ship",
            parameters: {
              order: "{{ event.payload.order_id }}",
              items: "{{ event.payload.items }}",
              note: "order {{ event.payload.order_id }} via {{ event.name }}",
            },
          },
        ],
      },
    });
    await api().createEvent({ body: { event: "shop.order-placed", payload: { order_id: 6 } } });
    const paid = await api().createEvent({
      body: { event: "shop.order-paid", payload: { order_id: 7, items: [{ sku: "a", count: 2 }] } },
    });
    const [run] = await actionRunsOf(server.client, automation.id, finishedActionRuns(1));
    expect(run).toMatchObject({ status: "COMPLETED", eventId: paid.id });
    const flowRuns = await api().listFlowRuns({ query: { deploymentId: deployment.id } });
    expect(flowRuns.items.map((flowRun) => flowRun.parameters)).toEqual([
      {
        carrier: "post",
        order: 7,
        items: [{ sku: "a", count: 2 }],
        note: "order 7 via shop.order-paid",
      },
    ]);
  });

  it("refuses automations on names that are neither Baton's stored events nor custom ones", async () => {
    const refuse = async (events: string[], mention: string) => {
      const response = await fetch(`${server.apiUrl}/automations`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          name: `on ${events[0]}`,
          trigger: { events },
          actions: [{ type: "test-sink" }],
        }),
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { detail: string }).detail).toContain(mention);
    };
    await refuse(["log"], "is Baton's own");
    await refuse(["flow-run.created"], "flow-run.state-changed");
    await refuse(["Bad Name"], "lowercase words");
  });
});
