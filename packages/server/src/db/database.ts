import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import SQLite from "better-sqlite3";
import {
  CamelCasePlugin,
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresAdapter,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
} from "kysely";
import pg from "pg";
import { BatonError } from "@baton/core";
import { ResilientKysely, ResilientPostgresDialect } from "./connection-loss.js";
import { prepareStatements } from "./prepared-statements.js";
import { migrationProvider } from "./migrations.js";
import type { Database } from "./schema.js";

export type Dialect = "sqlite" | "postgres";

export interface Db {
  kysely: Kysely<Database>;
  dialect: Dialect;
  /** The URL without its password, for messages. */
  displayUrl: string;
  /** The connections open now, at most, idle and waited for (PostgreSQL's pool; SQLite has one). */
  connections(): ConnectionUse;
  /**
   * Gives the space of deleted rows back to the file system (SQLite's incremental vacuum; PostgreSQL's
   * autovacuum keeps it for new rows by itself). Returns the bytes given back.
   */
  reclaimSpace(): Promise<number>;
  close(): Promise<void>;
}

export interface ConnectionUse {
  open: number;
  max: number;
  /** Open and not in use; unknown on SQLite (one connection, used in turn). */
  idle?: number;
  /** Requests waiting for a connection; unknown on SQLite. */
  waiting?: number;
}

// PostgreSQL's bigint (count(*), bigserial) would otherwise arrive as a string.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/**
 * SQLite transactions start with BEGIN IMMEDIATE: they take the write lock at once and wait for it
 * (busy_timeout), instead of failing with "database is locked" when a read snapshot must upgrade.
 */
class ImmediateSqliteDriver extends SqliteDriver {
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw("begin immediate"));
  }
}

class ImmediateSqliteDialect extends SqliteDialect {
  readonly #config: ConstructorParameters<typeof SqliteDialect>[0];
  constructor(config: ConstructorParameters<typeof SqliteDialect>[0]) {
    super(config);
    this.#config = config;
  }
  override createDriver(): Driver {
    return new ImmediateSqliteDriver(this.#config);
  }
}

/**
 * better-sqlite3 keeping its prepared statements: Kysely prepares every query anew, which costs as
 * much as running it. Statements are reused by SQL text; the oldest go once there are too many
 * (IN lists of every length make distinct texts).
 */
function withStatementCache(sqlite: SQLite.Database, size = 1000) {
  const cache = new Map<string, SQLite.Statement>();
  return {
    close: () => sqlite.close(),
    prepare(sql: string): SQLite.Statement {
      let statement = cache.get(sql);
      if (!statement) {
        statement = sqlite.prepare(sql);
        if (cache.size >= size) cache.delete(cache.keys().next().value!);
        cache.set(sql, statement);
      }
      return statement;
    },
  };
}

const CONNECT_TIMEOUT_MS = 5000;

const isPostgres = (url: string) => /^postgres(ql)?:\/\//.test(url);

/** Connections a server's PostgreSQL pool opens at most, unless its settings say (BATON_DATABASE_POOL_SIZE). */
export const DEFAULT_POOL_SIZE = 10;

/**
 * Opens the store: a PostgreSQL URL, or a path to a SQLite file (":memory:" for a throwaway one).
 * `poolSize` bounds PostgreSQL's connections (SQLite has one).
 */
export function openDatabase(url: string, poolSize = DEFAULT_POOL_SIZE): Db {
  const plugins = [new CamelCasePlugin()];
  if (isPostgres(url)) {
    // A database that does not answer fails the connection attempt instead of holding the request.
    const pool = new pg.Pool({
      connectionString: url,
      max: poolSize,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    // A connection the database closes (a restart, an admin) must not crash the process. Idle, the
    // pool drops it; checked out, pg emits 'error' on the client itself (no listener of the pool's is
    // attached then): the statement in flight fails, the next one is refused, and the pool drops the
    // client when it comes back. connection-loss.ts decides what is tried again.
    pool.on("error", () => undefined);
    pool.on("connect", (client) => {
      client.on("error", () => undefined);
      prepareStatements(client);
    });
    const kysely = new ResilientKysely<Database>({
      dialect: new ResilientPostgresDialect({ pool }),
      plugins,
    });
    return {
      kysely,
      dialect: "postgres",
      displayUrl: url.replace(/:[^:@/]*@/, ":***@"),
      connections: () => ({
        open: pool.totalCount,
        max: poolSize,
        idle: pool.idleCount,
        waiting: pool.waitingCount,
      }),
      reclaimSpace: async () => 0,
      close: () => kysely.destroy(),
    };
  }
  const path = url.replace(/^sqlite:(\/\/)?/, "");
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const sqlite = new SQLite(path);
  // Takes effect in a new file only (before its first table); a file made before keeps its space
  // until a full VACUUM (docs/operations.md).
  sqlite.pragma("auto_vacuum = INCREMENTAL");
  sqlite.pragma("journal_mode = WAL");
  sqlite.pragma("synchronous = NORMAL");
  sqlite.pragma("foreign_keys = ON");
  sqlite.pragma("busy_timeout = 10000");
  const kysely = new Kysely<Database>({
    dialect: new ImmediateSqliteDialect({ database: withStatementCache(sqlite) }),
    plugins,
  });
  return {
    kysely,
    dialect: "sqlite",
    displayUrl: path,
    connections: () => ({ open: 1, max: 1 }),
    // On Kysely's connection, so it waits its turn instead of joining an open transaction; through
    // better-sqlite3's pragma(), which steps the statement to its end (one step frees one page).
    reclaimSpace: () =>
      kysely.connection().execute(async () => {
        const pageSize = sqlite.pragma("page_size", { simple: true }) as number;
        const bytes = () => (sqlite.pragma("page_count", { simple: true }) as number) * pageSize;
        const before = bytes();
        sqlite.pragma("incremental_vacuum");
        return before - bytes();
      }),
    close: () => kysely.destroy(),
  };
}

/** Brings the schema up to date; safe to run on every start and from several processes. */
export async function migrateToLatest(db: Db): Promise<void> {
  const migrator = new Migrator({ db: db.kysely, provider: migrationProvider(db.dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((result) => result.status === "Error")?.migrationName ?? "unknown";
    throw new BatonError(
      "internal",
      `database migration '${failed}' failed on ${db.displayUrl}: ${error instanceof Error ? error.message : JSON.stringify(error)}`,
      {
        cause: error,
      },
    );
  }
}

/**
 * What keeps the server from serving: the database not answering within `timeoutMs`, or migrations
 * not applied. Empty when ready. (`/api/health` says only that the process is up.)
 */
export async function readinessProblems(db: Db, timeoutMs = 2000): Promise<string[]> {
  const migrator = new Migrator({ db: db.kysely, provider: migrationProvider(db.dialect) });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timed out">((resolve) => {
    timer = setTimeout(() => resolve("timed out"), timeoutMs);
  });
  const check = migrator.getMigrations();
  check.catch(() => undefined); // a late failure after the timeout answered
  try {
    const migrations = await Promise.race([check, timedOut]);
    if (migrations === "timed out") {
      return [`the database at ${db.displayUrl} did not answer within ${timeoutMs / 1000} s`];
    }
    const pending = migrations.filter((migration) => !migration.executedAt).map((m) => m.name);
    if (pending.length === 0) return [];
    return [
      `${pending.length} schema migration(s) not applied on ${db.displayUrl} (${pending.join(", ")}): ` +
        "run 'baton server database upgrade' or restart the server",
    ];
  } catch (error) {
    const cause = error instanceof Error ? error.message : String(error);
    return [`the database at ${db.displayUrl} cannot be read: ${cause}`];
  } finally {
    clearTimeout(timer);
  }
}

/** Drops every table and migrates again: `baton server database reset`. */
export async function resetDatabase(db: Db): Promise<void> {
  const tables = await db.kysely.introspection.getTables({ withInternalKyselyTables: true });
  if (db.dialect === "sqlite") await sqlRaw(db, "PRAGMA foreign_keys = OFF");
  for (const table of tables) {
    const drop = db.kysely.schema.dropTable(table.name).ifExists();
    await (db.dialect === "postgres" ? drop.cascade() : drop).execute();
  }
  if (db.dialect === "sqlite") await sqlRaw(db, "PRAGMA foreign_keys = ON");
  await migrateToLatest(db);
}

async function sqlRaw(db: Db, text: string): Promise<void> {
  const { sql } = await import("kysely");
  await sql.raw(text).execute(db.kysely);
}

/** Turns constraint violations from either database into errors that name the problem. */
/** Whether statements go to PostgreSQL (a transaction's too), where one statement may write several tables. */
export const speaksPostgres = (db: Kysely<Database>): boolean =>
  db.getExecutor().adapter instanceof PostgresAdapter;

/** The row refers (by a foreign key) to one that does not exist. */
export function isForeignKeyError(error: unknown): boolean {
  const code = (error as { code?: string } | null)?.code;
  return code === "23503" || code === "SQLITE_CONSTRAINT_FOREIGNKEY";
}

export function constraintError(error: unknown, what: string): BatonError | undefined {
  const code = (error as { code?: string } | null)?.code;
  if (code === "23505" || code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return new BatonError("already_exists", `${what} already exists`, { cause: error });
  }
  if (isForeignKeyError(error)) {
    return new BatonError("invalid_argument", `${what} refers to something that does not exist`, {
      cause: error,
    });
  }
  return undefined;
}
