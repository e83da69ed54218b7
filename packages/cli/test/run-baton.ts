import { execFile, spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";

// The built binary, exactly as `npx baton` runs it (build before running the suite).
export const BATON = fileURLToPath(new URL("../bin/baton.js", import.meta.url));

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const envFor = (apiUrl: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({
  ...process.env,
  BATON_API_URL: apiUrl,
  BATON_API_KEY: "",
  BATON_DEBUG: "",
  NO_COLOR: "",
  ...extra,
});

/** A command still running after this long is killed, so that a hang fails its test and says so. */
const TIMEOUT_MS = 25_000;

/** Runs `baton …args` with exactly `env` (in `cwd`, else the tests' directory); never rejects. */
function runBaton(env: NodeJS.ProcessEnv, args: string[], cwd?: string): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BATON, ...args],
      { env, cwd, timeout: TIMEOUT_MS },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({
          code,
          stdout,
          stderr: error?.killed ? `${stderr}(killed after ${TIMEOUT_MS} ms)` : stderr,
        });
      },
    );
  });
}

/**
 * Runs `baton …args` against the API at `apiUrl` (with `env` added to the environment, in `cwd` when
 * given); never rejects.
 */
export function batonAt(
  apiUrl: string,
  env: NodeJS.ProcessEnv = {},
  cwd?: string,
): (...args: string[]) => Promise<Result> {
  return (...args) => runBaton(envFor(apiUrl, env), args, cwd);
}

/** Starts `baton …args` and leaves it running. */
export function spawnBaton(apiUrl: string, ...args: string[]): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [BATON, ...args], { env: envFor(apiUrl) });
}

/** The JSON a command printed. */
export function json<T = unknown>(result: Result): T {
  if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}

/** An error in one line, `error: …`, with no stack trace. */
export function oneLineError(result: Result): string {
  const lines = result.stderr.trim().split("\n");
  if (result.code === 0) throw new Error(`expected a failure, got: ${result.stdout}`);
  if (!lines[0]?.startsWith("error: ")) throw new Error(`not an error line: ${result.stderr}`);
  if (/\n\s+at /.test(result.stderr)) throw new Error(`stack trace printed: ${result.stderr}`);
  return lines[0];
}

/** Runs `baton …args` with BATON_HOME at `home` and no Baton settings in the environment but `env`'s. */
export function batonHome(home: string, env: NodeJS.ProcessEnv = {}): (...args: string[]) => Promise<Result> {
  const base: NodeJS.ProcessEnv = { ...process.env, BATON_DEBUG: "", NO_COLOR: "" };
  for (const key of Object.keys(base)) if (key.startsWith("BATON_")) delete base[key];
  return (...args) => runBaton({ ...base, BATON_HOME: home, ...env }, args);
}
