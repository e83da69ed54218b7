import type { ErrorObject, ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import { BatonError, type FieldIssue, type JsonObject } from "@baton/core";

// ajv-formats is CommonJS; its default export arrives wrapped under ESM.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020;
// Draft 2020-12, which zod's toJSONSchema declares; older schemas without $schema validate alike.
const ajv = addFormats(new Ajv2020({ allErrors: true, strict: false }));
const compiled = new Map<string, ValidateFunction>();

function issueOf(error: ErrorObject): FieldIssue {
  const base = error.instancePath.split("/").slice(1).join(".");
  if (error.keyword === "required") {
    const field = (error.params as { missingProperty: string }).missingProperty;
    return { path: base ? `${base}.${field}` : field, message: "is required" };
  }
  if (error.keyword === "additionalProperties") {
    const field = (error.params as { additionalProperty: string }).additionalProperty;
    return {
      path: base ? `${base}.${field}` : field,
      message: base ? "is not a field there" : "is not a parameter of this flow",
    };
  }
  return { path: base || "(parameters)", message: error.message ?? "is invalid" };
}

/** Checks parameters against a deployment's JSON Schema; the error names every field that does not fit. */
export function validateParameters(schema: JsonObject, parameters: JsonObject, what: string): void {
  if (Object.keys(schema).length === 0) return;
  const key = JSON.stringify(schema);
  let validate = compiled.get(key);
  if (!validate) {
    try {
      validate = ajv.compile(schema);
    } catch (error) {
      throw new BatonError(
        "invalid_argument",
        `the parameter schema of ${what} is not a valid JSON Schema: ${String(error)}`,
      );
    }
    compiled.set(key, validate);
  }
  if (validate(parameters)) return;
  const issues = (validate.errors ?? []).map(issueOf);
  const summary = issues.map((issue) => `${issue.path} ${issue.message}`).join("; ");
  throw new BatonError("invalid_argument", `parameters for ${what} do not match its schema: ${summary}`, {
    issues,
  });
}
