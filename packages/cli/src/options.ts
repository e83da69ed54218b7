import { readFileSync } from "node:fs";
import { InvalidArgumentError } from "commander";
import { BatonError, Id, jsonOrString, type JsonObject } from "@baton/core";

/** A whole number ≥ 0, for limits and priorities. */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`'${value}' is not a whole number`);
  }
  return n;
}

/** A whole number ≥ 1. */
export function parsePositive(value: string): number {
  const n = parseCount(value);
  if (n < 1) throw new InvalidArgumentError(`'${value}' must be at least 1`);
  return n;
}

/** A parser of ids of one kind ("flow run"), checked here so that a typo is named as such. */
export const parseId =
  (kind: string) =>
  (value: string): string => {
    if (!Id.safeParse(value).success)
      throw new InvalidArgumentError(`'${value}' is not a ${kind} id (a UUID)`);
    return value;
  };

/** Collects a repeatable option into a list. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** `key=value`, the value parsed as JSON when it parses, else kept as a string. */
export const parseParam = (pair: string): [string, JsonObject[string]] => parseKeyValue(pair, "--param");

/** `key=value` given to `option`, the value parsed as JSON when it parses, else kept as a string. */
export function parseKeyValue(pair: string, option: string): [string, JsonObject[string]] {
  const eq = pair.indexOf("=");
  if (eq <= 0) throw new InvalidArgumentError(`${option} '${pair}' is not key=value`);
  return [pair.slice(0, eq), jsonOrString(pair.slice(eq + 1))];
}

/** `--params '{"a": 1}'` merged with `--param a=1` (the single ones win). */
export function parseParameters(params: string | undefined, param: string[] = []): JsonObject {
  let parameters: JsonObject = {};
  if (params !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(params);
    } catch (error) {
      throw new InvalidArgumentError(
        `--params is not valid JSON: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new InvalidArgumentError(`--params must be a JSON object, like '{"name": "value"}'`);
    }
    parameters = parsed as JsonObject;
  }
  for (const pair of param) {
    const [key, value] = parseParam(pair);
    parameters[key] = value;
  }
  return parameters;
}

/** The JSON object a file holds (`what` says what it should be, for the error). */
export function readJsonObjectFile(file: string, what: string): JsonObject {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String(error);
    throw new BatonError("invalid_argument", `cannot read '${file}': ${reason}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new BatonError("invalid_argument", `'${file}' is not JSON: ${(error as Error).message}`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new BatonError("invalid_argument", `'${file}' must hold one JSON object: ${what}`);
  }
  return value as JsonObject;
}
