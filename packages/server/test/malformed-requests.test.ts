/**
 * Malformed requests to every operation of the OpenAPI document get a 4xx problem document: never a 5xx,
 * never a stack trace, never a silently dropped field. The cases are derived from the document's schemas,
 * so a new route is covered without anyone listing it here.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it } from "vitest";
import { DIALECTS, startTestServer } from "../../../test/helpers.js";

// ── The parts of an OpenAPI 3.0 document this suite reads ────────────────────
interface Schema {
  $ref?: string;
  type?: "string" | "number" | "integer" | "boolean" | "array" | "object";
  format?: string;
  enum?: unknown[];
  nullable?: boolean;
  anyOf?: Schema[];
  oneOf?: Schema[];
  allOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
}
interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  schema: Schema;
}
interface Operation {
  operationId?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: Schema } | undefined> };
}
interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { schemas?: Record<string, Schema> };
}
interface OperationEntry {
  label: string;
  method: string;
  path: string;
  operation: Operation;
}

const HTTP_METHODS = ["get", "put", "post", "patch", "delete", "head", "options", "trace"];

function operationsOf(document: OpenApiDocument): OperationEntry[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.includes(method))
      .map(([method, operation]) => ({
        label: `${method.toUpperCase()} ${path}${operation.operationId ? ` (${operation.operationId})` : ""}`,
        method: method.toUpperCase(),
        path,
        operation,
      })),
  );
}

// ── A small schema-driven generator ──────────────────────────────────────────
type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonKind = "string" | "number" | "boolean" | "null" | "array" | "object";

const JSON_KINDS: JsonKind[] = ["string", "number", "boolean", "array", "object", "null"];
/** One value of each kind, to put where another kind is expected. */
const VALUE_OF_KIND: Record<JsonKind, Json> = {
  string: "wrong type",
  number: 12345,
  boolean: true,
  array: ["wrong type"],
  object: { wrong: "type" },
  null: null,
};

const asText = (value: Json): string => (typeof value === "string" ? value : JSON.stringify(value));

function kindOf(value: unknown): JsonKind {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value as JsonKind;
}

function schemaReader(document: OpenApiDocument) {
  /** Follows `$ref`s (and single-member `allOf`s) to the schema they stand for. */
  const resolve = (schema: Schema): Schema => {
    if (schema.$ref !== undefined) {
      const prefix = "#/components/schemas/";
      const target = schema.$ref.startsWith(prefix)
        ? document.components?.schemas?.[schema.$ref.slice(prefix.length)]
        : undefined;
      if (!target) throw new Error(`the OpenAPI document has a dangling $ref '${schema.$ref}'`);
      return resolve(target);
    }
    const { allOf, ...rest } = schema;
    const [only] = allOf ?? [];
    return allOf?.length === 1 && only ? { ...rest, ...resolve(only) } : schema;
  };

  /** The kinds of JSON value a schema accepts. */
  const acceptedKinds = (schema: Schema): Set<JsonKind> => {
    const s = resolve(schema);
    const branches = s.anyOf ?? s.oneOf;
    if (!s.type && !branches && !s.enum) return new Set(JSON_KINDS);
    const kinds = new Set<JsonKind>(s.nullable ? ["null"] : []);
    if (s.type) kinds.add(s.type === "integer" ? "number" : s.type);
    for (const value of s.enum ?? []) kinds.add(kindOf(value));
    for (const branch of branches ?? []) for (const kind of acceptedKinds(branch)) kinds.add(kind);
    return kinds;
  };

  /** A type-correct value: required properties only, lower bounds, the first enum value or branch. */
  const sampleFor = (schema: Schema): Json => {
    const s = resolve(schema);
    if (s.enum?.length) return s.enum[0] as Json;
    const [branch] = s.anyOf ?? s.oneOf ?? [];
    if (branch) return sampleFor(branch);
    switch (s.type) {
      case "string":
        if (s.format === "uuid") return randomUUID();
        if (s.format === "date-time") return new Date().toISOString();
        return "sample".padEnd(s.minLength ?? 0, "s").slice(0, s.maxLength);
      case "number":
      case "integer": {
        const low = (s.minimum ?? 1) + (s.exclusiveMinimum ? 1 : 0);
        return Math.min(low, s.maximum ?? low);
      }
      case "boolean":
        return true;
      case "array":
        return Array.from({ length: s.minItems ?? 0 }, () => sampleFor(s.items ?? {}));
      case "object":
        return Object.fromEntries(
          (s.required ?? []).map((key) => [key, sampleFor(s.properties?.[key] ?? {})]),
        );
      default:
        return "sample";
    }
  };

  /** A value of a kind the schema does not accept; undefined when it accepts any JSON. */
  const wrongTypeFor = (schema: Schema): Json | undefined => {
    const accepted = acceptedKinds(schema);
    const kind = JSON_KINDS.find((candidate) => !accepted.has(candidate));
    return kind === undefined ? undefined : VALUE_OF_KIND[kind];
  };

  return { resolve, acceptedKinds, sampleFor, wrongTypeFor };
}

// ── Cases ────────────────────────────────────────────────────────────────────
interface Case {
  name: string;
  method: string;
  url: string;
  body?: string;
  contentType?: string;
  expected: {
    status?: number;
    code?: string;
    /** Strings the detail or the issues must name. */
    mentions?: string[];
  };
}

const BAD_UUID = "not-a-uuid";
/** Sent as is, not encoded: a truncated UTF-8 sequence. */
const BROKEN_ENCODING = "%E0%A4%A";
const UNKNOWN = "bogusField";
const UNKNOWN_QUERY = "bogusParam";
/** Never ends once opened: only malformed queries, which it refuses before opening, are sent to it. */
const EVENT_STREAM = "GET /api/events/stream";

/** Every malformed request to make to one operation, from its parameters and request body schemas. */
function casesFor(entry: OperationEntry, document: OpenApiDocument): Case[] {
  const { resolve, acceptedKinds, sampleFor, wrongTypeFor } = schemaReader(document);
  const parameters = entry.operation.parameters ?? [];
  const pathParameters = parameters.filter((parameter) => parameter.in === "path");
  const queryParameters = parameters.filter((parameter) => parameter.in === "query");
  const validPath = Object.fromEntries(pathParameters.map((p) => [p.name, asText(sampleFor(p.schema))]));

  // The body, when there is one, is an object or a list of objects: `fields` is that object.
  const bodySchema = entry.operation.requestBody?.content["application/json"]?.schema;
  const root = bodySchema && resolve(bodySchema);
  const shape = root?.type === "array" ? resolve(root.items ?? {}) : root;
  // A body of several shapes (a discriminated union) is tried in its first, as sampleFor fills it.
  const [firstShape] = shape?.oneOf ?? [];
  const fields = firstShape ? resolve(firstShape) : shape;
  const wrap = (object: Record<string, Json>) => JSON.stringify(root?.type === "array" ? [object] : object);
  const base = fields?.type === "object" ? (sampleFor(fields) as Record<string, Json>) : {};
  const validBody = bodySchema && JSON.stringify(sampleFor(bodySchema));
  // Every property filled: passes even the rules a schema cannot state ("give flowId or flowName").
  const properties = Object.entries(fields?.properties ?? {});
  const fullBody = bodySchema && wrap(Object.fromEntries(properties.map(([k, s]) => [k, sampleFor(s)])));

  const request = (
    name: string,
    expected: Case["expected"],
    change: { path?: Record<string, string>; query?: Record<string, string>; body?: string | null } = {},
  ): Case => {
    const values = { ...validPath, ...change.path };
    const path = entry.path.replace(/\{(\w+)\}/g, (_, key: string) => {
      const value = values[key] ?? "";
      return value === BROKEN_ENCODING ? value : encodeURIComponent(value);
    });
    const query = new URLSearchParams(change.query).toString();
    const body = change.body === null ? undefined : (change.body ?? validBody);
    return {
      name,
      method: entry.method,
      url: path + (query ? `?${query}` : ""),
      ...(body === undefined ? {} : { body, contentType: "application/json" }),
      expected,
    };
  };
  const invalid = (name: string, mentions: string[], change: Parameters<typeof request>[2]) =>
    request(name, { status: 400, code: "invalid_argument", mentions }, change);

  const cases: Case[] = [];

  // Path parameters: malformed, then well-formed but naming nothing.
  for (const { name, schema } of pathParameters) {
    const s = resolve(schema);
    if (s.format === "uuid") {
      cases.push(invalid(`path ${name}=${BAD_UUID}`, [name], { path: { [name]: BAD_UUID } }));
    }
    const broken = { path: { [name]: BROKEN_ENCODING } };
    cases.push(request(`path ${name} with broken percent-encoding`, { status: 400 }, broken));
    if (s.maxLength !== undefined) {
      const tooLong = "x".repeat(s.maxLength + 1);
      cases.push(invalid(`path ${name} longer than ${s.maxLength}`, [name], { path: { [name]: tooLong } }));
    }
  }
  const [outermost] = pathParameters;
  if (outermost) {
    const missing = Object.fromEntries(
      pathParameters.map(({ name, schema }) => [
        name,
        resolve(schema).format === "uuid" ? randomUUID() : `no-such-${name}-${randomUUID().slice(0, 8)}`,
      ]),
    );
    // The detail names what is missing: the outermost resource (a queue's pool) when none exists.
    const names = Object.keys(missing).join(" and ");
    const mentions = [missing[outermost.name] ?? ""];
    cases.push(
      request(`non-existent ${names}`, { status: 404, code: "not_found", mentions }, { path: missing }),
    );
  }

  // Query parameters: an unknown name, then values of the wrong form or out of range.
  const withQuery = (query: Record<string, string>) => ({ query, ...(fullBody ? { body: fullBody } : {}) });
  cases.push(
    invalid(`unknown query parameter ${UNKNOWN_QUERY}`, [UNKNOWN_QUERY], withQuery({ [UNKNOWN_QUERY]: "1" })),
  );
  for (const { name, schema } of queryParameters) {
    const s = resolve(schema);
    const bad = (label: string, value: string) =>
      invalid(`query ${name}=${label}`, [name], withQuery({ [name]: value }));
    if (s.type === "integer" || s.type === "number") {
      cases.push(bad("abc", "abc"));
      if (s.minimum !== undefined) cases.push(bad(`${s.minimum - 1} (below minimum)`, String(s.minimum - 1)));
      if (s.maximum !== undefined) cases.push(bad(`${s.maximum + 1} (above maximum)`, String(s.maximum + 1)));
    }
    if (s.enum ?? (s.items && resolve(s.items).enum)) cases.push(bad("NOT_IN_ENUM", "NOT_IN_ENUM"));
    if (s.format === "uuid") cases.push(bad(BAD_UUID, BAD_UUID));
    if (s.format === "date-time") cases.push(bad("not-a-date", "not-a-date"));
  }

  if (bodySchema === undefined) return cases;

  // The body as a whole: not JSON, empty, missing, not JSON at all, or JSON of the wrong kind.
  cases.push(invalid("body that is not valid JSON", [], { body: '{"unterminated": ' }));
  cases.push(invalid("empty JSON body", [], { body: "" }));
  if (entry.operation.requestBody?.required) cases.push(invalid("no body", [], { body: null }));
  cases.push({ ...request("XML body", { status: 415 }), body: "<flow/>", contentType: "application/xml" });
  const acceptedAtRoot = acceptedKinds(bodySchema);
  for (const kind of JSON_KINDS.filter((candidate) => !acceptedAtRoot.has(candidate))) {
    cases.push(invalid(`a JSON ${kind} as the body`, [], { body: JSON.stringify(VALUE_OF_KIND[kind]) }));
  }

  // Its fields: each required one dropped, each one of the wrong type, and one nobody knows.
  for (const key of fields?.required ?? []) {
    const { [key]: _dropped, ...rest } = base;
    cases.push(invalid(`body without required '${key}'`, [key], { body: wrap(rest) }));
  }
  for (const [key, schema] of properties) {
    const wrong = wrongTypeFor(schema);
    if (wrong === undefined) continue;
    const body = wrap({ ...base, [key]: wrong });
    cases.push(invalid(`body '${key}' of the wrong type (${JSON.stringify(wrong)})`, [key], { body }));
  }
  if (fields?.type === "object") {
    const body = wrap({ ...base, [UNKNOWN]: 1 });
    cases.push(invalid(`body with unknown field '${UNKNOWN}'`, [UNKNOWN], { body }));
  }
  return cases;
}

// ── Sending and judging ──────────────────────────────────────────────────────
interface Answer {
  status: number;
  contentType: string;
  text: string;
}

async function send(baseUrl: string, request: Pick<Case, "method" | "url" | "body" | "contentType">) {
  const response = await fetch(baseUrl + request.url, {
    method: request.method,
    // As BatonClient does: without it, a body-less state change is refused before it is judged.
    headers: {
      "x-baton-client": "malformed-requests",
      ...(request.contentType ? { "content-type": request.contentType } : {}),
    },
    body: request.body,
    signal: AbortSignal.timeout(10_000),
  });
  const contentType = response.headers.get("content-type") ?? "";
  // An event stream that was opened never ends: do not wait for its body.
  if (contentType.startsWith("text/event-stream")) {
    await response.body?.cancel();
    return { status: response.status, contentType, text: "" } satisfies Answer;
  }
  return { status: response.status, contentType, text: await response.text() } satisfies Answer;
}

/** What is wrong with the answer to a malformed request: nothing when it is the problem document expected. */
function faultsOf({ status, contentType, text }: Answer, expected: Case["expected"]): string[] {
  const faults: string[] = [];
  if (status < 400 || status > 499) faults.push(`status ${status}, not 4xx`);
  else if (expected.status !== undefined && status !== expected.status) {
    faults.push(`status ${status}, not ${expected.status}`);
  }
  if (!contentType.startsWith("application/problem+json")) faults.push(`content-type '${contentType}'`);
  if (text.includes("    at ") || /\\n\s+at /.test(text) || text.includes("node_modules")) {
    faults.push("a stack trace in the body");
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [...faults, `a body that is not JSON: ${text.slice(0, 300)}`];
  }
  if (typeof body !== "object" || body === null) return [...faults, `a body that is not an object: ${text}`];
  const problem = body as Record<string, unknown>;
  if (typeof problem.type !== "string" || typeof problem.title !== "string") faults.push("no type or title");
  if (typeof problem.detail !== "string" || problem.detail === "") faults.push("no detail");
  if (problem.status !== status) {
    faults.push(`problem status ${String(problem.status)}, HTTP status ${status}`);
  }
  if (typeof problem.code !== "string") faults.push("no code");
  else if (expected.code !== undefined && problem.code !== expected.code) {
    faults.push(`code '${problem.code}', not '${expected.code}'`);
  }
  const said = `${String(problem.detail)} ${JSON.stringify(problem.issues ?? [])}`;
  for (const name of expected.mentions ?? []) {
    if (!said.includes(name)) faults.push(`does not name '${name}'`);
  }
  return faults.length > 0 ? [...faults, `answer: ${text.slice(0, 300)}`] : [];
}

// ── The suite ────────────────────────────────────────────────────────────────
describe.each(DIALECTS)("malformed requests on %s", async (dialect) => {
  // The cases come from the document the server publishes, so it is read while the tests are collected.
  const server = await startTestServer(dialect);
  afterAll(async () => {
    await server.stop();
  });
  const response = await fetch(`${server.url}/api/openapi.json`);
  if (!response.ok) throw new Error(`GET /api/openapi.json answered ${response.status}`);
  const document = (await response.json()) as OpenApiDocument;
  const operations = operationsOf(document);
  const covered = new Set<string>();
  let sent = 0;

  it.each(operations)("$label answers each malformed request with a 4xx problem", async (entry) => {
    const all = casesFor(entry, document);
    const cases = entry.label.startsWith(EVENT_STREAM) ? all.filter((c) => c.url.includes("?")) : all;
    expect(cases.length).toBeGreaterThan(0);
    const failures: string[] = [];
    for (const request of cases) {
      const shown = `${request.name} [${request.method} ${request.url}${request.body === undefined ? "" : ` ${request.body.slice(0, 200)}`}]`;
      try {
        const faults = faultsOf(await send(server.url, request), request.expected);
        if (faults.length > 0) failures.push(`${shown}: ${faults.join("; ")}`);
      } catch (error) {
        failures.push(`${shown}: ${String(error)}`);
      }
      sent++;
    }
    covered.add(entry.label);
    expect(failures).toEqual([]);
  });

  it.each([
    ["GET", "/api/no-such-thing"],
    ["DELETE", "/api/flows"],
  ])("answers the unknown route %s %s with a 404 problem", async (method, url) => {
    const answer = await send(server.url, { method, url });
    expect(faultsOf(answer, { status: 404, code: "not_found", mentions: [url] })).toEqual([]);
  });

  it("answers a path parameter too long for the router with a 414 problem", async () => {
    const answer = await send(server.url, { method: "GET", url: `/api/flows/name/${"x".repeat(5000)}` });
    expect(faultsOf(answer, { status: 414 })).toEqual([]);
  });

  it("covered every operation of the document", () => {
    const inDocument = Object.values(document.paths).flatMap((item) => Object.keys(item)).length;
    console.log(
      `malformed requests on ${dialect}: ${covered.size} of ${inDocument} operations covered, ${sent} malformed requests sent`,
    );
    expect(covered.size).toBe(inDocument);
  });
});
