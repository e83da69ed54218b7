/**
 * The HTTP edge. Every operation of the OpenAPI document is sent in each spelling that once slipped
 * past the API key (percent-encoded, absolute-form, doubled slash, other case, trailing dot or slash),
 * from a wrong Host, from a foreign Origin, and as an HTML form would send it: without the key (or
 * with a wrong one) never a 2xx; with it, the plain path's answer for every legitimate spelling and a
 * 4xx for the rest. Requests go through node:http, since fetch would normalize the request target.
 */
import { randomUUID } from "node:crypto";
import { request as httpRequest } from "node:http";
import { afterAll, describe, expect, it } from "vitest";
import Fastify from "fastify";
import { serverSettings } from "@baton/server";
import { installGuard, isApiPath } from "../src/api/guard.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

// ── Raw requests ─────────────────────────────────────────────────────────────
interface RawRequest {
  method: string;
  /** The request target exactly as sent: origin-form or absolute-form. */
  target: string;
  headers?: Record<string, string>;
  body?: string;
}
interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Sends one request as written; an event stream is answered by its status alone (it never ends). */
function send(port: number, raw: RawRequest): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const headers = { host: `127.0.0.1:${port}`, ...raw.headers };
    const request = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: raw.method,
        path: raw.target,
        headers,
        setHost: false,
        timeout: 10_000,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        if (String(response.headers["content-type"]).startsWith("text/event-stream")) {
          response.destroy();
          resolve({ status, headers: response.headers, text: "" });
          return;
        }
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolve({ status, headers: response.headers, text }));
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`${raw.method} ${raw.target}: no answer in 10 s`)));
    request.on("error", reject);
    request.end(raw.body);
  });
}

/** Runs the tasks at most `limit` at a time, keeping their order. */
async function bounded<T>(tasks: (() => Promise<T>)[], limit = 8): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  const lane = async () => {
    while (next < tasks.length) {
      const index = next++;
      results[index] = await (tasks[index] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
  return results;
}

const detailOf = (text: string) => (JSON.parse(text) as { detail?: string }).detail ?? "";
const is4xx = (status: number) => status >= 400 && status < 500;
const is2xx = (status: number) => status >= 200 && status < 300;

// ── The operations of the OpenAPI document ───────────────────────────────────
interface Parameter {
  name: string;
  in: string;
  schema?: { format?: string; $ref?: string };
}
interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: unknown;
}
interface OperationEntry {
  label: string;
  method: string;
  /** The document's path, with `{name}` placeholders. */
  path: string;
  operation: Operation;
}

const METHODS = ["get", "put", "post", "patch", "delete"];
const STATE_CHANGING = ["POST", "PUT", "PATCH", "DELETE"];
/** The allow-list this suite expects: the only operations that answer without the key. */
const PUBLIC = new Set(["GET /api/health", "GET /api/ready"]);

async function operations(port: number): Promise<OperationEntry[]> {
  const answer = await send(port, { method: "GET", target: "/api/openapi.json" });
  if (answer.status !== 200) throw new Error(`GET /api/openapi.json answered ${answer.status}`);
  const document = JSON.parse(answer.text) as { paths: Record<string, Record<string, Operation>> };
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({
        label: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        operation,
      })),
  );
}

/** The operation's path with fresh plausible values, so repeated requests find the same (absent) things. */
function plainPath(entry: OperationEntry): string {
  const parameters = entry.operation.parameters ?? [];
  return entry.path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const parameter = parameters.find((p) => p.in === "path" && p.name === name);
    return parameter?.schema?.format === "uuid" ? randomUUID() : `sample-${randomUUID().slice(0, 8)}`;
  });
}

// ── The spellings of a request ───────────────────────────────────────────────
/**
 * same: must get the plain path's answer with the key; sameOr4xx: the router may not match it, then a
 * 4xx; refused: refused even with the key.
 */
type Expectation = "same" | "sameOr4xx" | "refused";
interface Shape {
  name: string;
  expect: Expectation;
  make(path: string, entry: OperationEntry, port: number): RawRequest;
  /** How a refused shape is answered, with or without the key, and a word its detail says. */
  refusal?: { status: number; mentions: string; beforeKey: boolean };
}

const HOST_REFUSAL = { status: 400, mentions: "BATON_ALLOWED_HOSTS", beforeKey: true };
const ORIGIN_REFUSAL = { status: 403, mentions: "BATON_CORS_ORIGINS", beforeKey: true };
// The key is judged first: without it, a form is told about the key.
const FORM_REFUSAL = { status: 415, mentions: "x-baton-client", beforeKey: false };

/** What BatonClient sends: JSON when there is a body, and its header always. */
function legitimate(entry: OperationEntry, target: string): RawRequest {
  const headers: Record<string, string> = { "x-baton-client": "security-test" };
  if (!entry.operation.requestBody) return { method: entry.method, target, headers };
  return {
    method: entry.method,
    target,
    headers: { ...headers, "content-type": "application/json" },
    body: "{}",
  };
}

/** Percent-encodes the first character of each segment (`/api/flows` → `/%61pi/%66lows`). */
const encodeSegments = (path: string) =>
  path.replace(/\/([^/])/g, (_, first: string) => `/%${first.charCodeAt(0).toString(16).toUpperCase()}`);

const SHAPES: Shape[] = [
  { name: "plain path", expect: "same", make: (path, entry) => legitimate(entry, path) },
  {
    name: "percent-encoded /api",
    expect: "same",
    make: (path, entry) => legitimate(entry, path.replace(/^\/api/, "/%61pi")),
  },
  {
    name: "encoded segments",
    expect: "same",
    make: (path, entry) => legitimate(entry, encodeSegments(path)),
  },
  {
    name: "absolute-form target",
    expect: "same",
    make: (path, entry, port) => legitimate(entry, `http://127.0.0.1:${port}${path}`),
  },
  { name: "//api", expect: "sameOr4xx", make: (path, entry) => legitimate(entry, `/${path}`) },
  {
    name: "/API",
    expect: "sameOr4xx",
    make: (path, entry) => legitimate(entry, path.replace(/^\/api/, "/API")),
  },
  { name: "trailing slash", expect: "sameOr4xx", make: (path, entry) => legitimate(entry, `${path}/`) },
  { name: "trailing dot", expect: "sameOr4xx", make: (path, entry) => legitimate(entry, `${path}.`) },
  {
    name: "/api.",
    expect: "sameOr4xx",
    make: (path, entry) => legitimate(entry, path.replace(/^\/api/, "/api.")),
  },
  {
    name: "absolute-form target naming another host",
    expect: "refused",
    refusal: HOST_REFUSAL,
    make: (path, entry) => legitimate(entry, `http://evil.example${path}`),
  },
  {
    name: "wrong Host",
    expect: "refused",
    refusal: HOST_REFUSAL,
    make: (path, entry) => {
      const raw = legitimate(entry, path);
      return { ...raw, headers: { ...raw.headers, host: "evil.example" } };
    },
  },
  {
    name: "foreign Origin",
    expect: "refused",
    refusal: ORIGIN_REFUSAL,
    make: (path, entry) => {
      const raw = legitimate(entry, path);
      return { ...raw, headers: { ...raw.headers, origin: "https://evil.example" } };
    },
  },
  {
    name: "form content type",
    expect: "refused",
    refusal: FORM_REFUSAL,
    make: (path, entry) => ({
      method: entry.method,
      target: path,
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "a=1",
    }),
  },
  {
    name: "text/plain body",
    expect: "refused",
    refusal: FORM_REFUSAL,
    make: (path, entry) => ({
      method: entry.method,
      target: path,
      headers: { "content-type": "text/plain" },
      body: "{}",
    }),
  },
  {
    name: "no body, no client header",
    expect: "refused",
    refusal: FORM_REFUSAL,
    make: (path, entry) => ({ method: entry.method, target: path }),
  },
];

const KEY = "s3cret-key-for-the-security-suite";
const AUTHORIZATIONS: { name: string; header: string | undefined }[] = [
  { name: "no key", header: undefined },
  { name: "a wrong key", header: `Bearer ${KEY}x` },
  { name: "the right key", header: `Bearer ${KEY}` },
];

/** What is wrong with one operation's answers to every shape and key; empty when nothing is. */
async function faultsOf(port: number, entry: OperationEntry): Promise<string[]> {
  const label = `${entry.method} ${entry.path}`;
  const isPublic = PUBLIC.has(label);
  const stateChanging = STATE_CHANGING.includes(entry.method);
  // Shapes about the method and body judge state changes only; a GET has no body to refuse.
  const shapes = SHAPES.filter((shape) => stateChanging || !/content type|body/.test(shape.name));
  const plainWithKey = (
    await send(port, withKey(SHAPES[0]!.make(plainPath(entry), entry, port), AUTHORIZATIONS[2]!.header))
  ).status;
  const tasks = shapes.flatMap((shape) =>
    AUTHORIZATIONS.map((authorization) => async () => {
      const raw = withKey(shape.make(plainPath(entry), entry, port), authorization.header);
      const shown = `${shape.name} with ${authorization.name} [${raw.method} ${raw.target}]`;
      try {
        const { status, text } = await send(port, raw);
        const rightKey = authorization === AUTHORIZATIONS[2];
        const { refusal } = shape;
        if (status >= 500) return `${shown}: ${status} ${text.slice(0, 200)}`;
        if (shape.expect === "refused" && !is4xx(status)) return `${shown}: ${status}, not a 4xx`;
        // Refused by the guard itself, not by a later check that happens to answer a 4xx too.
        if (refusal && (rightKey || isPublic || refusal.beforeKey)) {
          if (status !== refusal.status || !text.includes(refusal.mentions)) {
            return `${shown}: ${status}, not ${refusal.status} naming ${refusal.mentions}: ${text.slice(0, 200)}`;
          }
        } else if (!rightKey && !isPublic && status !== 401) {
          return `${shown}: ${status} without the key, not 401`;
        }
        if (rightKey && shape.expect === "same" && status !== plainWithKey) {
          return `${shown}: ${status}, the plain path got ${plainWithKey}`;
        }
        if (rightKey && shape.expect === "sameOr4xx" && status !== plainWithKey && !is4xx(status)) {
          return `${shown}: ${status}, neither the plain path's ${plainWithKey} nor a 4xx`;
        }
        return undefined;
      } catch (error) {
        return `${shown}: ${String(error)}`;
      }
    }),
  );
  return (await bounded(tasks)).filter((fault): fault is string => fault !== undefined);
}

function withKey(raw: RawRequest, authorization: string | undefined): RawRequest {
  return authorization === undefined ? raw : { ...raw, headers: { ...raw.headers, authorization } };
}

// ── A server with an API key, on each database ───────────────────────────────
describe.each(DIALECTS)("the API key on %s", async (dialect) => {
  const server = await startTestServer(dialect, { apiKey: KEY });
  afterAll(async () => {
    await server.stop();
  });
  const port = Number(new URL(server.url).port);
  const entries = await operations(port);

  it("covers every operation of the document, and the allow-list is what answers without the key", () => {
    expect(entries.length).toBeGreaterThan(50);
    const labels = new Set(entries.map((entry) => `${entry.method} ${entry.path}`));
    for (const label of PUBLIC) expect(labels).toContain(label);
  });

  it.each(entries)(
    "$label: no spelling answers without the key, each legitimate one as the plain path",
    async (entry) => {
      expect(await faultsOf(port, entry)).toEqual([]);
    },
  );

  it("answers the public routes without the key, and nothing else", async () => {
    for (const target of ["/api/health", "/api/ready", "/api/openapi.json", "/%61pi/health"]) {
      expect((await send(port, { method: "GET", target })).status, target).toBe(200);
    }
    const docs = await send(port, { method: "GET", target: "/api/docs" });
    expect(docs.status).toBeLessThan(400);
    for (const target of ["/api/no-such-route", "/API/flows", "//api/flows", "/api", "/x/../api/flows"]) {
      const answer = await send(port, { method: "GET", target });
      expect(answer.status, target).toBe(401);
      expect(answer.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
  });

  it("takes the bearer scheme in any case, and refuses a key that is only close", async () => {
    const list = (authorization: string) =>
      send(port, { method: "GET", target: "/api/flows", headers: { authorization } });
    for (const scheme of ["Bearer", "bearer", "BEARER", "bEaReR"]) {
      expect((await list(`${scheme} ${KEY}`)).status, scheme).toBe(200);
    }
    for (const wrong of [
      `Basic ${KEY}`,
      `Bearer ${KEY.slice(0, -1)}`,
      `Bearer ${KEY}${KEY}`,
      `Bearer`,
      `${KEY}`,
    ]) {
      const answer = await list(wrong);
      expect(answer.status, wrong).toBe(401);
      expect(answer.headers["www-authenticate"]).toBe("Bearer");
      expect(JSON.parse(answer.text)).toMatchObject({ code: "unauthenticated", status: 401 });
    }
  });

  it("lets BatonClient with the key through, and tells one without it what to set", async () => {
    await expect(server.client.api.listFlows()).resolves.toBeDefined();
    const { BatonClient } = await import("@baton/client");
    await expect(new BatonClient({ url: server.apiUrl }).api.listFlows()).rejects.toThrow(/BATON_API_KEY/);
  });
});

// ── Browser safety on the default server (no key) ────────────────────────────
// The guard does not depend on the database: one dialect is enough here.
describe("browser safety without a key", async () => {
  const server: TestServer = await startTestServer("sqlite");
  afterAll(async () => {
    await server.stop();
  });
  const port = Number(new URL(server.url).port);
  const own = `http://127.0.0.1:${port}`;
  const reset = (headers: Record<string, string>) =>
    send(port, { method: "POST", target: "/api/concurrency-limits/db-lock/reset", headers });

  it("refuses a state change from a foreign Origin, and the event stream to it", async () => {
    await server.client.api.createConcurrencyLimit({ body: { tag: "db-lock", limit: 1 } });
    const answer = await reset({ origin: "https://evil.example", "x-baton-client": "x" });
    expect(answer.status).toBe(403);
    expect(JSON.parse(answer.text)).toMatchObject({ status: 403, code: "permission_denied" });
    expect(detailOf(answer.text)).toContain("BATON_CORS_ORIGINS");
    expect((await reset({ origin: "null", "content-type": "application/json" })).status).toBe(403);
    const stream = await send(port, {
      method: "GET",
      target: "/api/events/stream",
      headers: { origin: "https://evil.example" },
    });
    expect(stream.status).toBe(403);
  });

  it("refuses a state change an HTML form or a simple cross-site request could send", async () => {
    const shapes: Record<string, string>[] = [
      {},
      { "content-type": "application/x-www-form-urlencoded" },
      { "content-type": "text/plain" },
      { "content-type": "multipart/form-data; boundary=x" },
    ];
    for (const headers of shapes) {
      const answer = await reset(headers);
      expect(answer.status, JSON.stringify(headers)).toBe(415);
      expect(detailOf(answer.text)).toContain("x-baton-client");
    }
  });

  it("refuses a Host it does not know (DNS rebinding), saying which setting to set", async () => {
    for (const host of ["evil.example", `evil.example:${port}`, "127.0.0.1.evil.example"]) {
      for (const target of ["/api/flows", "/api/health", "/"]) {
        const answer = await send(port, { method: "GET", target, headers: { host } });
        expect(answer.status, `${host} ${target}`).toBe(400);
        expect(detailOf(answer.text)).toContain("BATON_ALLOWED_HOSTS");
      }
    }
  });

  it("answers loopback names and addresses", async () => {
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      `LOCALHOST.:${port}`,
      `[::1]:${port}`,
      "127.0.0.1",
    ]) {
      expect(
        (await send(port, { method: "GET", target: "/api/flows", headers: { host } })).status,
        host,
      ).toBe(200);
    }
  });

  it("works for the dashboard: same-origin reads, state changes and the event stream", async () => {
    const created = await send(port, {
      method: "POST",
      target: "/api/variables",
      headers: { origin: own, "content-type": "application/json" },
      body: JSON.stringify({ name: `dash-${randomUUID().slice(0, 8)}`, value: 1 }),
    });
    expect(created.status, created.text).toBeLessThan(300);
    expect((await reset({ origin: own, "x-baton-client": "@baton/client" })).status).toBeLessThan(300);
    expect((await send(port, { method: "GET", target: "/api/flows", headers: { origin: own } })).status).toBe(
      200,
    );
    const stream = await send(port, {
      method: "GET",
      target: "/api/events/stream",
      headers: { origin: own },
    });
    expect(stream.status).toBe(200);
    expect((await send(port, { method: "GET", target: "/" })).status).toBe(200);
  });

  it("sends no CORS headers when no origin is allowed", async () => {
    const answer = await send(port, { method: "GET", target: "/api/flows", headers: { origin: own } });
    expect(answer.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("lets BatonClient make body-less state changes", async () => {
    await server.client.api.createConcurrencyLimit({ body: { tag: "client-lock", limit: 2 } });
    await expect(
      server.client.api.resetConcurrencyLimit({ params: { tag: "client-lock" } }),
    ).resolves.toMatchObject({
      tag: "client-lock",
    });
    await expect(
      server.client.api.deleteConcurrencyLimit({ params: { tag: "client-lock" } }),
    ).resolves.toBeUndefined();
  });
});

// ── The settings ─────────────────────────────────────────────────────────────
describe("BATON_ALLOWED_HOSTS and BATON_CORS_ORIGINS", async () => {
  const server = await startTestServer("sqlite", {
    allowedHosts: ["baton.example.com"],
    corsOrigins: ["https://dash.example.com"],
  });
  const anyHost = await startTestServer("sqlite", { allowedHosts: ["*"] });
  afterAll(async () => {
    await server.stop();
    await anyHost.stop();
  });
  const port = Number(new URL(server.url).port);

  it("are read from the environment as comma-separated lists", () => {
    const settings = serverSettings(
      {},
      { BATON_ALLOWED_HOSTS: "baton.example.com, other.example ,", BATON_CORS_ORIGINS: "https://a.example" },
    );
    expect(settings.allowedHosts).toEqual(["baton.example.com", "other.example"]);
    expect(settings.corsOrigins).toEqual(["https://a.example"]);
  });

  it("answers a named host, and the page it serves behind a TLS proxy", async () => {
    const host = "baton.example.com";
    expect((await send(port, { method: "GET", target: "/api/flows", headers: { host } })).status).toBe(200);
    const answer = await send(port, {
      method: "POST",
      target: "/api/concurrency-limits/none/reset",
      headers: { host, origin: "https://baton.example.com", "x-baton-client": "x" },
    });
    expect(answer.status).not.toBe(403);
    expect(is4xx(answer.status) || is2xx(answer.status)).toBe(true);
    expect(
      (await send(port, { method: "GET", target: "/api/flows", headers: { host: "evil.example" } })).status,
    ).toBe(400);
  });

  it("answers any host with *", async () => {
    const anyPort = Number(new URL(anyHost.url).port);
    const answer = await send(anyPort, {
      method: "GET",
      target: "/api/flows",
      headers: { host: "whatever.example" },
    });
    expect(answer.status).toBe(200);
  });

  it("lets an allowed origin through with CORS headers, and still refuses others", async () => {
    const origin = "https://dash.example.com";
    const preflight = await send(port, {
      method: "OPTIONS",
      target: "/api/concurrency-limits/none/reset",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,x-baton-client",
      },
    });
    expect(preflight.status).toBeLessThan(300);
    expect(preflight.headers["access-control-allow-origin"]).toBe(origin);
    const read = await send(port, { method: "GET", target: "/api/flows", headers: { origin } });
    expect(read.status).toBe(200);
    expect(read.headers["access-control-allow-origin"]).toBe(origin);
    const foreign = await send(port, {
      method: "GET",
      target: "/api/flows",
      headers: { origin: "https://evil.example" },
    });
    expect(foreign.status).toBe(403);
    expect(foreign.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("refuses to start with an origin that is not one", async () => {
    for (const entry of ["dash.example.com", "https://dash.example.com/app", "ftp://dash.example.com"]) {
      const options = { apiKey: undefined, boundHost: "127.0.0.1", allowedHosts: [], corsOrigins: [entry] };
      await expect(installGuard(Fastify(), options), entry).rejects.toThrow(/BATON_CORS_ORIGINS/);
    }
  });
});

describe("isApiPath", () => {
  it.each([
    ["/api/flows", true],
    ["/API/flows", true],
    ["/%61pi/flows", true],
    ["/%2561pi/flows", true],
    ["//api/flows", true],
    ["\\api\\flows", true],
    ["/api./flows", true],
    ["/x/../api/flows", true],
    ["http://evil.example/api/flows", true],
    ["/api", true],
    ["/", false],
    ["/runs/api", false],
    ["/apix", false],
    ["/assets/index.js", false],
  ])("%s → %s", (target, expected) => {
    expect(isApiPath(target)).toBe(expected);
  });
});
