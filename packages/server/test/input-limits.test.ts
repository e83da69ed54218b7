/**
 * Bad input stops at the edge with a 4xx problem document that names the field: NUL characters
 * (PostgreSQL text cannot hold them), JSON nested deeper than the limit, request heads and bodies
 * over Node's and Fastify's limits, and stored fields over their size limits. Nothing is stored.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverSettings } from "@baton/server";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";

const KiB = 1024;
const MiB = 1024 * KiB;

interface Answer {
  status: number;
  contentType: string;
  body: { status?: number; code?: string; detail?: string; [key: string]: unknown } | null;
}

/** A JSON object whose JSON text is exactly `bytes` long. */
function objectOfSize(bytes: number): Record<string, string> {
  return { blob: "x".repeat(bytes - '{"blob":""}'.length) };
}

/** An inline result whose state data is exactly `bytes` of JSON. */
function dataOfSize(bytes: number) {
  const empty = { kind: "inline", serializer: "json", value: "" };
  return { ...empty, value: "x".repeat(bytes - JSON.stringify(empty).length) };
}

const now = () => new Date().toISOString();

describe.each(DIALECTS)("input limits (%s)", (dialect) => {
  let server: TestServer;
  let flowRunId: string;

  /** Real HTTP; a string body is sent as it is, anything else as JSON. */
  async function send(method: string, path: string, body?: unknown): Promise<Answer> {
    const response = await fetch(`${server.apiUrl}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : {
            headers: { "content-type": "application/json" },
            body: typeof body === "string" ? body : JSON.stringify(body),
          }),
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
    expect(answer.body?.status).toBe(status);
    for (const text of mentions) expect(answer.body?.detail).toContain(text);
  }

  const runsOf = async (flowName: string) =>
    ((await send("GET", `/flow-runs?flowName=${flowName}`)).body?.items as unknown[]).length;

  beforeAll(async () => {
    server = await startTestServer(dialect, { services: false });
    await send("POST", "/flows", { name: "limits" });
    flowRunId = (await send("POST", "/flow-runs", { flowName: "limits" })).body?.id as string;
  });
  afterAll(async () => {
    await server?.stop();
  });

  describe("NUL characters", () => {
    const NUL_MESSAGE = "contains a NUL character (\\u0000), which cannot be stored; remove it";

    it("in a flow run's parameters: 400 naming the field, no run stored", async () => {
      const answer = await send("POST", "/flow-runs", {
        flowName: "limits",
        parameters: { name: "a\u0000b" },
      });
      expectProblem(answer, 400, `body.parameters.name ${NUL_MESSAGE}`);
      expect(answer.body?.code).toBe("invalid_argument");
      expect(await runsOf("limits")).toBe(1);
    });

    it("in a key: 400 naming the object and the key", async () => {
      const answer = await send("POST", "/flow-runs", {
        flowName: "limits",
        parameters: { nested: { "bad\u0000key": 1 } },
      });
      expectProblem(answer, 400, 'body.parameters.nested has a key "bad\\u0000key" that contains a NUL');
      expect(await runsOf("limits")).toBe(1);
    });

    it("in a deployment's description: 400, no deployment stored", async () => {
      const answer = await send("POST", "/deployments", {
        name: "nul",
        flowName: "limits",
        description: "\u0000",
      });
      expectProblem(answer, 400, `body.description ${NUL_MESSAGE}`);
      expect((await send("GET", "/deployments/name/limits/nul")).status).toBe(404);
    });

    it("in one line of a log batch: 400 naming the line, no line stored", async () => {
      const line = { flowRunId, level: 20, timestamp: now() };
      const answer = await send("POST", "/logs", [
        { ...line, message: "fine" },
        { ...line, message: "bad\u0000" },
      ]);
      expectProblem(answer, 400, `body.1.message ${NUL_MESSAGE}`);
      expect((await send("GET", `/logs?flowRunId=${flowRunId}`)).body?.items).toEqual([]);
    });

    it("in a variable's value: 400, no variable stored", async () => {
      const answer = await send("POST", "/variables", { name: "nul", value: { list: ["ok", "\u0000"] } });
      expectProblem(answer, 400, `body.value.list.1 ${NUL_MESSAGE}`);
      expect((await send("GET", "/variables/nul")).status).toBe(404);
    });

    it("a backslash before u0000 is text, not a NUL, and is stored as sent", async () => {
      const value = "C:\\u0000";
      expect((await send("POST", "/variables", { name: "backslash", value })).status).toBe(201);
      expect((await send("GET", "/variables/backslash")).body?.value).toBe(value);
    });

    it("in a query string: 400 naming the query field", async () => {
      expectProblem(await send("GET", "/flow-runs?flowName=a%00b"), 400, `query.flowName ${NUL_MESSAGE}`);
      expectProblem(await send("GET", "/logs?flowRunId=%00"), 400, `query.flowRunId ${NUL_MESSAGE}`);
    });

    it("in a path parameter: 400 naming the parameter", async () => {
      expectProblem(await send("GET", "/flows/name/a%00b"), 400, `params.name ${NUL_MESSAGE}`);
      expectProblem(await send("PATCH", "/variables/x%00", { value: 1 }), 400, `params.name ${NUL_MESSAGE}`);
    });
  });

  describe("JSON nesting", () => {
    it("10,000 levels: 400 naming the limit and its setting, and the server still answers", async () => {
      const deep = "[".repeat(10_000) + "]".repeat(10_000);
      const answer = await send("POST", "/flow-runs", `{"flowName":"limits","parameters":{"deep":${deep}}}`);
      expectProblem(answer, 400, "deeper than 64 levels", "BATON_MAX_JSON_DEPTH");
      expect((await send("GET", "/health")).status).toBe(200);
      expect(await runsOf("limits")).toBe(1);
    });

    it("64 levels, brackets inside strings not counted: accepted", async () => {
      // The body is level 1, parameters 2, parameters.deep 3: 61 more arrays make 64.
      const deep = "[".repeat(62) + '"[[[{{{\\"]]]"' + "]".repeat(62);
      const body = `{"flowName":"limits","parameters":{"deep":${deep}}}`;
      const answer = await send("POST", "/flow-runs", body);
      expect(answer.status).toBe(201);
      const tooDeep = body.replace('{"deep":', '{"deep":[').replace(/}}$/, "]}}");
      expectProblem(await send("POST", "/flow-runs", tooDeep), 400, "deeper than 64 levels");
    });
  });

  describe("request size", () => {
    it("a 100 KB query string: 431 problem document naming the limit", async () => {
      const answer = await send("GET", `/flow-runs?flowName=${"x".repeat(100 * KiB)}`);
      expectProblem(answer, 431, "larger than the server's limit of", "shorten the query string");
    });

    it("a body over 16 MiB: 413 problem document naming the limit", async () => {
      const answer = await send("POST", "/variables", { name: "big", value: "x".repeat(16 * MiB) });
      expectProblem(answer, 413, `over the server's limit of ${16 * MiB} bytes`);
      expect((await send("GET", "/health")).status).toBe(200);
    });
  });

  describe("stored field sizes", () => {
    const cases: {
      what: string;
      limit: number;
      setting: string;
      /** A request whose field is `bytes` long: method, path, body, and the path of the field. */
      request: (bytes: number) => [method: string, path: string, body: unknown, field: string];
    }[] = [
      {
        what: "a flow run's parameters",
        limit: MiB,
        setting: "BATON_MAX_PARAMETERS_BYTES",
        request: (bytes) => [
          "POST",
          "/flow-runs",
          { flowName: "limits", parameters: objectOfSize(bytes) },
          "body.parameters",
        ],
      },
      {
        what: "a deployment's parameters",
        limit: MiB,
        setting: "BATON_MAX_PARAMETERS_BYTES",
        request: (bytes) => [
          "POST",
          "/deployments",
          { name: "sized", flowName: "limits", parameters: objectOfSize(bytes) },
          "body.parameters",
        ],
      },
      {
        what: "a flow run's labels",
        limit: 64 * KiB,
        setting: "BATON_MAX_LABELS_BYTES",
        request: (bytes) => [
          "POST",
          "/flow-runs",
          { flowName: "limits", labels: objectOfSize(bytes) },
          "body.labels",
        ],
      },
      {
        what: "a deployment's job variables",
        limit: 64 * KiB,
        setting: "BATON_MAX_JOB_VARIABLES_BYTES",
        request: (bytes) => [
          "POST",
          "/deployments",
          { name: "sized", flowName: "limits", jobVariables: objectOfSize(bytes) },
          "body.jobVariables",
        ],
      },
      {
        what: "an inline result in a flow run's state",
        limit: MiB,
        setting: "BATON_MAX_RESULT_BYTES",
        request: (bytes) => [
          "POST",
          "/flow-runs",
          { flowName: "limits", state: { type: "COMPLETED", data: dataOfSize(bytes) } },
          "body.state.data",
        ],
      },
      {
        what: "an inline result in a recorded task run's states",
        limit: MiB,
        setting: "BATON_MAX_RESULT_BYTES",
        request: (bytes) => [
          "POST",
          "/task-runs/record",
          [
            {
              id: crypto.randomUUID(),
              flowRunId,
              name: "sized",
              taskKey: "sized",
              dynamicKey: "0",
              tags: [],
              retries: 0,
              retryDelaySeconds: [],
              timeoutSeconds: null,
              runCount: 1,
              states: [{ type: "COMPLETED", name: "Completed", timestamp: now(), data: dataOfSize(bytes) }],
            },
          ],
          "body.0.states.0.data",
        ],
      },
      {
        what: "a log line's message",
        limit: 64 * KiB,
        setting: "BATON_MAX_LOG_LINE_BYTES",
        request: (bytes) => [
          "POST",
          "/logs",
          [{ flowRunId, level: 20, timestamp: now(), message: "x".repeat(bytes) }],
          "body.0.message",
        ],
      },
    ];

    it.each(cases)(
      "$what: one byte over is 413 naming the limit; the limit itself is accepted",
      async (c) => {
        const [method, path, over, field] = c.request(c.limit + 1);
        const answer = await send(method, path, over);
        expectProblem(
          answer,
          413,
          `${field} is ${c.limit + 1} bytes, over the server's limit of ${c.limit} bytes`,
          c.setting,
        );
        const [, , atLimit] = c.request(c.limit);
        expect((await send(method, path, atLimit)).status).toBeLessThan(300);
      },
    );

    it("a log line is measured in UTF-8 bytes, not characters", async () => {
      const message = "é".repeat(40 * KiB); // 80 KiB in UTF-8
      const answer = await send("POST", "/logs", [{ flowRunId, level: 20, timestamp: now(), message }]);
      expectProblem(answer, 413, `body.0.message is ${80 * KiB} bytes`);
    });

    it("a state proposal with an over-limit result is refused before the state changes", async () => {
      const created = (await send("POST", "/flow-runs", { flowName: "limits" })).body;
      const run = created?.id as string;
      const answer = await send("POST", `/flow-runs/${run}/state`, {
        state: { type: "COMPLETED", data: dataOfSize(MiB + 1) },
      });
      expectProblem(answer, 413, "body.state.data", "BATON_MAX_RESULT_BYTES");
      expect((await send("GET", `/flow-runs/${run}`)).body?.state).toEqual(created?.state);
    });
  });
});

describe("input limit settings", () => {
  it("are read from BATON_MAX_* variables", () => {
    const settings = serverSettings(
      {},
      {
        BATON_MAX_JSON_DEPTH: "10",
        BATON_MAX_PARAMETERS_BYTES: "1",
        BATON_MAX_LABELS_BYTES: "2",
        BATON_MAX_JOB_VARIABLES_BYTES: "3",
        BATON_MAX_RESULT_BYTES: "4",
        BATON_MAX_LOG_LINE_BYTES: "5",
      },
    );
    expect(settings).toMatchObject({
      maxJsonDepth: 10,
      maxParametersBytes: 1,
      maxLabelsBytes: 2,
      maxJobVariablesBytes: 3,
      maxResultBytes: 4,
      maxLogLineBytes: 5,
    });
  });

  it("refuses a numeric setting that is no number, naming the variable", () => {
    expect(() => serverSettings({}, { BATON_MAX_JSON_DEPTH: "deep" })).toThrow(
      "BATON_MAX_JSON_DEPTH must be a number of 0 or more, not 'deep'",
    );
    expect(() => serverSettings({}, { BATON_DATABASE_POOL_SIZE: "0" })).toThrow(
      "BATON_DATABASE_POOL_SIZE must be a number of 1 or more, not '0'",
    );
    expect(serverSettings({}, { BATON_DATABASE_POOL_SIZE: "25" }).databasePoolSize).toBe(25);
  });
});
