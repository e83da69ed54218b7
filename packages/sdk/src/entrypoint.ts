import { AsyncLocalStorage } from "node:async_hooks";
import { existsSync, realpathSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { BatonError } from "@baton/core";
import type { Flow } from "./flow.js";
import type { Task } from "./task.js";

/** Splits `path/to/module.ts:exportName`; the export name defaults to `default`. */
export function parseEntrypoint(entrypoint: string): { file: string; exportName: string } {
  const colon = entrypoint.lastIndexOf(":");
  // A colon right after a drive letter or with nothing after it names no export.
  if (colon <= 1 || colon === entrypoint.length - 1) return { file: entrypoint, exportName: "default" };
  return { file: entrypoint.slice(0, colon), exportName: entrypoint.slice(colon + 1) };
}

/** The entrypoint being imported by loadFlow, in the code its import runs (top-level awaits too). */
const importing = new AsyncLocalStorage<string>();

/**
 * Refuses a flow call made while loadFlow imports an entrypoint module: a module that runs a flow at
 * its top level would add a run nobody asked for at every `baton deploy` and every worker's run. As
 * Python's `if __name__ == "__main__"`, the call belongs behind a main-module check.
 */
export function refuseRunsWhileImporting(what: string): void {
  const entrypoint = importing.getStore();
  if (entrypoint === undefined) return;
  throw new BatonError(
    "invalid_argument",
    `${what} was called while its module was imported as the entrypoint '${entrypoint}': a module ` +
      "that deployments and workers import must not run flows when imported. Run it only when the " +
      "module is the program: `if (isMainModule(import.meta)) await myFlow(...)`, or from another file.",
  );
}

/**
 * Whether the module whose `import.meta` this is was started as the program (`node file.mjs`,
 * `tsx file.ts`), rather than imported: `import.meta.main` where Node has it (22.18, 24.2).
 */
export function isMainModule(meta: ImportMeta): boolean {
  const main = (meta as { main?: unknown }).main;
  if (typeof main === "boolean") return main;
  const program = process.argv[1];
  if (!program) return false;
  try {
    return realpathSync(fileURLToPath(meta.url)) === realpathSync(resolve(program));
  } catch {
    return false;
  }
}

const isFlow = (value: unknown): value is Flow<never, unknown> =>
  typeof value === "function" && typeof (value as { runFromJson?: unknown }).runFromJson === "function";

/**
 * Imports the module an entrypoint names (relative to `cwd`) and returns the flow it exports.
 * TypeScript modules load when the process runs with a TypeScript loader such as tsx. A flow the
 * module calls while it is imported is refused (see refuseRunsWhileImporting).
 */
export function loadFlow(entrypoint: string, cwd = process.cwd()): Promise<Flow<never, unknown>> {
  return loadExport(entrypoint, cwd, "flow", isFlow);
}

const isTask = (value: unknown): value is Task<never, unknown> =>
  typeof value === "function" && typeof (value as { delay?: unknown }).delay === "function";

/** Imports the module an entrypoint names (relative to `cwd`) and returns the task it exports. */
export function loadTask(entrypoint: string, cwd = process.cwd()): Promise<Task<never, unknown>> {
  return loadExport(entrypoint, cwd, "task", isTask);
}

async function loadExport<T>(
  entrypoint: string,
  cwd: string,
  kind: string,
  is: (value: unknown) => value is T,
): Promise<T> {
  const { file, exportName } = parseEntrypoint(entrypoint);
  const path = isAbsolute(file) ? file : resolve(cwd, file);
  if (!existsSync(path)) {
    throw new BatonError("invalid_argument", `entrypoint '${entrypoint}': no file ${path}`);
  }
  const module = (await importing.run(entrypoint, () => import(pathToFileURL(path).href))) as Record<
    string,
    unknown
  >;
  const value = module[exportName];
  if (!is(value)) {
    const found = Object.keys(module).filter((key) => is(module[key]));
    throw new BatonError(
      "invalid_argument",
      `entrypoint '${entrypoint}': ${path} exports no ${kind} named '${exportName}'` +
        (found.length > 0 ? `; it exports ${found.map((name) => `'${name}'`).join(", ")}` : ""),
    );
  }
  return value;
}
