import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export type DatabaseKind = "sqlite" | "postgres";

export interface ThrowawayDatabase {
  url: string;
  drop(): Promise<void>;
}

async function adminQuery(adminUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A new empty database: a SQLite file in a temporary folder, or a new database on the PostgreSQL
 * server at `postgresUrl`. Used by the tests and the benchmarks alike.
 */
export async function throwawayDatabase(
  kind: DatabaseKind,
  options: { postgresUrl: string | undefined; prefix: string },
): Promise<ThrowawayDatabase> {
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), `${options.prefix}-`));
    return { url: join(dir, "baton.db"), drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const admin = options.postgresUrl;
  if (!admin) throw new Error("no PostgreSQL server: set BATON_TEST_DATABASE_URL");
  const name = `${options.prefix.replace(/-/g, "_")}_${randomBytes(6).toString("hex")}`;
  await adminQuery(admin, `CREATE DATABASE ${name}`);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => adminQuery(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}
