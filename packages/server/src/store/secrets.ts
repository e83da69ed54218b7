import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { sql, type Selectable } from "kysely";
import { BatonError, newId, notFound, type Secret, type SecretCreate } from "@baton/core";
import type { Db } from "../db/database.js";
import type { SecretTable } from "../db/schema.js";
import type { SecretsKey } from "../secrets-key.js";
import { nowIso, toPage, type StoreContext } from "./context.js";

// Stored values are `v1:<key id>:<base64 of nonce, ciphertext, tag>`: AES-256-GCM with a random
// nonce per value, and the secret's name as associated data, so that a value copied into another
// secret's row does not open.
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SEALED = /^v1:([0-9a-f]{8}):([A-Za-z0-9+/]+={0,2})$/;

const isSealed = (stored: string): boolean => SEALED.test(stored);

export function sealSecret(key: SecretsKey, name: string, value: string): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key.bytes, nonce);
  cipher.setAAD(Buffer.from(name, "utf8"));
  const ciphertext = Buffer.concat([cipher.update(value, "utf8"), cipher.final()]);
  return `v1:${key.id}:${Buffer.concat([nonce, ciphertext, cipher.getAuthTag()]).toString("base64")}`;
}

export function openSecret(key: SecretsKey, name: string, stored: string): string {
  const match = SEALED.exec(stored);
  if (!match) {
    throw new BatonError(
      "internal",
      `secret '${name}' is stored unencrypted; restart the server, which encrypts such secrets when it starts`,
    );
  }
  const [, keyId, payload] = match;
  if (keyId !== key.id) {
    throw new BatonError(
      "internal",
      `secret '${name}' was encrypted with secrets key ${keyId}, but this server's key is ${key.id}: give the server the key it was written with (BATON_SECRETS_KEY, the same on every server of this database, or $BATON_HOME/secrets.key), or set the secret again with 'baton secret set ${name}'`,
    );
  }
  const sealed = Buffer.from(payload!, "base64");
  try {
    const decipher = createDecipheriv("aes-256-gcm", key.bytes, sealed.subarray(0, NONCE_BYTES)).setAuthTag(
      sealed.subarray(sealed.length - TAG_BYTES),
    );
    decipher.setAAD(Buffer.from(name, "utf8"));
    const ciphertext = sealed.subarray(NONCE_BYTES, sealed.length - TAG_BYTES);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString("utf8");
  } catch (error) {
    throw new BatonError(
      "internal",
      `secret '${name}' does not decrypt with secrets key ${key.id}: its stored value was altered or copied from another secret; set it again with 'baton secret set ${name}'`,
      { cause: error },
    );
  }
}

function requireKey(ctx: StoreContext): SecretsKey {
  if (!ctx.secretsKey) throw new BatonError("internal", "this server was started without a secrets key");
  return ctx.secretsKey;
}

/**
 * Secrets leave the store only through `revealSecret`: for the server's own use (notifications) and
 * for flows, through a route of its own that needs the API key. The length is the value's in UTF-8
 * bytes, read from the sealed value without opening it.
 */
const toSecret = ({ value, ...row }: Selectable<SecretTable>): Secret => ({
  ...row,
  valueLength: isSealed(value)
    ? Buffer.from(value.split(":")[2]!, "base64").length - NONCE_BYTES - TAG_BYTES
    : Buffer.byteLength(value, "utf8"),
});

export async function readSecret({ db }: StoreContext, name: string): Promise<Secret> {
  const row = await db.kysely.selectFrom("secrets").selectAll().where("name", "=", name).executeTakeFirst();
  if (!row) throw notFound("secret", name);
  return toSecret(row);
}

export async function revealSecret(ctx: StoreContext, name: string): Promise<string> {
  const row = await ctx.db.kysely
    .selectFrom("secrets")
    .select("value")
    .where("name", "=", name)
    .executeTakeFirst();
  if (!row) {
    throw new BatonError(
      "not_found",
      `secret '${name}' does not exist: set it with 'baton secret set ${name}'`,
    );
  }
  return openSecret(requireKey(ctx), name, row.value);
}

export async function setSecret(ctx: StoreContext, input: SecretCreate): Promise<Secret> {
  const now = nowIso();
  const value = sealSecret(requireKey(ctx), input.name, input.value);
  await ctx.db.kysely
    .insertInto("secrets")
    .values({ id: newId(), name: input.name, value, created: now, updated: now })
    .onConflict((oc) => oc.column("name").doUpdateSet({ value, updated: now }))
    .execute();
  return readSecret(ctx, input.name);
}

export async function listSecrets({ db }: StoreContext, query: { limit: number; offset: number }) {
  const rows = await db.kysely
    .selectFrom("secrets")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toSecret), query.limit, query.offset);
}

export async function deleteSecret({ db }: StoreContext, name: string): Promise<void> {
  const result = await db.kysely.deleteFrom("secrets").where("name", "=", name).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("secret", name);
}

/**
 * Run at every start: encrypts the secrets an earlier version stored in plain text, and names the
 * ones this server's key cannot open (written with another key). Each row is replaced only if it
 * still holds the plain value, so servers starting together do not encrypt one twice.
 */
export async function encryptStoredSecrets(
  db: Db,
  key: SecretsKey,
): Promise<{ encrypted: number; otherKey: string[] }> {
  const rows = await db.kysely.selectFrom("secrets").select(["id", "name", "value"]).execute();
  let encrypted = 0;
  const otherKey: string[] = [];
  const plain = rows.filter((row) => {
    if (isSealed(row.value) && !row.value.startsWith(`v1:${key.id}:`)) otherKey.push(row.name);
    return !isSealed(row.value);
  });
  // SQLite keeps a replaced value's bytes in the page's free space unless told to zero them.
  if (plain.length > 0 && db.dialect === "sqlite") await sql`pragma secure_delete = on`.execute(db.kysely);
  for (const row of plain) {
    const result = await db.kysely
      .updateTable("secrets")
      .set({ value: sealSecret(key, row.name, row.value) })
      .where("id", "=", row.id)
      .where("value", "=", row.value)
      .executeTakeFirst();
    encrypted += Number(result.numUpdatedRows);
  }
  if (plain.length > 0 && db.dialect === "sqlite") await sql`pragma secure_delete = off`.execute(db.kysely);
  return { encrypted, otherKey };
}

/**
 * `baton server secrets rotate-key`: re-encrypts every secret with `next`, in one transaction, so
 * that either all of them open with the new key or (on any error) all still open with the old.
 */
export async function rotateSecretsKey(db: Db, current: SecretsKey, next: SecretsKey): Promise<number> {
  return db.kysely.transaction().execute(async (trx) => {
    // No secret may be written with the old key while this runs (SQLite's BEGIN IMMEDIATE already
    // holds the write lock).
    if (db.dialect === "postgres") await sql`lock table secrets in exclusive mode`.execute(trx);
    const rows = await trx.selectFrom("secrets").select(["id", "name", "value"]).execute();
    for (const row of rows) {
      const value = isSealed(row.value) ? openSecret(current, row.name, row.value) : row.value;
      await trx
        .updateTable("secrets")
        .set({ value: sealSecret(next, row.name, value) })
        .where("id", "=", row.id)
        .execute();
    }
    return rows.length;
  });
}
