import type { z } from "zod";

export type HttpMethod = "GET" | "POST" | "PATCH" | "PUT" | "DELETE";

/** One operation of the HTTP API. The server, the client and the OpenAPI document are all made from these. */
export interface RouteSpec {
  method: HttpMethod;
  /** Under /api, with `:name` path parameters. */
  path: string;
  summary: string;
  tag: string;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  /** null: the operation answers 204 with no body. */
  response: z.ZodType | null;
  /** Success status; 200 unless said. */
  status?: 200 | 201 | 204;
}

export const route = <const S extends RouteSpec>(spec: S): S => spec;

type InputPart<S, K extends "params" | "query" | "body"> = S extends { [P in K]: infer T extends z.ZodType }
  ? // Queries with only optional fields may be left out.
    K extends "query"
    ? { [P in K]?: z.input<T> }
    : { [P in K]: z.input<T> }
  : { [P in K]?: never };

/** What a caller passes to an operation. */
export type RouteInput<S extends RouteSpec> = InputPart<S, "params"> &
  InputPart<S, "query"> &
  InputPart<S, "body">;

/** What an operation answers. */
export type RouteOutput<S extends RouteSpec> = S["response"] extends z.ZodType
  ? z.output<S["response"]>
  : void;

/** What the server's handler receives: parsed and defaulted values. */
export interface RouteRequest<S extends RouteSpec> {
  params: S["params"] extends z.ZodType ? z.output<S["params"]> : Record<string, never>;
  query: S["query"] extends z.ZodType ? z.output<S["query"]> : Record<string, never>;
  body: S["body"] extends z.ZodType ? z.output<S["body"]> : undefined;
}

/** Fills `:name` parameters of a path. */
export function fillPath(path: string, params: Record<string, unknown> | undefined): string {
  return path.replace(/:([A-Za-z]+)/g, (_, key: string) => {
    const value = params?.[key];
    if (value === undefined || value === null)
      throw new TypeError(`missing path parameter '${key}' for ${path}`);
    return encodeURIComponent(typeof value === "string" ? value : JSON.stringify(value));
  });
}
