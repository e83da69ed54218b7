import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { startProcess, type TestProcess } from "../../../test/processes.js";

// The CLI from its sources, as `baton server start` runs: an error nobody handles ends this process.
const CLI = fileURLToPath(new URL("../../cli/src/bin.ts", import.meta.url));

/** `baton server start` on a free port as a child process of the test. */
export interface ServerProcess {
  process: TestProcess;
  /** e.g. http://127.0.0.1:4321/api */
  apiUrl: string;
  /** The process's resident memory now, in bytes. */
  rss(): number;
  /** Whether the process is still running. */
  alive(): boolean;
  stop(): Promise<void>;
}

/** `port`: a fixed one, for a server started again where its clients look for it (0: any free port). */
export async function startServerProcess(databaseUrl: string, port = 0): Promise<ServerProcess> {
  const home = mkdtempSync(join(tmpdir(), "baton-home-"));
  const child = startProcess(
    [CLI, "server", "start", "--port", String(port), "--database-url", databaseUrl],
    {
      env: { BATON_HOME: home, BATON_API_KEY: "", NO_COLOR: "1" },
    },
  );
  const line = await child.waitForLine(/API:\s+http:\/\/\S+/);
  const apiUrl = /(http:\/\/\S+)/.exec(line)![1]!;
  const pid = child.child.pid!;
  return {
    process: child,
    apiUrl,
    rss: () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024,
    alive: () => child.child.exitCode === null && child.child.signalCode === null,
    stop: async () => {
      await child.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
