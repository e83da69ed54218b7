import { z } from "zod";
import { BatonError, type FieldIssue, type JsonObject } from "@baton/core";

/**
 * Turns one parameter between its JSON form (API, CLI, dashboard) and its typed value.
 * zod schemas are codecs already; @baton/grpc adds protobuf messages.
 */
export interface ParameterCodec<T = unknown> {
  /** JSON Schema of the JSON form. */
  jsonSchema(): JsonObject;
  /** JSON → typed value; throws a BatonError naming the field on bad input. */
  decode(json: unknown, path: string): T;
  /** Typed value → JSON. */
  encode(value: T): unknown;
}

export type ParameterSpec = z.ZodType | ParameterCodec;
/** A zod object, or a map from parameter name to a zod schema or codec. */
export type ParametersSchema = z.ZodObject | Record<string, ParameterSpec>;

type ValueOf<S> = S extends z.ZodType ? z.output<S> : S extends ParameterCodec<infer T> ? T : never;
/** The type of a flow's parameters object, inferred from its schema. */
export type ParametersOf<S> = S extends z.ZodObject
  ? z.output<S>
  : S extends Record<string, ParameterSpec>
    ? { [K in keyof S]: ValueOf<S[K]> }
    : Record<string, never>;

type InputOf<S> = S extends z.ZodType ? z.input<S> : S extends ParameterCodec<infer T> ? T : never;
/** What code passes when it calls a flow: zod inputs (defaults may be left out) and typed values. */
export type ParametersInput<S> = S extends z.ZodObject
  ? z.input<S>
  : S extends Record<string, ParameterSpec>
    ? OptionalWhereUndefined<{ [K in keyof S]: InputOf<S[K]> }>
    : Record<string, never>;

type UndefinedKeys<T> = { [K in keyof T]: undefined extends T[K] ? K : never }[keyof T];
/** Keys whose value may be undefined (zod defaults, optionals) may also be left out. */
type OptionalWhereUndefined<T> = Omit<T, UndefinedKeys<T>> & Partial<Pick<T, UndefinedKeys<T>>>;

const isZod = (spec: unknown): spec is z.ZodType => spec instanceof z.ZodType;

const DAY_MS = 24 * 3600 * 1000;

/** Runs `read` with the clock (`Date`, `Date.now()`) a day ahead. */
function withClockMovedOn<T>(read: () => T): T {
  const RealDate = Date;
  class MovedDate extends RealDate {
    constructor(...args: unknown[]) {
      super(...((args.length > 0 ? args : [RealDate.now() + DAY_MS]) as [number]));
    }
    static override now = () => RealDate.now() + DAY_MS;
  }
  globalThis.Date = MovedDate as DateConstructor;
  try {
    return read();
  } finally {
    globalThis.Date = RealDate;
  }
}

/**
 * Whether a zod default is computed for each use (`.default(() => new Date())`) rather than a value.
 * zod keeps both behind a getter that calls the function, so this reads the default twice, the second
 * time with the clock a day on: a function of the clock or of chance answers differently. Such a
 * default belongs to each run (zod applies it when the run decodes its parameters), not to a schema
 * made once at deploy time.
 */
function isComputedDefault(def: { defaultValue?: unknown }): boolean {
  try {
    const first = def.defaultValue;
    const second = withClockMovedOn(() => def.defaultValue);
    return !Object.is(first, second) && JSON.stringify(first) !== JSON.stringify(second);
  } catch {
    return true;
  }
}

/** JSON Schema of a zod schema's input, leaving out the defaults computed for each run. */
const zodJsonSchema = (schema: z.ZodType): JsonObject =>
  z.toJSONSchema(schema, {
    io: "input",
    unrepresentable: "any",
    override: ({ zodSchema, jsonSchema }) => {
      const def = zodSchema._zod.def;
      if (def.type === "default" && isComputedDefault(def)) {
        delete jsonSchema.default;
      }
    },
  }) as JsonObject;

function zodIssues(error: z.ZodError, prefix: string): FieldIssue[] {
  return error.issues.map((issue) => ({
    path: [prefix, ...issue.path.map(String)].filter(Boolean).join("."),
    message: issue.message,
  }));
}

function invalid(what: string, issues: FieldIssue[]): BatonError {
  const summary = issues.map((issue) => `${issue.path || "(parameters)"}: ${issue.message}`).join("; ");
  return new BatonError("invalid_argument", `invalid parameters for ${what}: ${summary}`, { issues });
}

/** Decodes and encodes a whole parameters object, one field at a time, naming every bad field. */
export class ParametersCodec<S extends ParametersSchema | undefined> {
  constructor(
    readonly schema: S,
    readonly what: string,
  ) {}

  /** The parameters' names, in declaration order. */
  names(): string[] {
    const schema = this.schema;
    if (!schema) return [];
    return Object.keys(isZod(schema) ? schema.shape : schema);
  }

  jsonSchema(): JsonObject {
    const schema = this.schema;
    if (!schema) return {};
    if (isZod(schema)) return zodJsonSchema(schema);
    const properties: Record<string, JsonObject> = {};
    const required: string[] = [];
    // References ("#/$defs/…") resolve against the whole document, so each parameter's
    // definitions move up to the top.
    const defs: JsonObject = {};
    for (const [name, spec] of Object.entries(schema)) {
      const { $schema: _ignored, $defs, ...property } = isZod(spec) ? zodJsonSchema(spec) : spec.jsonSchema();
      Object.assign(defs, $defs);
      properties[name] = property;
      if (!isZod(spec) || !spec.safeParse(undefined).success) required.push(name);
    }
    return {
      type: "object",
      properties,
      required,
      additionalProperties: false,
      ...(Object.keys(defs).length > 0 ? { $defs: defs } : {}),
    };
  }

  decode(json: unknown): ParametersOf<S> {
    const schema = this.schema;
    if (!schema) return (json ?? {}) as ParametersOf<S>;
    if (isZod(schema)) {
      const result = schema.safeParse(json ?? {});
      if (!result.success) throw invalid(this.what, zodIssues(result.error, ""));
      return result.data as ParametersOf<S>;
    }
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw invalid(this.what, [{ path: "", message: "parameters must be an object" }]);
    }
    const input = json as Record<string, unknown>;
    const issues: FieldIssue[] = Object.keys(input)
      .filter((name) => !(name in schema))
      .map((name) => ({ path: name, message: "is not a parameter of this flow" }));
    const output: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries(schema)) {
      if (isZod(spec)) {
        const result = spec.safeParse(input[name]);
        if (result.success) output[name] = result.data;
        else issues.push(...zodIssues(result.error, name));
      } else {
        try {
          output[name] = spec.decode(input[name], name);
        } catch (error) {
          const baton = BatonError.from(error);
          issues.push(...(baton.issues ?? [{ path: name, message: baton.message }]));
        }
      }
    }
    if (issues.length > 0) throw invalid(this.what, issues);
    return output as ParametersOf<S>;
  }

  /** Checks values passed from code and applies zod defaults; typed codec values pass as they are. */
  fromCode(input: ParametersInput<S> | undefined): ParametersOf<S> {
    const schema = this.schema;
    if (!schema) return (input ?? {}) as ParametersOf<S>;
    if (isZod(schema)) return this.decode(input);
    const values: Record<string, unknown> = { ...input };
    const issues: FieldIssue[] = [];
    const output: Record<string, unknown> = { ...values };
    for (const [name, spec] of Object.entries(schema)) {
      if (!isZod(spec)) continue;
      const result = spec.safeParse(values[name]);
      if (result.success) output[name] = result.data;
      else issues.push(...zodIssues(result.error, name));
    }
    if (issues.length > 0) throw invalid(this.what, issues);
    return output as ParametersOf<S>;
  }

  encode(value: ParametersOf<S>): JsonObject {
    const schema = this.schema;
    if (!schema || isZod(schema)) return JSON.parse(JSON.stringify(value ?? {})) as JsonObject;
    const output: JsonObject = {};
    for (const [name, raw] of Object.entries(value as Record<string, unknown>)) {
      const spec = schema[name];
      const encoded = spec && !isZod(spec) ? spec.encode(raw) : raw;
      output[name] = JSON.parse(JSON.stringify(encoded ?? null)) as JsonObject[string];
    }
    return output;
  }
}
