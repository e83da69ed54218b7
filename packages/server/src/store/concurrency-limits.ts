import { newId, notFound, type ConcurrencyLimit, type ConcurrencyLimitCreate } from "@baton/core";
import { nowIso, toPage, type StoreContext } from "./context.js";

async function withSlots(
  ctx: StoreContext,
  rows: { id: string; tag: string; slotLimit: number; created: string; updated: string }[],
): Promise<ConcurrencyLimit[]> {
  if (rows.length === 0) return [];
  const slots = await ctx.db.kysely
    .selectFrom("concurrencySlots")
    .select(["tag", "taskRunId"])
    .where(
      "tag",
      "in",
      rows.map((row) => row.tag),
    )
    .orderBy("acquired")
    .execute();
  return rows.map(({ slotLimit, ...row }) => ({
    ...row,
    limit: slotLimit,
    activeSlots: slots.filter((slot) => slot.tag === row.tag).map((slot) => slot.taskRunId),
  }));
}

export async function readConcurrencyLimit(ctx: StoreContext, tag: string): Promise<ConcurrencyLimit> {
  const row = await ctx.db.kysely
    .selectFrom("concurrencyLimits")
    .selectAll()
    .where("tag", "=", tag)
    .executeTakeFirst();
  if (!row) throw notFound("concurrency limit for tag", tag);
  const [limit] = await withSlots(ctx, [row]);
  return limit!;
}

/** Creates the limit of a tag, or changes it; slots already held are kept. */
export async function upsertConcurrencyLimit(
  ctx: StoreContext,
  input: ConcurrencyLimitCreate,
): Promise<ConcurrencyLimit> {
  const now = nowIso();
  await ctx.db.kysely
    .insertInto("concurrencyLimits")
    .values({ id: newId(), tag: input.tag, slotLimit: input.limit, created: now, updated: now })
    .onConflict((oc) => oc.column("tag").doUpdateSet({ slotLimit: input.limit, updated: now }))
    .execute();
  return readConcurrencyLimit(ctx, input.tag);
}

export async function listConcurrencyLimits(ctx: StoreContext, query: { limit: number; offset: number }) {
  const rows = await ctx.db.kysely
    .selectFrom("concurrencyLimits")
    .selectAll()
    .orderBy("tag")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  const page = toPage(rows, query.limit, query.offset);
  return { items: await withSlots(ctx, page.items), nextOffset: page.nextOffset };
}

export async function resetConcurrencyLimit(ctx: StoreContext, tag: string): Promise<ConcurrencyLimit> {
  await readConcurrencyLimit(ctx, tag);
  await ctx.db.kysely.deleteFrom("concurrencySlots").where("tag", "=", tag).execute();
  return readConcurrencyLimit(ctx, tag);
}

export async function deleteConcurrencyLimit(ctx: StoreContext, tag: string): Promise<void> {
  const result = await ctx.db.kysely
    .deleteFrom("concurrencyLimits")
    .where("tag", "=", tag)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("concurrency limit for tag", tag);
}
