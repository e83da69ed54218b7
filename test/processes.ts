import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { createInterface } from "node:readline";

/** A real child process whose output lines can be awaited. */
export interface TestProcess {
  child: ChildProcess;
  /** Every line printed so far, stdout and stderr. */
  lines: string[];
  /** Resolves with the first line (already printed or to come) that matches. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Resolves with the exit code (or the signal's name). */
  exited: Promise<number | string>;
  /** SIGTERM, then waits for the exit. */
  stop(): Promise<number | string>;
}

/**
 * Runs a script under Node: by default a TypeScript file with the workspace's sources; with
 * `built: true` a built script (the `baton` binary) exactly as users run it; with `command`, that
 * program instead of Node (haproxy).
 */
export function startProcess(
  args: string[],
  options: {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    detached?: boolean;
    built?: boolean;
    command?: string;
  } = {},
): TestProcess {
  const flags = options.built || options.command ? [] : ["--conditions=source", "--import", "tsx"];
  const child = spawn(options.command ?? process.execPath, [...flags, ...args], {
    env: { ...process.env, ...options.env },
    cwd: options.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    detached: options.detached ?? false,
  });
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on("line", (line) => {
      lines.push(line);
      if (process.env.BATON_TEST_VERBOSE) console.log(`[child ${child.pid}] ${line}`);
      for (const waiter of waiters.filter((entry) => entry.pattern.test(line))) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(line);
      }
    });
  }
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown")),
  );
  return {
    child,
    lines,
    exited,
    waitForLine: (pattern) => {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise<string>((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then((code) =>
          reject(new Error(`process exited (${code}) before printing ${pattern}:\n${lines.join("\n")}`)),
        );
      });
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      return exited;
    },
  };
}

/** A port nobody listens on now, for a process that must be told its port before it starts. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
