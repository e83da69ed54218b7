import {
  create,
  fromJson,
  isMessage,
  toJson,
  type DescFile,
  type DescMessage,
  type JsonValue,
  type Message,
  type MessageShape,
} from "@bufbuild/protobuf";
import { BatonError } from "@baton/core";
import { registerSerializer, type ParameterCodec, type Serializer } from "@baton/sdk";
import { messageJsonSchema } from "./json-schema.js";

/** Every message type this process knows, by full name, so results of that type decode back into it. */
const known = new Map<string, DescMessage>();

/**
 * Makes message types known to this process, so results of those types are written and read back as
 * messages: pass generated schemas or whole generated files (`file_gps`). Parameters and flow-backed
 * methods register theirs themselves.
 */
export function registerMessages(...schemas: (DescMessage | DescFile)[]): void {
  for (const schema of schemas) {
    if (schema.kind === "file") {
      registerMessages(...schema.messages);
      continue;
    }
    if (known.has(schema.typeName)) continue;
    known.set(schema.typeName, schema);
    // Nested types too: a result of any of them can come back.
    for (const field of schema.fields) {
      if (field.message) registerMessages(field.message);
    }
    registerMessages(...schema.nestedMessages);
  }
}

function schemaOf(typeName: string | undefined): DescMessage {
  const schema = typeName ? known.get(typeName) : undefined;
  if (!schema) {
    throw new BatonError(
      "invalid_argument",
      `protobuf message type '${typeName}' is not known to this process: call registerMessages() with its generated schema or file (e.g. registerMessages(file_gps))`,
    );
  }
  return schema;
}

/** JSON options used everywhere: the .proto field names, as the parameter schemas show them. */
const JSON_WRITE = { useProtoFieldName: true } as const;

/** A message of a known type as its proto3 JSON. */
export const messageToJson = (message: Message): JsonValue =>
  toJson(schemaOf(message.$typeName), message, JSON_WRITE);

/**
 * Results that are messages stay inline in the final state as their proto3 JSON with the type name
 * beside it (what google.protobuf.Any does), so people read them in the dashboard and any process
 * that knows the type decodes them back into the message.
 */
export const protobufSerializer: Serializer<Message> = {
  name: "protobuf",
  // Every message: one of an unregistered type is refused with how to register it, not written as plain JSON.
  handles: (value) => isMessage(value),
  typeName: (message) => message.$typeName,
  toJson: (message) => messageToJson(message),
  fromJson: (json, typeName) => fromJson(schemaOf(typeName), json),
  serialize: (message) =>
    new TextEncoder().encode(JSON.stringify(toJson(schemaOf(message.$typeName), message))),
  deserialize: (bytes, typeName) =>
    fromJson(schemaOf(typeName), JSON.parse(new TextDecoder().decode(bytes)) as JsonValue),
};
registerSerializer(protobufSerializer);

/** Why protobuf-es refused a JSON value, without its own prefix, for a message naming the field. */
const reasonOf = (error: unknown): string =>
  (error instanceof Error ? error.message : String(error)).replace(
    /^cannot decode message [\w.]+ from JSON: /,
    "",
  );

/**
 * A flow parameter that is a protobuf message: JSON Schema derived from the descriptor, JSON from
 * the API, CLI or dashboard decoded with the proto3 JSON mapping (snake_case or lowerCamelCase field
 * names), and a field that does not fit refused with its path.
 */
export function message<Desc extends DescMessage>(schema: Desc): ParameterCodec<MessageShape<Desc>> {
  registerMessages(schema);
  return {
    jsonSchema: () => messageJsonSchema(schema),
    decode(json, path) {
      if (isMessage(json, schema)) return json;
      if (json === undefined || json === null) return create(schema);
      try {
        return fromJson(schema, json as JsonValue);
      } catch (error) {
        throw new BatonError("invalid_argument", `${path}: ${reasonOf(error)}`, {
          issues: [{ path, message: `is not a valid ${schema.typeName}: ${reasonOf(error)}` }],
        });
      }
    },
    encode: (value) => toJson(schema, value, JSON_WRITE),
  };
}
