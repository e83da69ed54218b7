import type { ErrorObject, ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { BatonError, type FieldIssue, type JsonObject } from "@baton/core";

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
// Draft 2020-12, which zod's toJSONSchema declares; older schemas without $schema validate alike.
// addUsedSchema off: ajv would otherwise register each schema's $id for good, and refuse a second,
// different schema (another deployment's) that carries the same $id.
const newAjv = () => addFormats(new Ajv2020({ allErrors: true, strict: false, addUsedSchema: false }));
let ajv = newAjv();

/**
 * Schemas compiled, by their JSON. Bounded, as anyone with the API can send new ones: after
 * MAX_COMPILED_SCHEMAS compiles (failed ones too: ajv keeps every schema it was given) it starts over
 * with a new ajv. Dropping schemas one by one from ajv would also drop what it knows by their $id, its
 * own meta-schema if a schema names itself so.
 */
const compiled = new Map<string, ValidateFunction>();
let compiles = 0;
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
  let validate = compiled.get(key);
  if (validate) return validate;
  if (compiles++ >= MAX_COMPILED_SCHEMAS) {
    compiled.clear();
    ajv = newAjv();
    compiles = 1;
  }
  try {
    validate = ajv.compile(schema);
  } catch (error) {
    throw new BatonError("invalid_argument", `${whose} is not a valid JSON Schema: ${String(error)}`);
  }
  compiled.set(key, validate);
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
