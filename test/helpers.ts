import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { throwawayDatabase as createThrowawayDatabase, type ThrowawayDatabase } from "./databases.js";
import { BatonClient } from "@baton/client";
import { startServer, type LogStream, type RunningServer, type ServerSettings } from "@baton/server";

/** The PostgreSQL server the PostgreSQL suites use; unset means they are skipped (and say so). */
export const TEST_POSTGRES_URL = process.env.BATON_TEST_DATABASE_URL;

export type TestDialect = "sqlite" | "postgres";

/** The dialects to run a suite on: SQLite always, PostgreSQL when BATON_TEST_DATABASE_URL is set. */
export const DIALECTS: TestDialect[] = TEST_POSTGRES_URL ? ["sqlite", "postgres"] : ["sqlite"];

if (!TEST_POSTGRES_URL && !process.env.BATON_TEST_QUIET) {
  console.warn(
    "BATON_TEST_DATABASE_URL is not set: the PostgreSQL runs of the store and API suites are SKIPPED.",
  );
}

export type { ThrowawayDatabase };

/** A new empty database of the given kind for one suite. */
export const throwawayDatabase = (dialect: TestDialect): Promise<ThrowawayDatabase> =>
  createThrowawayDatabase(dialect, { postgresUrl: TEST_POSTGRES_URL, prefix: "baton-test" });

/**
 * Every test server encrypts secrets with this key (unless its settings say otherwise), so that a
 * restart over a shared database reads them, as servers sharing a database share BATON_SECRETS_KEY.
 */
export const TEST_SECRETS_KEY = Buffer.alloc(32, 7).toString("base64");

export interface TestServer extends RunningServer {
  client: BatonClient;
  database: ThrowawayDatabase;
  stop(): Promise<void>;
}

/**
 * A real server on a free port over a throwaway database, or over `shared` (a restart, or a second
 * server on the same database): a shared database is left for its owner to drop.
 */
export async function startTestServer(
  dialect: TestDialect,
  settings: Partial<ServerSettings> & { logStream?: LogStream } = {},
  shared?: ThrowawayDatabase,
): Promise<TestServer> {
  const database = shared ?? (await throwawayDatabase(dialect));
  const home = mkdtempSync(join(tmpdir(), "baton-home-"));
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    databaseUrl: database.url,
    home,
    apiKey: undefined,
    secretsKey: TEST_SECRETS_KEY,
    ...settings,
  });
  const client = new BatonClient({
    url: server.apiUrl,
    ...(settings.apiKey ? { apiKey: settings.apiKey } : {}),
  });
  return {
    ...server,
    client,
    database,
    stop: async () => {
      await server.close();
      if (!shared) await database.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
