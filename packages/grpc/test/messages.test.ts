import { create, equals, isMessage } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonError, EventName, isEvent, type JsonObject } from "@baton/core";
import { message, messageJsonSchema, protobufSerializer, registerMessages } from "@baton/grpc";
import { flow, loadResult, pause } from "@baton/sdk";
import { LeafSchema, SinkSchema } from "./gen/kitchen_pb.js";
import { DIALECTS, startTestServer, type TestServer } from "../../../test/helpers.js";
import { waitForEvent } from "../../../test/runs.js";

/** The same Sink, written with the .proto names and with the lowerCamelCase JSON names. */
const snake = {
  plain_text: "hello",
  small_number: 7,
  big_number: "9007199254740993",
  ratio: 0.5,
  flag: true,
  blob: "AQID",
  color: "COLOR_GREEN",
  tags: ["a", "b"],
  leaves: [{ label: "x", big_count: "12" }],
  counts: { a: 1 },
  leaf_by_name: { first: { label: "y" } },
  created_at: "2031-05-06T07:08:09Z",
  took: "1.5s",
  extra: { any: ["json", 1] },
  nickname: "nick",
  url: "https://example.com",
  tree: { name: "root", children: [{ name: "kid", children: [] }] },
};
const camel = {
  plainText: "hello",
  smallNumber: 7,
  bigNumber: "9007199254740993",
  ratio: 0.5,
  flag: true,
  blob: "AQID",
  color: 2,
  tags: ["a", "b"],
  leaves: [{ label: "x", bigCount: 12 }],
  counts: { a: 1 },
  leafByName: { first: { label: "y" } },
  createdAt: "2031-05-06T07:08:09Z",
  took: "1.5s",
  extra: { any: ["json", 1] },
  nickname: "nick",
  url: "https://example.com",
  tree: { name: "root", children: [{ name: "kid" }] },
};

describe("protobuf messages as parameters", () => {
  const codec = message(SinkSchema);

  it("derives a JSON Schema from the descriptor: nested, repeated, maps, enums, well-known types, oneofs, recursion", () => {
    const schema = messageJsonSchema(SinkSchema) as {
      properties: Record<string, JsonObject>;
      patternProperties: Record<string, JsonObject>;
      $defs: Record<string, JsonObject>;
      additionalProperties: boolean;
    };
    expect(schema.additionalProperties).toBe(false);
    expect(schema.properties.plain_text).toMatchObject({ type: "string" });
    expect(schema.patternProperties["^plainText$"]).toMatchObject({ type: "string" });
    expect(schema.properties.tags).toMatchObject({ type: "array", items: { type: "string" } });
    expect(schema.properties.leaves).toMatchObject({
      type: "array",
      items: { $ref: "#/$defs/kitchen.Leaf" },
    });
    expect(schema.properties.counts).toMatchObject({
      type: "object",
      additionalProperties: { type: "integer" },
    });
    expect(schema.properties.color).toMatchObject({
      anyOf: [
        { type: "string", enum: ["COLOR_UNSPECIFIED", "COLOR_RED", "COLOR_GREEN"] },
        { type: "integer" },
      ],
    });
    expect(schema.properties.created_at).toMatchObject({ type: "string", format: "date-time" });
    expect(schema.properties.url).toMatchObject({ description: "one of target: set at most one" });
    expect(schema.$defs["kitchen.Tree"]).toMatchObject({
      properties: { children: { type: "array", items: { $ref: "#/$defs/kitchen.Tree" } } },
    });
  });

  it("decodes both spellings of the proto3 JSON mapping into the same typed message", () => {
    const fromSnake = codec.decode(snake, "sink");
    const fromCamel = codec.decode(camel, "sink");
    expect(isMessage(fromSnake, SinkSchema)).toBe(true);
    expect(equals(SinkSchema, fromSnake, fromCamel)).toBe(true);
    expect(fromSnake.bigNumber).toBe(9007199254740993n);
    expect(fromSnake.createdAt).toEqual(timestampFromDate(new Date("2031-05-06T07:08:09Z")));
    expect(fromSnake.target).toEqual({ case: "url", value: "https://example.com" });
    expect(codec.encode(fromSnake)).toMatchObject({ plain_text: "hello", big_number: "9007199254740993" });
  });

  it("refuses a field that does not fit, naming it", () => {
    const error = (() => {
      try {
        codec.decode({ ...snake, small_number: "seven" }, "sink");
      } catch (caught) {
        return caught as BatonError;
      }
      throw new Error("expected a failure");
    })();
    expect(error).toBeInstanceOf(BatonError);
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/^sink: .*small_number/);
  });

  it("runs a flow whose parameter is a message from JSON, and its message result round-trips with its type", async () => {
    const describeSink = flow(
      { name: "describe-sink", parameters: { sink: message(SinkSchema) } },
      async ({ sink }) =>
        create(LeafSchema, { label: `${sink.plainText}:${sink.leaves.length}`, bigCount: sink.bigNumber }),
    );
    const leaf = await describeSink.runFromJson({ sink: camel });
    expect(isMessage(leaf, LeafSchema)).toBe(true);
    expect(leaf.label).toBe("hello:1");

    const reference = {
      kind: "inline" as const,
      serializer: protobufSerializer.name,
      typeName: protobufSerializer.typeName!(leaf),
      value: protobufSerializer.toJson!(leaf),
    };
    expect(reference).toMatchObject({
      typeName: "kitchen.Leaf",
      value: { label: "hello:1", big_count: "9007199254740993" },
    });
    const back = await loadResult(reference);
    expect(isMessage(back, LeafSchema) && equals(LeafSchema, back, leaf)).toBe(true);
    await expect(loadResult({ ...reference, typeName: "kitchen.Unknown" })).rejects.toThrow(
      /registerMessages/,
    );
  });
});

describe.each(DIALECTS)("message parameters checked by the server on %s", (dialect) => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer(dialect);
  });
  afterAll(async () => {
    await server.stop();
  });

  it("accepts both spellings and refuses a bad nested field with its path, before any run exists", async () => {
    registerMessages(SinkSchema);
    const sinkFlow = flow({ name: "sink-flow", parameters: { sink: message(SinkSchema) } }, async () => null);
    const api = server.client.api;
    const deployment = await api.createDeployment({
      body: { name: "checked", flowName: "sink-flow", parameterSchema: sinkFlow.parameterSchema() },
    });
    for (const sink of [snake, camel]) {
      const run = await api.createDeploymentRun({
        params: { id: deployment.id },
        body: { parameters: { sink } },
      });
      expect(run.parameters).toEqual({ sink });
    }
    const bad = await api
      .createDeploymentRun({
        params: { id: deployment.id },
        body: { parameters: { sink: { ...snake, leaves: [{ label: 3 }], nope: 1 } } },
      })
      .catch((error: unknown) => error as BatonError);
    expect(bad).toBeInstanceOf(BatonError);
    expect((bad as BatonError).issues).toEqual(
      expect.arrayContaining([
        { path: "sink.leaves.0.label", message: "must be string" },
        { path: "sink.nope", message: "is not a field there" },
      ]),
    );
    expect((await api.listFlowRuns({ query: { flowName: "sink-flow" } })).items).toHaveLength(2);
  });

  it("pauses a flow for a protobuf message: JSON given to resume becomes the typed message, a bad field is refused", async () => {
    process.env.BATON_API_URL = server.apiUrl;
    const api = server.client.api;
    const relabel = flow({ name: "relabel" }, async () => {
      const leaf = await pause({ input: message(LeafSchema), description: "the new label" });
      return { typed: isMessage(leaf, LeafSchema), label: leaf.label, count: String(leaf.bigCount) };
    });
    let result: Promise<unknown> | undefined;
    const pausedEvent = await waitForEvent(
      server.client,
      [EventName.FlowRunStateChanged],
      (event) => isEvent(event, EventName.FlowRunStateChanged) && event.payload.state.type === "PAUSED",
      () => {
        result = relabel();
      },
    );
    const id = pausedEvent.flowRunId!;
    const waiting = await api.readFlowRun({ params: { id } });
    expect(waiting.state?.pause?.inputSchema).toMatchObject({ type: "object" });
    const bad = await api
      .resumeFlowRun({ params: { id }, body: { input: { label: 3 } } })
      .catch((error: unknown) => error as BatonError);
    expect((bad as BatonError).issues).toEqual([{ path: "label", message: "must be string" }]);
    await api.resumeFlowRun({ params: { id }, body: { input: { label: "renamed", big_count: "12" } } });
    expect(await result).toEqual({ typed: true, label: "renamed", count: "12" });
    delete process.env.BATON_API_URL;
  });
});
