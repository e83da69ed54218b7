import { z } from "zod";
import type { JsonObject } from "./api/common.js";
import { BatonError } from "./errors.js";

// Each pool type's job variables, one zod schema each: workers parse a run's variables with it, and
// the JSON Schema that pools carry in their base job template (shown and checked by the server, the
// CLI and the dashboard) is generated from it, defaults included.

const StringMap = z.record(z.string(), z.string());

const Command = z.array(z.string()).min(1).meta({
  title: "Command",
  description:
    "Replaces what the worker runs for each run (its details are in the environment); deployments and runs may set it only in a pool that allows command overrides",
});

const StopGracePeriodSeconds = z.number().min(0).default(10).meta({
  title: "Stop grace period (s)",
  description: "Seconds between SIGTERM and SIGKILL when a run is cancelled",
});

/** A run's stop grace period, whatever its pool's type (the worker stops jobs of every type alike). */
export function stopGracePeriodOf(variables: JsonObject): number {
  const result = StopGracePeriodSeconds.safeParse(variables.stopGracePeriodSeconds);
  return result.success ? result.data : 10;
}

export const ProcessJobVariables = z.strictObject({
  command: Command.optional(),
  env: StringMap.optional().meta({
    title: "Environment",
    description: "Environment variables of the run's process",
  }),
  workingDir: z.string().min(1).optional().meta({
    title: "Working directory",
    description:
      "Where the run's process starts; by default where the deployment's pull steps left the code, else its path, else the worker's directory",
  }),
  streamOutput: z.boolean().default(true).meta({
    title: "Stream output",
    description: "Print the run's output in the worker's own output too (it is in the run's logs either way)",
  }),
  stopGracePeriodSeconds: StopGracePeriodSeconds,
});
export type ProcessJobVariables = z.output<typeof ProcessJobVariables>;

export const PULL_POLICIES = ["always", "if-not-present", "never"] as const;
export type PullPolicy = (typeof PULL_POLICIES)[number];

/** A size in bytes, or with a unit: "512m", "2g". */
const MEMORY = /^\d+(\.\d+)?\s*[kmgKMG]?[bB]?$/;

export const DockerJobVariables = z.strictObject({
  image: z.string({ error: "must be the name of an image (it has no default)" }).min(1).meta({
    title: "Image",
    description: "The image to run, holding node and the project",
  }),
  command: Command.optional(),
  env: StringMap.optional().meta({
    title: "Environment",
    description:
      "Environment variables of the container, besides Baton's (BATON_API_URL, BATON_FLOW_RUN_ID, …)",
  }),
  workingDir: z.string().min(1).optional().meta({
    title: "Working directory",
    description:
      "The project's directory in the container, where the entrypoint is found; by default the image's WORKDIR",
  }),
  volumes: z
    .array(z.string().regex(/^[^:]+:[^:]+(:[^:]+)?$/, 'must be "host:container" or "host:container:ro"'))
    .optional()
    .meta({ title: "Volumes", description: 'Bind mounts, "host:container" or "host:container:ro"' }),
  networkMode: z.string().min(1).optional().meta({
    title: "Network",
    description:
      "By default \"host\" when the worker's API URL is a loopback address (the container could not reach it otherwise), else the engine's default",
  }),
  memory: z
    .union([
      z.number().int().positive(),
      z.string().regex(MEMORY, 'must be a number of bytes or a size like "512m"'),
    ])
    .optional()
    .meta({ title: "Memory", description: 'Memory limit in bytes, or with a unit: "512m", "2g"' }),
  cpus: z
    .number()
    .positive()
    .optional()
    .meta({ title: "CPUs", description: "CPUs the container may use, like docker run --cpus (0.5, 2)" }),
  pullPolicy: z
    .enum(PULL_POLICIES)
    .default("if-not-present")
    .meta({ title: "Pull policy", description: "When the worker pulls the image" }),
  autoRemove: z
    .boolean()
    .default(true)
    .meta({ title: "Auto remove", description: "Remove the container once its exit code is read" }),
  labels: StringMap.optional().meta({
    title: "Labels",
    description: "Labels of the container, besides Baton's",
  }),
  stopGracePeriodSeconds: StopGracePeriodSeconds,
});
export type DockerJobVariables = z.output<typeof DockerJobVariables>;

/** The pool types whose job variables Baton knows; pools of other types take any. */
export const WORK_POOL_JOB_VARIABLES = {
  process: ProcessJobVariables,
  docker: DockerJobVariables,
} as const;
export type KnownWorkPoolType = keyof typeof WORK_POOL_JOB_VARIABLES;
export const WORK_POOL_TYPES = Object.keys(WORK_POOL_JOB_VARIABLES) as KnownWorkPoolType[];

const isKnownType = (type: string): type is KnownWorkPoolType => Object.hasOwn(WORK_POOL_JOB_VARIABLES, type);

/** The JSON Schema of a pool type's job variables, with their defaults; undefined for a type Baton does not know. */
export function jobVariablesSchema(type: string): JsonObject | undefined {
  if (!isKnownType(type)) return undefined;
  const { $schema: _draft, ...schema } = z.toJSONSchema(WORK_POOL_JOB_VARIABLES[type], { io: "input" });
  return schema as JsonObject;
}

/**
 * A new pool's base job template, laid out as Prefect's: `{ "variables": <JSON Schema> }`, each
 * variable's default under its `default`. A type Baton does not know gets no variables.
 */
export function defaultBaseJobTemplate(type: string): JsonObject {
  return { variables: jobVariablesSchema(type) ?? { type: "object", properties: {} } };
}

/**
 * Default job variables of a pool, read from its base job template the way Prefect lays it out:
 * `{ "variables": { "properties": { "env": { "default": {...} }, ... } } }`.
 */
export function jobVariableDefaults(template: JsonObject): JsonObject {
  const properties = (
    template.variables as { properties?: Record<string, { default?: unknown }> } | undefined
  )?.properties;
  const defaults: JsonObject = {};
  for (const [name, property] of Object.entries(properties ?? {})) {
    if (property.default !== undefined) defaults[name] = property.default as JsonObject[string];
  }
  return defaults;
}

/**
 * The template with `defaults` as its variables' defaults, in place of those it had: a variable left
 * out has none; one the schema does not list is added with only its default.
 */
export function withJobVariableDefaults(template: JsonObject, defaults: JsonObject): JsonObject {
  const variables = (template.variables ?? { type: "object" }) as { properties?: Record<string, JsonObject> };
  const properties: Record<string, JsonObject> = {};
  for (const [name, { default: _old, ...schema }] of Object.entries(variables.properties ?? {})) {
    properties[name] = schema;
  }
  for (const [name, value] of Object.entries(defaults)) {
    if (value !== undefined) properties[name] = { ...properties[name], default: value };
  }
  return { ...template, variables: { ...variables, properties } };
}

/**
 * A run's job variables read with its pool type's schema, defaults filled in; a wrong one is refused
 * naming each variable and what is wrong with it.
 */
export function parseJobVariables<T extends KnownWorkPoolType>(
  type: T,
  variables: JsonObject,
): z.output<(typeof WORK_POOL_JOB_VARIABLES)[T]> {
  const result = WORK_POOL_JOB_VARIABLES[type].safeParse(variables);
  if (result.success) return result.data as z.output<(typeof WORK_POOL_JOB_VARIABLES)[T]>;
  const problems = result.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys")
      return `${issue.keys.join(", ")}: not a job variable of a ${type} pool`;
    return `${issue.path.join(".") || "(job variables)"}: ${issue.message}`;
  });
  throw new BatonError("invalid_argument", `job variables of a ${type} pool: ${problems.join("; ")}`);
}
