import { createHash, randomBytes } from "node:crypto";
import {
  newId,
  notFound,
  WEBHOOK_PATH_PREFIX,
  type Webhook,
  type WebhookCreate,
  type WebhookTemplate,
  type WebhookUpdate,
} from "@baton/core";
import type { Selectable } from "kysely";
import type { z } from "zod";
import { constraintError } from "../db/database.js";
import type { WebhookTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";

/** 144 random bits, URL-safe: the URL cannot be guessed, token or not. */
const newSlug = (): string => randomBytes(18).toString("base64url");

/** Tokens are kept as their SHA-256 only: the store never holds one that could be read back. */
export const tokenHash = (token: string): string => createHash("sha256").update(token).digest("hex");

export const toWebhook = (row: Selectable<WebhookTable>): Webhook => ({
  id: row.id,
  name: row.name,
  description: row.description,
  enabled: row.enabled === 1,
  slug: row.slug,
  path: `${WEBHOOK_PATH_PREFIX}${row.slug}`,
  template: fromJson<WebhookTemplate>(row.template, { event: "" }),
  hasToken: row.tokenHash !== null,
  created: row.created,
  updated: row.updated,
});

export async function readWebhook({ db }: StoreContext, name: string): Promise<Webhook> {
  const row = await db.kysely.selectFrom("webhooks").selectAll().where("name", "=", name).executeTakeFirst();
  if (!row) throw notFound("webhook", name);
  return toWebhook(row);
}

/** The webhook served at a slug, with its token's hash; undefined when there is none. */
export async function webhookBySlug(
  { db }: StoreContext,
  slug: string,
): Promise<{ webhook: Webhook; tokenHash: string | null } | undefined> {
  const row = await db.kysely.selectFrom("webhooks").selectAll().where("slug", "=", slug).executeTakeFirst();
  return row ? { webhook: toWebhook(row), tokenHash: row.tokenHash } : undefined;
}

export async function createWebhook(
  ctx: StoreContext,
  input: z.output<typeof WebhookCreate>,
): Promise<Webhook> {
  const now = nowIso();
  try {
    await ctx.db.kysely
      .insertInto("webhooks")
      .values({
        id: newId(),
        name: input.name,
        slug: newSlug(),
        description: input.description ?? null,
        enabled: input.enabled ? 1 : 0,
        template: toJson(input.template),
        tokenHash: input.token ? tokenHash(input.token) : null,
        created: now,
        updated: now,
      })
      .execute();
  } catch (error) {
    throw constraintError(error, `webhook '${input.name}'`) ?? error;
  }
  return readWebhook(ctx, input.name);
}

export async function updateWebhook(ctx: StoreContext, name: string, input: WebhookUpdate): Promise<Webhook> {
  const result = await ctx.db.kysely
    .updateTable("webhooks")
    .set({
      updated: nowIso(),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled !== undefined ? { enabled: input.enabled ? 1 : 0 } : {}),
      ...(input.template !== undefined ? { template: toJson(input.template) } : {}),
      ...(input.token !== undefined
        ? { tokenHash: input.token === null ? null : tokenHash(input.token) }
        : {}),
      ...(input.newSlug ? { slug: newSlug() } : {}),
    })
    .where("name", "=", name)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("webhook", name);
  return readWebhook(ctx, name);
}

export async function listWebhooks({ db }: StoreContext, query: { limit: number; offset: number }) {
  const rows = await db.kysely
    .selectFrom("webhooks")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toWebhook), query.limit, query.offset);
}

export async function deleteWebhook({ db }: StoreContext, name: string): Promise<void> {
  const result = await db.kysely.deleteFrom("webhooks").where("name", "=", name).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("webhook", name);
}
