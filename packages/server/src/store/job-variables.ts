import {
  BatonError,
  jobVariableDefaults,
  jobVariablesSchema,
  type FieldIssue,
  type JsonObject,
} from "@baton/core";
import { compileSchema, issuesText, schemaIssues } from "./parameters.js";

/** What the checks need of a pool. */
export interface PoolTemplate {
  name: string;
  type: string;
  baseJobTemplate: JsonObject;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

// A deployment or a run gives some of the variables, the pool's defaults others: what a schema
// requires is for the worker to find in them all, not for each to give.
const withoutRequired = ({ required: _required, ...schema }: JsonObject): JsonObject => schema;

/**
 * What in `variables` a pool does not take: checked against its template's schema and, for a type
 * Baton knows, against the type's (which its workers read them with), whatever the template says.
 */
function jobVariableIssues(pool: Omit<PoolTemplate, "name">, variables: JsonObject): FieldIssue[] {
  const names = { whole: "(job variables)", notAField: `is not a job variable of a ${pool.type} pool` };
  const schemas = [pool.baseJobTemplate.variables, jobVariablesSchema(pool.type)].filter(isObject);
  const issues = new Map<string, FieldIssue>();
  for (const schema of schemas) {
    const validate = compileSchema(withoutRequired(schema as JsonObject), "the pool's job variables schema");
    for (const issue of schemaIssues(validate, variables, names)) {
      issues.set(`${issue.path} ${issue.message}`, issue);
    }
  }
  return [...issues.values()];
}

/** Refuses job variables of `what` (a deployment, a run) that its pool does not take, naming each. */
export function checkJobVariables(pool: PoolTemplate, variables: JsonObject, what: string): void {
  const issues = jobVariableIssues(pool, variables);
  if (issues.length === 0) return;
  throw new BatonError(
    "invalid_argument",
    `${what} has job variables that work pool '${pool.name}' (type ${pool.type}) does not take: ${issuesText(issues)}`,
    { issues },
  );
}

const TEMPLATE_SHAPE =
  '{ "variables": { "type": "object", "properties": { "<variable>": { <its JSON Schema>, "default": <its default> } } } }';

/**
 * A pool's base job template must be `{}` (no variables) or a JSON Schema of its job variables
 * under `variables`, whose defaults fit it and the pool type's own schema.
 */
export function checkBaseJobTemplate(type: string, template: JsonObject): void {
  if (Object.keys(template).length === 0) return;
  const { variables, ...others } = template;
  const wrong = (problem: string) =>
    new BatonError(
      "invalid_argument",
      `the base job template ${problem}: it is laid out as ${TEMPLATE_SHAPE}`,
    );
  const unknown = Object.keys(others);
  if (unknown.length > 0) {
    throw wrong(`holds ${unknown.map((key) => `'${key}'`).join(", ")}, which Baton does not read`);
  }
  if (!isObject(variables)) throw wrong("has no 'variables' object");
  if (variables.type !== undefined && variables.type !== "object") {
    throw wrong(`'variables' has type ${JSON.stringify(variables.type)} where "object" is expected`);
  }
  const properties = variables.properties ?? {};
  if (!isObject(properties)) throw wrong("'variables.properties' is not an object");
  const notSchemas = Object.keys(properties).filter((name) => !isObject(properties[name]));
  if (notSchemas.length > 0) {
    throw wrong(
      `'variables.properties' has ${notSchemas.map((name) => `'${name}'`).join(", ")}, not a schema`,
    );
  }
  compileSchema(variables, "the base job template's 'variables'");
  const issues = jobVariableIssues({ type, baseJobTemplate: template }, jobVariableDefaults(template));
  if (issues.length > 0) {
    throw new BatonError(
      "invalid_argument",
      `the defaults of the base job template do not fit its variables or a ${type} pool: ${issuesText(issues)}`,
      { issues },
    );
  }
}
