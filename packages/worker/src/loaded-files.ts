// Which of a project's files a runner process imported, and whether any changed since: a runner that
// imported a deployment's code ahead of its run must not carry out a run with code edited after it.
import { statSync } from "node:fs";
import { createRequire, register } from "node:module";
import { MessageChannel, receiveMessageOnPort } from "node:worker_threads";

/** Files by path, with their modification time (ms) when they were read; null: there was none. */
export type LoadedFiles = Record<string, number | null>;

/** Libraries installed in node_modules change only with an install, which a worker's runs share. */
const LIBRARIES = "/node_modules/";
const isProjectFile = (path: string) => !path.includes(LIBRARIES);

/** The file's modification time, or null when there is no such file. */
export const modifiedAt = (path: string): number | null =>
  statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? null;

// Runs in Node's module-hooks thread, after the hooks registered earlier (a TypeScript loader's):
// notes each project file an ES module import reads, with its time as it is read.
const HOOKS = `
import { statSync } from "node:fs";
import { fileURLToPath } from "node:url";
let port;
export function initialize(data) { port = data.port; }
export async function load(url, context, next) {
  if (url.startsWith("file:") && !url.includes(${JSON.stringify(LIBRARIES)})) {
    const path = fileURLToPath(url);
    const mtime = statSync(path, { throwIfNoEntry: false })?.mtimeMs;
    if (mtime !== undefined) port.postMessage([path, mtime]);
  }
  return next(url, context);
}`;

/**
 * Starts noting the project files this process imports from now on; the function returned gives
 * those imported so far (ES modules through the hooks, CommonJS from the require cache).
 */
export function trackLoadedFiles(): () => LoadedFiles {
  const { port1, port2 } = new MessageChannel();
  port1.unref();
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`, {
    data: { port: port2 },
    transferList: [port2],
  });
  const before = new Set(Object.keys(createRequire(import.meta.url).cache));
  const loaded: LoadedFiles = {};
  return () => {
    for (let message; (message = receiveMessageOnPort(port1));) {
      const [path, mtime] = message.message as [string, number];
      loaded[path] ??= mtime;
    }
    for (const path of Object.keys(createRequire(import.meta.url).cache)) {
      if (before.has(path) || !isProjectFile(path) || path in loaded) continue;
      loaded[path] = modifiedAt(path);
    }
    return loaded;
  };
}

/** Whether any of the files was changed (or removed) since it was read. */
export function changedSince(files: LoadedFiles): boolean {
  return Object.entries(files).some(([path, mtime]) => modifiedAt(path) !== mtime);
}
