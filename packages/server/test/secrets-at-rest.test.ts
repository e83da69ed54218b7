import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DIALECTS,
  startTestServer,
  TEST_SECRETS_KEY,
  throwawayDatabase,
  type TestDialect,
  type ThrowawayDatabase,
} from "../../../test/helpers.js";
import { migrateToLatest, openDatabase } from "../src/db/database.js";
import { EventBus } from "../src/events.js";
import { loadSecretsKey, parseSecretsKey, secretsKeyFile } from "../src/secrets-key.js";
import { revealSecret, rotateSecretsKey } from "../src/store/secrets.js";

/** A webhook endpoint that says when a path is first posted to. */
class Receiver {
  readonly #arrived = new Map<string, () => void>();
  readonly #seen = new Set<string>();
  readonly #server: Server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      const path = request.url ?? "";
      this.#seen.add(path);
      this.#arrived.get(path)?.();
      response.end("ok");
    });
  });
  start = () => new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
  stop = () => new Promise<void>((resolve) => this.#server.close(() => resolve()));
  url = (path: string) => `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  posted(path: string): Promise<void> {
    if (this.#seen.has(path)) return Promise.resolve();
    return new Promise((resolve) => this.#arrived.set(path, resolve));
  }
}

const FAST = { serviceLoopSeconds: 0.1, actionRetrySeconds: 0.05, actionMaxAttempts: 20 } as const;
const OLD_KEY = randomBytes(32).toString("base64");
const NEW_KEY = randomBytes(32).toString("hex");

/** Everything the database holds, as text: the SQLite files' bytes, or the PostgreSQL table's rows. */
async function storedText(dialect: TestDialect, database: ThrowawayDatabase): Promise<string> {
  if (dialect === "sqlite") {
    const dir = dirname(database.url);
    return readdirSync(dir)
      .map((file) => readFileSync(join(dir, file)).toString("latin1"))
      .join("\n");
  }
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ row: string }>("select secrets::text as row from secrets");
    return rows.map((row) => row.row).join("\n");
  } finally {
    await client.end();
  }
}

/** The store as a server with `key` sees it, for reading secrets directly. */
async function withStore<T>(
  database: ThrowawayDatabase,
  work: (db: ReturnType<typeof openDatabase>) => Promise<T>,
): Promise<T> {
  const db = openDatabase(database.url);
  try {
    await migrateToLatest(db);
    return await work(db);
  } finally {
    await db.close();
  }
}

const reveal = (database: ThrowawayDatabase, keyText: string, name: string) =>
  withStore(database, (db) =>
    revealSecret({ db, events: new EventBus(), secretsKey: parseSecretsKey(keyText, "test key") }, name),
  );

describe.each(DIALECTS)("secrets at rest on %s", (dialect: TestDialect) => {
  const receiver = new Receiver();
  let database: ThrowawayDatabase;
  const token = `token-${randomBytes(8).toString("hex")}`;
  const legacyToken = `legacy-${randomBytes(8).toString("hex")}`;
  const hookPath = `/hooks/${token}`;
  const legacyPath = `/hooks/${legacyToken}`;

  beforeAll(async () => {
    await receiver.start();
    database = await throwawayDatabase(dialect);
  });
  afterAll(async () => {
    await receiver.stop();
    await database.drop();
  });

  /** A server on the suite's database with `key`, an automation posting to `secret` on every pool change, and one change. */
  async function delivers(key: string, secret: string, path: string): Promise<void> {
    const server = await startTestServer(dialect, { ...FAST, secretsKey: key }, database);
    try {
      const arrived = receiver.posted(path);
      await server.client.api.createAutomation({
        body: {
          name: `post-${secret}`,
          trigger: { events: ["work-pool.updated"], workPools: [`pool-${secret}`] },
          actions: [{ type: "webhook", secret }],
        },
      });
      await server.client.api.createWorkPool({ body: { name: `pool-${secret}` } });
      await arrived;
    } finally {
      await server.stop();
    }
  }

  it("encrypts secrets stored in plain text by an earlier version when it starts", async () => {
    await withStore(database, async (db) => {
      const now = new Date().toISOString();
      await db.kysely
        .insertInto("secrets")
        .values({
          id: randomBytes(16).toString("hex"),
          name: "legacy",
          value: receiver.url(legacyPath),
          created: now,
          updated: now,
        })
        .execute();
    });
    expect(await storedText(dialect, database)).toContain(legacyToken);
    await delivers(OLD_KEY, "legacy", legacyPath);
    expect(await storedText(dialect, database)).not.toContain(legacyToken);
  });

  it("never stores a value in clear, and notifications still read it", async () => {
    const server = await startTestServer(dialect, { ...FAST, secretsKey: OLD_KEY }, database);
    try {
      const secret = await server.client.api.setSecret({
        body: { name: "hook", value: receiver.url(hookPath) },
      });
      expect(secret.valueLength).toBe(receiver.url(hookPath).length);
    } finally {
      await server.stop();
    }
    const stored = await storedText(dialect, database);
    expect(stored).not.toContain(token);
    expect(stored).toMatch(/v1:[0-9a-f]{8}:[A-Za-z0-9+/]+=*/);
    await delivers(OLD_KEY, "hook", hookPath);
  });

  it("gives a clear error, not garbage, for a wrong key or a value moved to another secret", async () => {
    await expect(reveal(database, TEST_SECRETS_KEY, "hook")).rejects.toThrow(
      /secret 'hook' was encrypted with secrets key [0-9a-f]{8}, but this server's key is [0-9a-f]{8}: give the server the key/,
    );
    await withStore(database, async (db) => {
      const { value } = await db.kysely
        .selectFrom("secrets")
        .select("value")
        .where("name", "=", "hook")
        .executeTakeFirstOrThrow();
      await db.kysely.updateTable("secrets").set({ value }).where("name", "=", "legacy").execute();
    });
    await expect(reveal(database, OLD_KEY, "legacy")).rejects.toThrow(
      /secret 'legacy' does not decrypt with secrets key [0-9a-f]{8}: its stored value was altered or copied/,
    );
    await withStore(database, (db) => db.kysely.deleteFrom("secrets").where("name", "=", "legacy").execute());
  });

  it("rotates the key: every secret opens with the new key, none with the old", async () => {
    const count = await withStore(database, (db) =>
      rotateSecretsKey(db, parseSecretsKey(OLD_KEY, "old"), parseSecretsKey(NEW_KEY, "new")),
    );
    expect(count).toBe(1);
    expect(await reveal(database, NEW_KEY, "hook")).toBe(receiver.url(hookPath));
    await expect(reveal(database, OLD_KEY, "hook")).rejects.toThrow(/was encrypted with secrets key/);
    expect(await storedText(dialect, database)).not.toContain(token);
  });

  it("rotates nothing when the current key does not open a secret", async () => {
    const before = await storedText(dialect, database);
    await expect(
      withStore(database, (db) =>
        rotateSecretsKey(db, parseSecretsKey(OLD_KEY, "old"), parseSecretsKey(TEST_SECRETS_KEY, "new")),
      ),
    ).rejects.toThrow(/secret 'hook' was encrypted with secrets key/);
    expect(await reveal(database, NEW_KEY, "hook")).toBe(receiver.url(hookPath));
    if (dialect === "postgres") expect(await storedText(dialect, database)).toBe(before);
  });
});

describe("the secrets key", () => {
  const homes: string[] = [];
  const home = () => {
    const dir = mkdtempSync(join(tmpdir(), "baton-key-"));
    homes.push(dir);
    return dir;
  };
  afterAll(() => homes.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it("says what is wrong with a malformed BATON_SECRETS_KEY", () => {
    expect(() => parseSecretsKey("c2hvcnQ=", "BATON_SECRETS_KEY")).toThrow(
      "BATON_SECRETS_KEY is not a secrets key: it is base64 of 5 bytes, and a key is 32 bytes",
    );
    expect(() => parseSecretsKey("not a key!", "BATON_SECRETS_KEY")).toThrow(
      /BATON_SECRETS_KEY is not a secrets key: a key is 32 bytes written as 64 hex digits or as base64/,
    );
    expect(parseSecretsKey(NEW_KEY, "hex").bytes).toEqual(Buffer.from(NEW_KEY, "hex"));
    expect(parseSecretsKey(OLD_KEY, "base64").bytes).toEqual(Buffer.from(OLD_KEY, "base64"));
  });

  it("is created on first start as a file only its owner can read, and read again on the next", async () => {
    const dir = home();
    const first = loadSecretsKey({ secretsKey: undefined, home: dir });
    expect(statSync(secretsKeyFile(dir)).mode & 0o777).toBe(0o600);
    expect(loadSecretsKey({ secretsKey: undefined, home: dir }).id).toBe(first.id);
  });

  it.skipIf(process.platform === "win32")("refuses a key file that others may read", async () => {
    const dir = home();
    loadSecretsKey({ secretsKey: undefined, home: dir });
    chmodSync(secretsKeyFile(dir), 0o644);
    const database = await throwawayDatabase("sqlite");
    try {
      await expect(startTestServer("sqlite", { secretsKey: undefined, home: dir }, database)).rejects.toThrow(
        `the secrets key file ${secretsKeyFile(dir)} can be read by other users (mode 0644); make it private with 'chmod 600`,
      );
    } finally {
      await database.drop();
    }
  });

  it("refuses to start with a malformed BATON_SECRETS_KEY", async () => {
    const database = await throwawayDatabase("sqlite");
    try {
      await expect(startTestServer("sqlite", { secretsKey: "0123" }, database)).rejects.toThrow(
        /BATON_SECRETS_KEY is not a secrets key/,
      );
    } finally {
      await database.drop();
    }
  });
});
