// The real processes a chaos scenario runs and harms: `baton server start`, `baton worker start` and a
// serve process, each from the workspace's sources, as a child of the runner.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startProcess, type TestProcess } from "../test/processes.js";

export const root = fileURLToPath(new URL("..", import.meta.url));
export const CLI = fileURLToPath(new URL("../packages/cli/src/bin.ts", import.meta.url));
const SERVE = fileURLToPath(new URL("./serve.ts", import.meta.url));

/** Short heartbeat settings, so that a crash is noticed in seconds. */
export const HEARTBEAT_TIMEOUT_SECONDS = 3;
export const SERVICE_LOOP_SECONDS = 0.2;
export const FLOW_HEARTBEAT_SECONDS = 0.5;

/** Every process started, so that none outlives the runner. */
const started = new Set<TestProcess>();

/** Kills a process and, when it leads a group of its own, every process of the group. */
export function kill(child: TestProcess, signal: NodeJS.Signals = "SIGKILL"): void {
  const pid = child.child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
  }
}

export function killAll(): void {
  for (const child of started) kill(child);
  started.clear();
}

function track(child: TestProcess): TestProcess {
  started.add(child);
  void child.exited.then(() => started.delete(child));
  return child;
}

export const quiet = { BATON_API_KEY: "", NO_COLOR: "1", BATON_DEBUG: "" };

export interface ChaosServer {
  apiUrl: string;
  process: TestProcess;
  /** Starts it again on the same port and database (after a kill). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startServer(databaseUrl: string): Promise<ChaosServer> {
  // A port of its own, kept across restarts: its clients find it again.
  const port = await freePort();
  const home = mkdtempSync(join(tmpdir(), "baton-chaos-home-"));
  const launch = async () => {
    const child = track(
      startProcess([CLI, "server", "start", "--port", String(port), "--database-url", databaseUrl], {
        cwd: root,
        detached: true,
        env: {
          ...quiet,
          BATON_HOME: home,
          BATON_FLOW_RUN_HEARTBEAT_TIMEOUT_SECONDS: String(HEARTBEAT_TIMEOUT_SECONDS),
          BATON_SERVICE_LOOP_SECONDS: String(SERVICE_LOOP_SECONDS),
        },
      }),
    );
    await child.waitForLine(/API:\s+http:\/\/\S+/);
    return child;
  };
  const server: ChaosServer = {
    apiUrl: `http://127.0.0.1:${port}/api`,
    process: await launch(),
    restart: async () => {
      server.process = await launch();
    },
    stop: async () => {
      await server.process.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return server;
}

/** What every flow process needs: the API, the ledger, short heartbeats, patience across a restart. */
export function flowEnv(apiUrl: string, ledger: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...quiet,
    BATON_API_URL: apiUrl,
    BATON_CHAOS_LEDGER: ledger,
    BATON_HEARTBEAT_INTERVAL_SECONDS: String(FLOW_HEARTBEAT_SECONDS),
    BATON_REPORT_RETRY_SECONDS: "120",
    ...extra,
  };
}

/**
 * `baton worker start` in a process group of its own (its flow processes are its children, so a kill
 * of the group kills them too); resolves once it polls.
 */
export async function startWorker(
  pool: string,
  name: string,
  env: NodeJS.ProcessEnv,
  limit = 10,
): Promise<TestProcess> {
  const worker = track(
    startProcess(
      [CLI, "worker", "start", "--pool", pool, "--name", name, "--heartbeat-interval", "1"].concat([
        "--limit",
        String(limit),
      ]),
      { cwd: root, detached: true, env },
    ),
  );
  await worker.waitForLine(/^Worker '.*' started/);
  return worker;
}

/** A serve process of the chaos flow under a deployment name; resolves once it serves. */
export async function startServe(
  deployment: string,
  env: NodeJS.ProcessEnv,
  limit = 10,
): Promise<TestProcess> {
  const serving = track(startProcess([SERVE, deployment, String(limit)], { cwd: root, detached: true, env }));
  await serving.waitForLine(/^Serving /);
  return serving;
}

/** The pid of a flow process, from the worker's line `flow run '<name>' started (pid N)`. */
export function pidIn(line: string): number {
  const match = /\(pid (\d+)\)/.exec(line);
  if (!match) throw new Error(`no pid in '${line}'`);
  return Number(match[1]);
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
