/** Where result files go: bench/results/ (git-ignored). */
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "results");

const stamp = () => new Date().toISOString().replace(/[:.]/g, "-");

/** A new file name under bench/results/, e.g. task-overhead-2025-01-01T00-00-00-000Z.json. */
export function resultPath(name: string, extension: string): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  return join(RESULTS_DIR, `${name}-${stamp()}.${extension}`);
}
