import type { ErrorObject, ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { BatonError, type FieldIssue, type JsonObject } from "@baton/core";

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
// Draft 2020-12, which zod's toJSONSchema declares; older schemas without $schema validate alike.
// addUsedSchema off: ajv would otherwise register each schema's $id for good, and refuse a second,
// different schema (another deployment's) that carries the same $id.
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false, addUsedSchema: false }));

/** Schemas compiled, the one used last at the end; bounded, as anyone with the API can send new ones. */
const compiled = new Map<string, { schema: JsonObject; validate: ValidateFunction }>();
export const MAX_COMPILED_SCHEMAS = 500;

interface IssueNames {
  whole: string;
  notAField: string;
}

function issueOf(error: ErrorObject, { whole, notAField }: IssueNames): FieldIssue {
  const base = error.instancePath.split("/").slice(1).join(".");
  if (error.keyword === "required") {
    const field = (error.params as { missingProperty: string }).missingProperty;
    return { path: base ? `${base}.${field}` : field, message: "is required" };
  }
  if (error.keyword === "additionalProperties") {
    const field = (error.params as { additionalProperty: string }).additionalProperty;
    return { path: base ? `${base}.${field}` : field, message: base ? "is not a field there" : notAField };
  }
  return { path: base || whole, message: error.message ?? "is invalid" };
}

/** A JSON Schema compiled once; throws when it is not one, saying whose it is. */
export function compileSchema(schema: JsonObject, whose: string): ValidateFunction {
  const key = JSON.stringify(schema);
  const known = compiled.get(key);
  if (known) {
    compiled.delete(key);
    compiled.set(key, known);
    return known.validate;
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    throw new BatonError("invalid_argument", `${whose} is not a valid JSON Schema: ${String(error)}`);
  }
  compiled.set(key, { schema, validate });
  if (compiled.size > MAX_COMPILED_SCHEMAS) {
    const [oldestKey, oldest] = compiled.entries().next().value!;
    compiled.delete(oldestKey);
    // ajv keeps every schema it compiled too, by the object.
    ajv.removeSchema(oldest.schema);
  }
  return validate;
}

/**
 * What in `value` does not fit the schema, one issue per field, named for what is checked: `whole`
 * for the value itself ("(parameters)"), `notAField` for a field the schema does not know ("is not a
 * parameter of this flow").
 */
export function schemaIssues(validate: ValidateFunction, value: JsonObject, names: IssueNames): FieldIssue[] {
  if (validate(value)) return [];
  return (validate.errors ?? []).map((error) => issueOf(error, names));
}

export const issuesText = (issues: FieldIssue[]): string =>
  issues.map((issue) => `${issue.path} ${issue.message}`).join("; ");

/** Checks parameters against a deployment's JSON Schema; the error names every field that does not fit. */
export function validateParameters(schema: JsonObject, parameters: JsonObject, what: string): void {
  if (Object.keys(schema).length === 0) return;
  const validate = compileSchema(schema, `the parameter schema of ${what}`);
  const issues = schemaIssues(validate, parameters, {
    whole: "(parameters)",
    notAField: "is not a parameter of this flow",
  });
  if (issues.length === 0) return;
  throw new BatonError(
    "invalid_argument",
    `parameters for ${what} do not match its schema: ${issuesText(issues)}`,
    { issues },
  );
}
