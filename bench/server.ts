/**
 * Servers for tracked benchmarks: a real Baton server over a throwaway database (SQLite file, or a new
 * PostgreSQL database when BATON_BENCH_DATABASE_URL or BATON_TEST_DATABASE_URL is set), started either
 * in this process or in a child process of its own.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { throwawayDatabase as createThrowawayDatabase, type DatabaseKind } from "../test/databases.js";
import { startServer } from "@baton/server";

export type { DatabaseKind };
/** "in-process": the server shares the client's event loop; "process": a child Node process. */
export type ServerMode = "in-process" | "process";

/** The PostgreSQL server to create throwaway databases on, if any. */
export const POSTGRES_URL =
  process.env.BATON_BENCH_DATABASE_URL || process.env.BATON_TEST_DATABASE_URL || undefined;

export const DATABASES: DatabaseKind[] = POSTGRES_URL ? ["sqlite", "postgres"] : ["sqlite"];

/** A new empty database, made as the tests make theirs. */
const throwawayDatabase = (kind: DatabaseKind) =>
  createThrowawayDatabase(kind, { postgresUrl: POSTGRES_URL, prefix: "baton-bench" });

export interface BenchServer {
  apiUrl: string;
  database: DatabaseKind;
  /** The store's URL, for measurements read straight from it. */
  databaseUrl: string;
  mode: ServerMode;
  /** The server's process id (this process's when in-process), for its memory. */
  pid: number;
  stop(): Promise<void>;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), "server-process.mjs");

export async function startBenchServer(database: DatabaseKind, mode: ServerMode): Promise<BenchServer> {
  const db = await throwawayDatabase(database);
  const home = mkdtempSync(join(tmpdir(), "baton-bench-home-"));
  const cleanUp = async () => {
    await db.drop();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    if (mode === "in-process") {
      const server = await startServer({
        host: "127.0.0.1",
        port: 0,
        databaseUrl: db.url,
        home,
        apiKey: undefined,
      });
      return {
        apiUrl: server.apiUrl,
        databaseUrl: db.url,
        pid: process.pid,
        database,
        mode,
        stop: async () => {
          await server.close();
          await cleanUp();
        },
      };
    }
    const child = await startChild(db.url, home);
    return {
      apiUrl: child.apiUrl,
      databaseUrl: db.url,
      pid: child.pid,
      database,
      mode,
      stop: async () => {
        await child.stop();
        await cleanUp();
      },
    };
  } catch (error) {
    await cleanUp();
    throw error;
  }
}

export interface BenchReplicas {
  /** Each server's API URL, e.g. http://127.0.0.1:4321/api */
  apiUrls: string[];
  stop(): Promise<void>;
}

/**
 * `count` servers in processes of their own on one new PostgreSQL database, started together, as the
 * replicas behind a load balancer are.
 */
export async function startBenchReplicas(count: number): Promise<BenchReplicas> {
  const db = await throwawayDatabase("postgres");
  const homes = Array.from({ length: count }, () => mkdtempSync(join(tmpdir(), "baton-bench-home-")));
  const started = await Promise.allSettled(homes.map((home) => startChild(db.url, home)));
  const children = started.flatMap((result) => (result.status === "fulfilled" ? [result.value] : []));
  const stop = async () => {
    await Promise.all(children.map((child) => child.stop()));
    await db.drop();
    for (const home of homes) rmSync(home, { recursive: true, force: true });
  };
  const failed = started.find((result) => result.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  return { apiUrls: children.map((child) => child.apiUrl), stop };
}

/**
 * Runs bench/server-process.mjs on the built server (as users run it) and waits for its URL.
 * BATON_BENCH_SERVER_NODE_ARGS adds Node flags to it, e.g. `--cpu-prof --cpu-prof-dir=DIR` for a
 * profile of the server's side (read it with bench/profile.ts).
 */
async function startChild(
  databaseUrl: string,
  home: string,
): Promise<{ apiUrl: string; pid: number; stop(): Promise<void> }> {
  const nodeArgs = process.env.BATON_BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, CHILD, databaseUrl, home], {
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, BATON_API_KEY: "" },
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const lines = createInterface({ input: child.stdout });
  const apiUrl = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) =>
      reject(new Error(`the server process exited with ${code} before listening`)),
    );
    lines.once("line", (line) => resolve((JSON.parse(line) as { apiUrl: string }).apiUrl));
  });
  return {
    apiUrl,
    pid: child.pid!,
    stop: async () => {
      // Closing stdin asks the child to close its server and exit.
      child.stdin.end();
      await exited;
    },
  };
}
