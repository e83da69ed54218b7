// OpenTelemetry traces: a real server exports over OTLP/HTTP (JSON) to a receiver started here the
// spans of a flow run with tasks and subflows, of a deployment's run carried through the API, and of
// its HTTP requests, with their parent/child structure and attributes; with no endpoint set, nothing
// of it is set up.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { flow, task } from "@baton/sdk";
import { serverSettings } from "@baton/server";
import { DIALECTS, startTestServer, type TestServer } from "./helpers.js";

/** An OTLP attribute's value as JSON carries it. */
interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  boolValue?: boolean;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
}
type KeyValues = { key: string; value: AnyValue }[] | undefined;

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  name: string;
  kind: number;
  start: bigint;
  end: bigint;
  status: { code?: number; message?: string };
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  resource: Record<string, unknown>;
}

const valueOf = (value: AnyValue): unknown =>
  value.stringValue ??
  (value.intValue !== undefined ? Number(value.intValue) : undefined) ??
  value.boolValue ??
  value.doubleValue ??
  value.arrayValue?.values?.map(valueOf);

const attributesOf = (list: KeyValues): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]));

/** A plain OTLP/HTTP receiver: POST /v1/traces with a JSON ExportTraceServiceRequest. */
async function startReceiver(
  answer = 200,
): Promise<{ url: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.method !== "POST" || request.url !== "/v1/traces") {
        response.writeHead(404).end();
        return;
      }
      if (request.headers["content-type"] !== "application/json") {
        response.writeHead(415).end();
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans: {
          resource: { attributes: KeyValues };
          scopeSpans: {
            spans: {
              traceId: string;
              spanId: string;
              parentSpanId?: string;
              name: string;
              kind: number;
              startTimeUnixNano: string;
              endTimeUnixNano: string;
              status?: { code?: number; message?: string };
              attributes: KeyValues;
              events?: { name: string; attributes: KeyValues }[];
            }[];
          }[];
        }[];
      };
      for (const { resource, scopeSpans } of body.resourceSpans) {
        for (const span of scopeSpans.flatMap((scope) => scope.spans)) {
          spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            start: BigInt(span.startTimeUnixNano),
            end: BigInt(span.endTimeUnixNano),
            status: span.status ?? {},
            attributes: attributesOf(span.attributes),
            events: (span.events ?? []).map((event) => ({
              name: event.name,
              attributes: attributesOf(event.attributes),
            })),
            resource: attributesOf(resource.attributes),
          });
        }
      }
      response.writeHead(answer, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1/traces`,
    spans,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

const hex = (id: string) => id.replaceAll("-", "");
const CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN = "00f067aa0ba902b7";

describe.each(DIALECTS)("OpenTelemetry traces of a server on %s", (dialect) => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let server: TestServer | undefined;
  let spans: ReceivedSpan[];
  const ids = { parent: "", child: "", inner: "", flaky: "", callsInner: "", deployed: "", deployment: "" };

  const only = (predicate: (span: ReceivedSpan) => boolean, what: string): ReceivedSpan => {
    const found = spans.filter(predicate);
    expect(found, what).toHaveLength(1);
    return found[0]!;
  };
  const runSpan = (runId: string) => only((span) => span.attributes["baton.run.id"] === runId, runId);

  beforeAll(async () => {
    receiver = await startReceiver();
    server = await startTestServer(dialect, {
      tracesEndpoint: receiver.url,
      serviceName: "baton-under-test",
    });
    const api = server.client.api;
    process.env.BATON_API_URL = server.apiUrl;
    try {
      let flakyCalls = 0;
      const flaky = task({ name: "flaky", retries: 1, retryDelaySeconds: 0 }, async () => {
        if (flakyCalls++ === 0) throw new Error("the first try fails");
        return 1;
      });
      const inner = flow({ name: "traced-inner" }, async () => 2);
      const callsInner = task({ name: "calls-inner" }, async () => inner());
      const child = flow({ name: "traced-child" }, async () => 3);
      const parent = flow(
        { name: "traced-parent" },
        async () => (await flaky()) + (await child()) + (await callsInner()),
      );
      expect(await parent()).toBe(6);
    } finally {
      delete process.env.BATON_API_URL;
    }
    const [parentRun] = (await api.listFlowRuns({ query: { flowName: "traced-parent" } })).items;
    const [childRun] = (await api.listFlowRuns({ query: { flowName: "traced-child" } })).items;
    const [innerRun] = (await api.listFlowRuns({ query: { flowName: "traced-inner" } })).items;
    const tasks = (await api.listTaskRuns({ query: { flowRunId: parentRun!.id } })).items;
    Object.assign(ids, {
      parent: parentRun!.id,
      child: childRun!.id,
      inner: innerRun!.id,
      flaky: tasks.find((run) => run.taskKey === "flaky")!.id,
      callsInner: tasks.find((run) => run.taskKey === "calls-inner")!.id,
    });

    // A deployment's run, claimed and carried through the API as a worker would.
    await api.createWorkPool({ body: { name: "traced-pool", type: "process" } });
    const deployment = await api.createDeployment({
      body: { name: "nightly", flowName: "traced-deployed", workPoolName: "traced-pool" },
    });
    const deployed = await api.createDeploymentRun({ params: { id: deployment.id }, body: {} });
    await api.claimFlowRuns({
      body: { workerName: "w1", workPoolName: "traced-pool", limit: 1, waitSeconds: 0 },
    });
    await api.setFlowRunState({ params: { id: deployed.id }, body: { state: { type: "RUNNING" } } });
    await api.setFlowRunState({
      params: { id: deployed.id },
      body: { state: { type: "FAILED", message: "the job exited with 3" } },
    });
    Object.assign(ids, { deployed: deployed.id, deployment: deployment.id });

    // A request from a traced caller.
    const health = await fetch(`${server.apiUrl}/health`, {
      headers: { traceparent: `00-${CALLER_TRACE}-${CALLER_SPAN}-01` },
    });
    expect(health.status).toBe(200);

    // Closing exports what is left: every span has arrived once it returns.
    await server.stop();
    server = undefined;
    spans = receiver.spans;
  });
  afterAll(async () => {
    await server?.stop();
    await receiver?.close();
  });

  it("nests a flow run's task runs and subflow runs under it, in the trace named by the root run's id", () => {
    const parent = runSpan(ids.parent);
    const child = runSpan(ids.child);
    const inner = runSpan(ids.inner);
    const flaky = runSpan(ids.flaky);
    const callsInner = runSpan(ids.callsInner);
    for (const span of [parent, child, inner, flaky, callsInner]) expect(span.traceId).toBe(hex(ids.parent));
    expect(parent.parentSpanId).toBeUndefined();
    expect(parent.spanId).toBe(hex(ids.parent).slice(16));
    // Tasks under their flow run; a subflow called by the flow under it, one called by a task under the task.
    expect(flaky.parentSpanId).toBe(parent.spanId);
    expect(callsInner.parentSpanId).toBe(parent.spanId);
    expect(child.parentSpanId).toBe(parent.spanId);
    expect(inner.parentSpanId).toBe(callsInner.spanId);
    expect(new Set([parent, child, inner, flaky, callsInner].map((span) => span.spanId)).size).toBe(5);
    // Children run within their parents.
    for (const [outer, within] of [
      [parent, flaky],
      [parent, child],
      [callsInner, inner],
    ] as const) {
      expect(within.start >= outer.start && within.end <= outer.end).toBe(true);
    }
    expect([parent, child, inner, flaky, callsInner].map((span) => span.name).sort()).toEqual([
      "flow-run traced-child",
      "flow-run traced-inner",
      "flow-run traced-parent",
      "task-run calls-inner",
      "task-run flaky",
    ]);
  });

  it("tells each run's names, final state and retries, the state changes as events", () => {
    const parent = runSpan(ids.parent);
    expect(parent.resource).toMatchObject({ "service.name": "baton-under-test" });
    expect(parent.attributes).toMatchObject({
      "baton.run.kind": "flow-run",
      "baton.flow.name": "traced-parent",
      "baton.state.type": "COMPLETED",
      "baton.state.name": "Completed",
    });
    expect(parent.attributes["baton.deployment.id"]).toBeUndefined();
    expect(parent.status.code).toBe(1); // OK
    expect(parent.events.map((event) => event.name)).toEqual(["Pending", "Running", "Completed"]);

    const flaky = runSpan(ids.flaky);
    expect(flaky.attributes).toMatchObject({
      "baton.run.kind": "task-run",
      "baton.task.key": "flaky",
      "baton.flow.name": "traced-parent",
      "baton.flow_run.id": ids.parent,
      "baton.run.count": 2,
      "baton.run.retries": 1,
      "baton.state.type": "COMPLETED",
    });
    const retried = flaky.events.find((event) => event.name === "AwaitingRetry");
    expect(retried?.attributes).toMatchObject({ "baton.state.type": "SCHEDULED" });
    expect(String(retried?.attributes["baton.state.message"])).toContain("the first try fails");
    expect(flaky.events.map((event) => event.name)).toEqual([
      "Pending",
      "Running",
      "AwaitingRetry",
      "Pending",
      "Running",
      "Completed",
    ]);

    expect(runSpan(ids.inner).attributes).toMatchObject({
      "baton.parent_task_run.id": ids.callsInner,
      "baton.parent_flow_run.id": ids.parent,
    });
  });

  it("tells a deployment's run its deployment, work pool, attempt and failure", () => {
    const deployed = runSpan(ids.deployed);
    expect(deployed.traceId).toBe(hex(ids.deployed));
    expect(deployed.parentSpanId).toBeUndefined();
    expect(deployed.attributes).toMatchObject({
      "baton.flow.name": "traced-deployed",
      "baton.deployment.id": ids.deployment,
      "baton.deployment.name": "nightly",
      "baton.work_pool.name": "traced-pool",
      "baton.work_queue.name": "default",
      "baton.flow_run.attempt": 1,
      "baton.state.type": "FAILED",
      "baton.state.message": "the job exited with 3",
    });
    expect(deployed.status).toEqual({ code: 2, message: "the job exited with 3" }); // ERROR
    expect(deployed.events.map((event) => event.name)).toEqual(["Scheduled", "Pending", "Running", "Failed"]);
  });

  it("makes a span of each HTTP request by its route, a child of the caller's span when it sends one", () => {
    const health = only((span) => span.attributes["http.route"] === "/api/health", "the health request");
    expect(health).toMatchObject({
      name: "GET /api/health",
      kind: 2, // SERVER
      traceId: CALLER_TRACE,
      parentSpanId: CALLER_SPAN,
    });
    expect(health.attributes).toMatchObject({
      "http.request.method": "GET",
      "http.response.status_code": 200,
    });

    // Requests from an untraced caller start traces of their own.
    const states = spans.filter(
      (span) => span.attributes["url.path"] === `/api/flow-runs/${ids.deployed}/state`,
    );
    expect(
      states.map((span) => [span.name, span.attributes["http.response.status_code"], span.parentSpanId]),
    ).toEqual([
      ["POST /api/flow-runs/:id/state", 200, undefined],
      ["POST /api/flow-runs/:id/state", 200, undefined],
    ]);
    expect(new Set(states.map((span) => span.traceId)).size).toBe(2);
  });
});

describe("OpenTelemetry traces refused by the collector", () => {
  it("are told in the server's log, once", async () => {
    const receiver = await startReceiver(400);
    const lines: string[] = [];
    const server = await startTestServer("sqlite", {
      tracesEndpoint: receiver.url,
      logStream: { write: (line) => void lines.push(line) },
    });
    try {
      expect((await fetch(`${server.apiUrl}/health`)).status).toBe(200);
      expect((await fetch(`${server.apiUrl}/ready`)).status).toBe(200);
    } finally {
      // Closing sends the spans: the warning is logged once it returns.
      await server.stop();
      await receiver.close();
    }
    const warnings = lines
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .filter((line) => line.msg.includes("could not be sent"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toContain(`span(s) could not be sent to ${receiver.url}`);
    expect(receiver.spans.length).toBeGreaterThanOrEqual(2); // it read them, and refused them
  });
});

describe("OpenTelemetry traces off", () => {
  it("are on only when an OTLP endpoint is set, the traces one first", () => {
    expect(serverSettings({}, {}).tracesEndpoint).toBeUndefined();
    expect(serverSettings({}, { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }).tracesEndpoint).toBe(
      "http://collector:4318/v1/traces",
    );
    expect(
      serverSettings(
        {},
        {
          OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://traces:4318/custom",
        },
      ).tracesEndpoint,
    ).toBe("http://traces:4318/custom");
    expect(serverSettings({}, {}).serviceName).toBe("baton-server");
    expect(serverSettings({}, { OTEL_SERVICE_NAME: "baton-eu" }).serviceName).toBe("baton-eu");
  });

  it("set up nothing in a server without an endpoint", async () => {
    const server = await startTestServer("sqlite", { tracesEndpoint: undefined });
    try {
      expect(server.settings.tracesEndpoint).toBeUndefined();
      expect(server.traces).toBeNull();
      expect((await fetch(`${server.apiUrl}/health`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });
});
