/** Deployment parameters in the browser: the schema the form is made from, checks, and the server's issues. */
import type { FieldIssue, JsonObject } from "@baton/core";
import { ErrorSchemaBuilder, type ErrorSchema, type RJSFSchema } from "@rjsf/utils";
import validator from "@rjsf/validator-ajv8";

export { validator };

/** Values, not schemas: left as they are. */
const DATA_KEYWORDS = new Set(["default", "const", "enum", "examples"]);

/**
 * zod writes draft 2020-12; react-jsonschema-form and its Ajv read draft-07. Of what zod writes, only
 * tuples differ: `prefixItems` (then `items` for the rest) is draft-07's `items` list (then
 * `additionalItems`), which the form also draws as one field per position.
 */
function toDraft07(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toDraft07);
  if (typeof node !== "object" || node === null) return node;
  const schema: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node))
    schema[key] = DATA_KEYWORDS.has(key) ? value : toDraft07(value);
  if (Array.isArray(schema.prefixItems)) {
    schema.additionalItems = schema.items ?? true;
    schema.items = schema.prefixItems;
    delete schema.prefixItems;
  }
  return schema;
}

/**
 * The form's copy of a deployment's schema, in draft-07. Keywords that only later drafts have
 * (`unevaluatedProperties`, `dependentRequired`…; zod writes none) are not checked in the browser:
 * the server checks with draft 2020-12 and its issues are shown beside the form. No schema at all (a
 * flow declared without one) takes any object.
 */
export function formSchema(parameterSchema: JsonObject): RJSFSchema {
  const { $schema: _draft, ...schema } = parameterSchema;
  if (Object.keys(schema).length === 0) return { type: "object", additionalProperties: true };
  return toDraft07(schema) as RJSFSchema;
}

export const hasFields = (schema: RJSFSchema): boolean =>
  schema.properties !== undefined && Object.keys(schema.properties).length > 0;

/**
 * The server's issues ("customer.address.city": "is required") as errors on the form's fields; a
 * path in parentheses ("(parameters)") names the whole form.
 */
export function issuesToErrorSchema(issues: FieldIssue[]): ErrorSchema {
  const builder = new ErrorSchemaBuilder();
  for (const { path, message } of issues) {
    const field = path && !path.startsWith("(") ? path : undefined;
    builder.addErrors(message, field);
  }
  return builder.ErrorSchema;
}

export type Checked = { ok: true; value: JsonObject } | { ok: false; issues: FieldIssue[] };

/** Reads text that should hold a JSON object of parameters. */
export function readJsonObject(text: string): Checked {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, issues: [{ path: "(JSON)", message: (error as Error).message }] };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: "(JSON)", message: "must be an object of parameters" }] };
  }
  return { ok: true, value: value as JsonObject };
}

/**
 * Reads the custom JSON and checks it, as the server will, over the deployment's default parameters
 * (which fill in what it leaves out), naming each problem as the server would.
 */
export function checkParameters(text: string, schema: RJSFSchema, defaults: JsonObject): Checked {
  const read = readJsonObject(text);
  if (!read.ok) return read;
  const { errors } = validator.validateFormData({ ...defaults, ...read.value }, schema);
  if (errors.length === 0) return read;
  return {
    ok: false,
    issues: errors.map((error) => ({
      path: error.property?.replace(/^\./, "") || "(parameters)",
      message: error.message ?? error.stack,
    })),
  };
}
