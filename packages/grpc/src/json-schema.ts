import { ScalarType, type DescEnum, type DescField, type DescMessage } from "@bufbuild/protobuf";
import type { JsonObject } from "@baton/core";

type Schema = JsonObject;

/** 64-bit integers travel as JSON strings (the proto3 JSON mapping) but numbers are accepted too. */
const INTEGER_64_FORMS: Schema[] = [{ type: "integer" }, { type: "string", pattern: "^-?[0-9]+$" }];
const INTEGER_64: Schema = { anyOf: INTEGER_64_FORMS };

function scalarSchema(type: ScalarType): Schema {
  switch (type) {
    case ScalarType.STRING:
      return { type: "string" };
    case ScalarType.BOOL:
      return { type: "boolean" };
    case ScalarType.BYTES:
      return { type: "string", contentEncoding: "base64" };
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      // "NaN", "Infinity" and "-Infinity" are how JSON spells what it cannot.
      return { anyOf: [{ type: "number" }, { enum: ["NaN", "Infinity", "-Infinity"] }] };
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return INTEGER_64;
    default:
      return { type: "integer" };
  }
}

function enumSchema(desc: DescEnum): Schema {
  if (desc.typeName === "google.protobuf.NullValue") return { type: "null" };
  const names = desc.values.map((value) => value.name);
  // Forms show the names; numbers are accepted too, as the JSON mapping allows.
  return { anyOf: [{ type: "string", enum: names }, { type: "integer" }], default: names[0] ?? null };
}

/** The JSON forms of the well-known types (https://protobuf.dev/programming-guides/json/). */
const WELL_KNOWN: Record<string, Schema> = {
  "google.protobuf.Timestamp": { type: "string", format: "date-time" },
  "google.protobuf.Duration": { type: "string", pattern: "^-?[0-9]+(\\.[0-9]{1,9})?s$" },
  "google.protobuf.FieldMask": { type: "string" },
  "google.protobuf.Struct": { type: "object" },
  "google.protobuf.Value": {},
  "google.protobuf.ListValue": { type: "array" },
  "google.protobuf.Empty": { type: "object", additionalProperties: false },
  "google.protobuf.Any": { type: "object", properties: { "@type": { type: "string" } }, required: ["@type"] },
  "google.protobuf.StringValue": { type: ["string", "null"] },
  "google.protobuf.BoolValue": { type: ["boolean", "null"] },
  "google.protobuf.BytesValue": { type: ["string", "null"], contentEncoding: "base64" },
  "google.protobuf.DoubleValue": { anyOf: [{ type: "number" }, { type: "null" }] },
  "google.protobuf.FloatValue": { anyOf: [{ type: "number" }, { type: "null" }] },
  "google.protobuf.Int32Value": { type: ["integer", "null"] },
  "google.protobuf.UInt32Value": { type: ["integer", "null"] },
  "google.protobuf.Int64Value": { anyOf: [...INTEGER_64_FORMS, { type: "null" }] },
  "google.protobuf.UInt64Value": { anyOf: [...INTEGER_64_FORMS, { type: "null" }] },
};

const definitionName = (desc: DescMessage): string => desc.typeName;
const ref = (desc: DescMessage): Schema => ({ $ref: `#/$defs/${definitionName(desc)}` });

/**
 * JSON Schema (draft 2020-12) of a message's JSON form. Properties carry the .proto field names
 * (what forms show and what people write, e.g. `object_storage_urls`); the lowerCamelCase JSON
 * names are accepted as aliases through patternProperties, so both spellings of the canonical proto3
 * JSON mapping validate and anything else is refused by name. Nested messages go under $defs, so
 * recursive messages are fine.
 */
export function messageJsonSchema(root: DescMessage): Schema {
  const defs: Record<string, Schema> = {};

  const fieldValue = (field: DescField): Schema => {
    switch (field.fieldKind) {
      case "scalar":
        return scalarSchema(field.scalar);
      case "enum":
        return enumSchema(field.enum);
      case "message":
        return messageRef(field.message);
      case "list":
        return {
          type: "array",
          items:
            field.listKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.listKind === "enum"
                ? enumSchema(field.enum)
                : messageRef(field.message),
        };
      case "map":
        return {
          type: "object",
          additionalProperties:
            field.mapKind === "scalar"
              ? scalarSchema(field.scalar)
              : field.mapKind === "enum"
                ? enumSchema(field.enum)
                : messageRef(field.message),
        };
    }
  };

  const messageRef = (desc: DescMessage): Schema => {
    const known = WELL_KNOWN[desc.typeName];
    if (known) return known;
    if (!(definitionName(desc) in defs)) {
      defs[definitionName(desc)] = {}; // placeholder first: a recursive reference finds it
      defs[definitionName(desc)] = objectSchema(desc);
    }
    return ref(desc);
  };

  const objectSchema = (desc: DescMessage): Schema => {
    const properties: Record<string, Schema> = {};
    const aliases: Record<string, Schema> = {};
    for (const field of desc.fields) {
      const value = fieldValue(field);
      properties[field.name] = { title: field.name, ...value };
      if (field.oneof) properties[field.name]!.description = `one of ${field.oneof.name}: set at most one`;
      if (field.jsonName !== field.name) aliases[`^${field.jsonName}$`] = value;
    }
    return {
      type: "object",
      // The label is the parameter's or field's name; the message type is what it holds.
      description: desc.typeName,
      properties,
      ...(Object.keys(aliases).length > 0 ? { patternProperties: aliases } : {}),
      additionalProperties: false,
    };
  };

  const top = WELL_KNOWN[root.typeName] ?? objectSchema(root);
  return Object.keys(defs).length > 0 ? { ...top, $defs: defs } : top;
}
