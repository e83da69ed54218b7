import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { BatonClient } from "@baton/client";
import { startServer, type RunningServer, type ServerSettings } from "@baton/server";

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

export interface ThrowawayDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A new empty database: a SQLite file in a temporary folder, or a new PostgreSQL database. */
export async function throwawayDatabase(dialect: TestDialect): Promise<ThrowawayDatabase> {
  if (dialect === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "baton-test-"));
    return { url: join(dir, "baton.db"), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  if (!TEST_POSTGRES_URL) throw new Error("BATON_TEST_DATABASE_URL is not set");
  const name = `baton_test_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface TestServer extends RunningServer {
  client: BatonClient;
  database: ThrowawayDatabase;
  stop(): Promise<void>;
}

/** A real server on a free port over a throwaway database. */
export async function startTestServer(
  dialect: TestDialect,
  settings: Partial<ServerSettings> = {},
): Promise<TestServer> {
  const database = await throwawayDatabase(dialect);
  const home = mkdtempSync(join(tmpdir(), "baton-home-"));
  const server = await startServer({
    host: "127.0.0.1",
    port: 0,
    databaseUrl: database.url,
    home,
    apiKey: undefined,
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
      await database.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
