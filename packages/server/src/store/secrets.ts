import { newId, notFound, type Secret, type SecretCreate } from "@baton/core";
import type { Selectable } from "kysely";
import type { SecretTable } from "../db/schema.js";
import { nowIso, toPage, type StoreContext } from "./context.js";

/** Secrets leave the store only through `revealSecret`, for the server's own use (notifications). */
const toSecret = ({ value, ...row }: Selectable<SecretTable>): Secret => ({
  ...row,
  valueLength: value.length,
});

export async function readSecret({ db }: StoreContext, name: string): Promise<Secret> {
  const row = await db.kysely.selectFrom("secrets").selectAll().where("name", "=", name).executeTakeFirst();
  if (!row) throw notFound("secret", name);
  return toSecret(row);
}

export async function revealSecret({ db }: StoreContext, name: string): Promise<string> {
  const row = await db.kysely
    .selectFrom("secrets")
    .select("value")
    .where("name", "=", name)
    .executeTakeFirst();
  if (!row) throw notFound("secret", name);
  return row.value;
}

export async function setSecret(ctx: StoreContext, input: SecretCreate): Promise<Secret> {
  const now = nowIso();
  await ctx.db.kysely
    .insertInto("secrets")
    .values({ id: newId(), name: input.name, value: input.value, created: now, updated: now })
    .onConflict((oc) => oc.column("name").doUpdateSet({ value: input.value, updated: now }))
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
