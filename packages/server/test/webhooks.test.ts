/**
 * Incoming webhooks: `/hooks/<slug>` turns an external HTTP request into an event by the webhook's
 * template, without the API key but with the webhook's token when it has one; a disabled, deleted or
 * unknown webhook answers 404. An automation triggered by the event runs a deployment with
 * parameters taken from the event's payload.
 */
import { request as httpRequest } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Webhook } from "@baton/core";
import { DIALECTS, startTestServer, type TestDialect, type TestServer } from "../../../test/helpers.js";
import { actionRunsOf, finishedActionRuns } from "../../../test/runs.js";

const TOKEN = "s3cret-token-0123456789";
const API_KEY = "the-api-key-0123456789";

interface Answer {
  status: number;
  contentType: string;
  body: { detail?: string; [key: string]: unknown } | null;
}

async function answerOf(response: Response): Promise<Answer> {
  const text = await response.text();
  let body: Answer["body"] = null;
  try {
    body = text ? (JSON.parse(text) as Answer["body"]) : null;
  } catch {
    body = { text };
  }
  return { status: response.status, contentType: response.headers.get("content-type") ?? "", body };
}

/** A POST with the request target exactly as written (fetch would resolve dot segments first). */
function rawPost(origin: string, target: string, body: string): Promise<number> {
  const { hostname, port } = new URL(origin);
  return new Promise((resolve, reject) => {
    const request = httpRequest(
      { hostname, port, method: "POST", path: target, headers: { "content-type": "application/json" } },
      (response) => {
        response.resume();
        response.on("end", () => resolve(response.statusCode ?? 0));
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

describe.each(DIALECTS)("incoming webhooks on %s", (dialect: TestDialect) => {
  let server: TestServer;
  /** The server's origin: hooks are served outside /api. */
  let origin: string;
  beforeAll(async () => {
    server = await startTestServer(dialect, {
      apiKey: API_KEY,
      serviceLoopSeconds: 0.1,
      actionRetrySeconds: 0.05,
    });
    origin = new URL(server.apiUrl).origin;
  });
  afterAll(async () => {
    await server?.stop();
  });
  const api = () => server.client.api;

  /** A request from an external system: no API key, no Baton client header. */
  const hook = (webhook: Webhook | string, init: RequestInit = {}, query = "") =>
    fetch(`${origin}${typeof webhook === "string" ? webhook : webhook.path}${query}`, init).then(answerOf);
  const json = (body: unknown, headers: Record<string, string> = {}): RequestInit => ({
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

  it("is created with an unguessable URL, listed, changed and deleted; the token is never shown", async () => {
    const created = await api().createWebhook({
      body: { name: "crud", template: { event: "crud.called" }, token: TOKEN, description: "for tests" },
    });
    expect(created).toMatchObject({ name: "crud", enabled: true, hasToken: true, description: "for tests" });
    expect(created.slug).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(created.path).toBe(`/hooks/${created.slug}`);
    expect(JSON.stringify(created)).not.toContain(TOKEN);
    expect((await api().listWebhooks()).items.map((webhook) => webhook.name)).toContain("crud");

    const disabled = await api().updateWebhook({ params: { name: "crud" }, body: { enabled: false } });
    expect(disabled).toMatchObject({ enabled: false, hasToken: true, description: "for tests" });
    const open = await api().updateWebhook({
      params: { name: "crud" },
      body: { token: null, newSlug: true },
    });
    expect(open).toMatchObject({ enabled: false, hasToken: false });
    expect(open.slug).not.toBe(created.slug);
    await api().deleteWebhook({ params: { name: "crud" } });
    expect((await hook(open.path, json({}))).status).toBe(404);
  });

  it("refuses a taken name, a short token and a template naming one of Baton's events", async () => {
    await api().createWebhook({ body: { name: "taken", template: { event: "x.y" } } });
    const post = (body: unknown) =>
      fetch(`${server.apiUrl}/webhooks`, {
        ...json(body, { authorization: `Bearer ${API_KEY}` }),
      }).then(answerOf);
    expect((await post({ name: "taken", template: { event: "x.y" } })).status).toBe(409);
    const short = await post({ name: "short", template: { event: "x.y" }, token: "abc" });
    expect(short.status).toBe(400);
    expect(short.body?.detail).toContain("16 characters at least");
    const reserved = await post({ name: "reserved", template: { event: "flow-run.state-changed" } });
    expect(reserved.status).toBe(400);
    expect(reserved.body?.detail).toContain("is Baton's own");
    const unknown = await post({ name: "odd", template: { event: "x.y", extra: 1 } });
    expect(unknown.status).toBe(400);
    expect(unknown.body?.detail).toContain("'extra'");
  });

  it("turns a JSON request into an event by its template and runs a deployment with its values", async () => {
    const deployment = await api().createDeployment({ body: { name: "build", flowName: "builder" } });
    const automation = await api().createAutomation({
      body: {
        name: "build on push",
        trigger: { events: ["github.push"] },
        actions: [
          {
            type: "run-deployment",
            deployment: "builder/build",
            parameters: { ref: "{{ event.payload.ref }}", commits: "{{ event.payload.commits }}" },
          },
        ],
      },
    });
    const webhook = await api().createWebhook({
      body: {
        name: "github",
        token: TOKEN,
        template: {
          event: "github.{{ headers.x-github-event }}",
          resource: { kind: "repository", id: "{{ body.repository.full_name }}" },
          payload: {
            ref: "{{ body.ref }}",
            commits: "{{ body.commits }}",
            delivery: "{{ headers.x-github-delivery }}",
            headers: "{{ headers }}",
            source: "{{ query.source }}",
            method: "{{ method }}",
          },
        },
      },
    });
    const push = {
      ref: "refs/heads/main",
      commits: [{ id: "abc", message: "fix" }],
      repository: { full_name: "acme/app" },
    };
    const answer = await hook(
      webhook,
      json(push, {
        authorization: `Bearer ${TOKEN}`,
        "x-github-event": "push",
        "X-GitHub-Delivery": "d-1",
      }),
      "?source=github",
    );
    expect(answer.status).toBe(202);
    expect(answer.body).toMatchObject({ event: "github.push" });
    const [event] = (await api().listEvents({ query: { name: "github." } })).items;
    expect(event).toMatchObject({
      id: answer.body?.id,
      name: "github.push",
      resource: { kind: "repository", id: "acme/app" },
      payload: {
        ref: "refs/heads/main",
        commits: [{ id: "abc", message: "fix" }],
        delivery: "d-1",
        source: "github",
        method: "POST",
      },
    });
    // The headers the template sees are lower-cased and hold no credential.
    const headers = event!.payload.headers as Record<string, string>;
    expect(headers["x-github-event"]).toBe("push");
    expect(headers.authorization).toBeUndefined();
    expect(JSON.stringify(event)).not.toContain(TOKEN);

    const [run] = await actionRunsOf(server.client, automation.id, finishedActionRuns(1));
    expect(run).toMatchObject({ status: "COMPLETED", eventId: event!.id });
    const flowRuns = await api().listFlowRuns({ query: { deploymentId: deployment.id } });
    expect(flowRuns.items.map((flowRun) => flowRun.parameters)).toEqual([
      { ref: "refs/heads/main", commits: [{ id: "abc", message: "fix" }] },
    ]);
  });

  it("takes the token in its own header, and answers 401 without one and 403 for a wrong one", async () => {
    const webhook = await api().createWebhook({
      body: { name: "guarded", template: { event: "guarded.called" }, token: TOKEN },
    });
    const before = (await api().listEvents({ query: { name: "guarded." } })).items.length;
    const missing = await hook(webhook, json({}));
    expect(missing.status).toBe(401);
    expect(missing.contentType).toMatch(/^application\/problem\+json/);
    expect(missing.body?.detail).toContain("x-baton-webhook-token");
    // The API key is not the webhook's token.
    expect((await hook(webhook, json({}, { authorization: `Bearer ${API_KEY}` }))).status).toBe(403);
    expect(
      (await hook(webhook, json({}, { "x-baton-webhook-token": "wrong-token-0123456789" }))).status,
    ).toBe(403);
    expect((await api().listEvents({ query: { name: "guarded." } })).items).toHaveLength(before);
    const ok = await hook(webhook, json({ a: 1 }, { "x-baton-webhook-token": TOKEN }));
    expect(ok.status).toBe(202);
    const [event] = (await api().listEvents({ query: { name: "guarded." } })).items;
    // A template without a payload keeps the body; without a resource, the event is the webhook's.
    expect(event).toMatchObject({
      payload: { body: { a: 1 } },
      resource: { kind: "webhook", id: "guarded" },
    });
  });

  it("takes forms, text and bodiless requests, and refuses other media types", async () => {
    const webhook = await api().createWebhook({
      body: {
        name: "anything",
        template: {
          event: "anything.received",
          payload: { body: "{{ body }}", method: "{{ method }}", q: "{{ query.q }}" },
        },
      },
    });
    const send = async (init: RequestInit, query = "") => {
      const answer = await hook(webhook, init, query);
      expect(answer.status).toBe(202);
      return (await api().listEvents({ query: { resourceId: "anything", limit: 1 } })).items[0]!.payload;
    };
    expect(
      await send({
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "a=1&b=two&b=three",
      }),
    ).toEqual({ body: { a: "1", b: ["two", "three"] }, method: "POST", q: null });
    expect(await send({ method: "PUT", headers: { "content-type": "text/plain" }, body: "hello" })).toEqual({
      body: "hello",
      method: "PUT",
      q: null,
    });
    expect(await send({ method: "GET" }, "?q=1")).toEqual({ body: null, method: "GET", q: "1" });
    // A HEAD (a link checker) makes no event.
    const events = (await api().listEvents({ query: { resourceId: "anything" } })).items.length;
    expect((await hook(webhook, { method: "HEAD" })).status).toBe(404);
    expect((await api().listEvents({ query: { resourceId: "anything" } })).items).toHaveLength(events);
    const xml = await hook(webhook, {
      method: "POST",
      headers: { "content-type": "application/octet-stream" },
      body: "<a/>",
    });
    expect(xml.status).toBe(415);
    expect(xml.contentType).toMatch(/^application\/problem\+json/);
  });

  it("refuses, with a 4xx naming why, a request its template makes no valid event of", async () => {
    const webhook = await api().createWebhook({
      body: { name: "shaky", template: { event: "shaky.{{ body.kind }}", payload: "{{ body.data }}" } },
    });
    const before = (await api().listEvents({ query: { resourceId: "shaky" } })).items.length;
    const badName = await hook(webhook, json({ kind: "Bad Kind", data: {} }));
    expect(badName.status).toBe(400);
    expect(badName.body?.detail).toContain("webhook 'shaky' made no valid event");
    expect(badName.body?.detail).toContain("lowercase words");
    const badPayload = await hook(webhook, json({ kind: "ok", data: [1] }));
    expect(badPayload.status).toBe(400);
    expect(badPayload.body?.detail).toContain("payload");
    const big = await hook(webhook, json({ kind: "ok", data: { blob: "x".repeat(300 * 1024) } }));
    expect(big.status).toBe(413);
    expect(big.body?.detail).toContain("BATON_MAX_EVENT_PAYLOAD_BYTES");
    const huge = await hook(webhook, json({ kind: "ok", data: { blob: "x".repeat(2 * 1024 * 1024) } }));
    expect(huge.status).toBe(413);
    const deep = await hook(webhook, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"kind":"ok","data":{"a":${"[".repeat(100)}${"]".repeat(100)}}}`,
    });
    expect(deep.status).toBe(400);
    expect(deep.body?.detail).toContain("deeper than 64 levels");
    // A NUL reaches the event's resource only through a form or text (JSON bodies are checked whole).
    const nul = await api().createWebhook({
      body: { name: "nul", template: { event: "nul.sent", resource: { kind: "form", id: "{{ body.id }}" } } },
    });
    const form = await hook(nul, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "id=a%00b",
    });
    expect(form.status).toBe(400);
    expect(form.body?.detail).toContain("NUL character");
    expect((await api().listEvents({ query: { resourceId: "shaky" } })).items).toHaveLength(before);
    expect((await hook(webhook, json({ kind: "ok", data: { n: 1 } }))).status).toBe(202);
    const [event] = (await api().listEvents({ query: { resourceId: "shaky", limit: 1 } })).items;
    expect(event).toMatchObject({ name: "shaky.ok", payload: { n: 1 } });
  });

  it("answers 404 alike for a disabled webhook and one that does not exist", async () => {
    const webhook = await api().createWebhook({
      body: { name: "sleepy", enabled: false, template: { event: "sleepy.called" } },
    });
    const disabled = await hook(webhook, json({}));
    const unknown = await hook("/hooks/no-such-slug-0123456789ab", json({}));
    expect([disabled.status, unknown.status]).toEqual([404, 404]);
    expect(disabled.contentType).toMatch(/^application\/problem\+json/);
    expect(disabled.body?.detail).toBe(`no webhook at ${webhook.path}`);
    expect(unknown.body?.detail).toBe("no webhook at /hooks/no-such-slug-0123456789ab");
    await api().updateWebhook({ params: { name: "sleepy" }, body: { enabled: true } });
    expect((await hook(webhook, json({}))).status).toBe(202);
  });

  it("opens no way around the API key for /api routes", async () => {
    const webhook = await api().createWebhook({ body: { name: "door", template: { event: "door.opened" } } });
    for (const path of [
      "/api/events",
      "/%61pi/events",
      "/hooks/../api/events",
      "/hooks/%2e%2e/api/events",
      "/hooks/..%2fapi%2fevents",
      `/api/../hooks/${webhook.slug}/../../api/events`,
      `/hooks/${webhook.slug}/../../api/events`,
      "//api/events",
    ]) {
      const status = await rawPost(origin, path, JSON.stringify({ event: "sneaky.event" }));
      expect([path, status]).toEqual([
        path,
        expect.toSatisfy((code: number) => code === 401 || code === 404),
      ]);
    }
    expect((await api().listEvents({ query: { name: "sneaky." } })).items).toEqual([]);
    // The hook itself needs no API key, spelled plainly or percent-encoded.
    expect((await hook(webhook, json({}))).status).toBe(202);
    expect((await hook(`/%68ooks/${webhook.slug}`, json({}))).status).toBe(202);
  });
});
