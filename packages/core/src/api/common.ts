import { z } from "zod";

export const Id = z.uuid();
export const Timestamp = z.iso.datetime({ offset: true });
export const JsonObject = z.record(z.string(), z.json());
export type JsonObject = z.infer<typeof JsonObject>;

/**
 * A value a person typed (on the command line, in the dashboard): JSON when it parses (`3`, `true`,
 * `"3"`, `[1]`), else the text itself as a string, as Prefect's CLI reads values.
 */
export function jsonOrString(text: string): JsonObject[string] {
  try {
    return JSON.parse(text) as JsonObject[string];
  } catch {
    return text;
  }
}

/** Names of flows, deployments, pools, queues, tags and the like: no slash, since "flow/deployment" addresses. */
export const Name = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^/\s][^/]*$/, "must not be empty, start with a space, or contain '/'");

export const Tags = z.array(z.string().min(1).max(200)).max(100);

export const Limit = z.coerce.number().int().min(1).max(1000).default(50);
export const Offset = z.coerce.number().int().min(0).default(0);

/** A page of results; `nextOffset` is null on the last page. */
export function page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextOffset: z.number().int().nullable() });
}
export interface Page<T> {
  items: T[];
  nextOffset: number | null;
}

export const Timestamps = { created: Timestamp, updated: Timestamp };

/** Query values arrive as strings; lists are comma-separated. */
export const CsvList = <T extends z.ZodType>(item: T) =>
  z.preprocess(
    (value) => (typeof value === "string" ? value.split(",").filter(Boolean) : value),
    z.array(item),
  );

export const QueryBoolean = z.enum(["true", "false"]).transform((value) => value === "true");
