import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { BatonError } from "@baton/core";
import type { Flow } from "./flow.js";

/** Splits `path/to/module.ts:exportName`; the export name defaults to `default`. */
export function parseEntrypoint(entrypoint: string): { file: string; exportName: string } {
  const colon = entrypoint.lastIndexOf(":");
  // A colon right after a drive letter or with nothing after it names no export.
  if (colon <= 1 || colon === entrypoint.length - 1) return { file: entrypoint, exportName: "default" };
  return { file: entrypoint.slice(0, colon), exportName: entrypoint.slice(colon + 1) };
}

const isFlow = (value: unknown): value is Flow<never, unknown> =>
  typeof value === "function" && typeof (value as { runFromJson?: unknown }).runFromJson === "function";

/**
 * Imports the module an entrypoint names (relative to `cwd`) and returns the flow it exports.
 * TypeScript modules load when the process runs with a TypeScript loader such as tsx.
 */
export async function loadFlow(entrypoint: string, cwd = process.cwd()): Promise<Flow<never, unknown>> {
  const { file, exportName } = parseEntrypoint(entrypoint);
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  if (!existsSync(path)) {
    throw new BatonError("invalid_argument", `entrypoint '${entrypoint}': no file ${path}`);
  }
  const module = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  const value = module[exportName];
  if (!isFlow(value)) {
    const flows = Object.keys(module).filter((key) => isFlow(module[key]));
    throw new BatonError(
      "invalid_argument",
      `entrypoint '${entrypoint}': ${path} exports no flow named '${exportName}'` +
        (flows.length > 0 ? `; it exports ${flows.map((name) => `'${name}'`).join(", ")}` : ""),
    );
  }
  return value;
}
