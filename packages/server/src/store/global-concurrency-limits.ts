import {
  decayedSlots,
  EventName,
  newId,
  notFound,
  slotsInUse,
  type GlobalConcurrencyLimit,
  type GlobalConcurrencyLimitCreate,
  type GlobalConcurrencyLimitUpdate,
  type GlobalLimitUsage,
} from "@baton/core";
import type { Kysely, Selectable } from "kysely";
import { constraintError } from "../db/database.js";
import type { Database, GlobalConcurrencyLimitTable } from "../db/schema.js";
import { nowIso, toFlag, toPage, type StoreContext } from "./context.js";

type LimitRow = Selectable<GlobalConcurrencyLimitTable>;
type Reader = Kysely<Database>;

/** A limit and its unexpired leases as the rule in core sees them. */
export const usageOf = (row: LimitRow, leases: readonly { slots: number }[]): GlobalLimitUsage => ({
  limit: row.slotLimit,
  active: row.active === 1,
  slotDecayPerSecond: row.slotDecayPerSecond,
  held: leases.reduce((sum, lease) => sum + lease.slots, 0),
  decaying: row.decayingSlots,
  decayedAt: row.decayedAt,
});

export function toGlobalLimit(
  row: LimitRow,
  leases: readonly { slots: number }[],
  now: Date,
): GlobalConcurrencyLimit {
  return {
    id: row.id,
    name: row.name,
    limit: row.slotLimit,
    active: row.active === 1,
    slotDecayPerSecond: row.slotDecayPerSecond,
    // Decaying slots are fractional between grants; two decimals are all a reader needs.
    activeSlots: Math.round(slotsInUse(usageOf(row, leases), now) * 100) / 100,
    leases: leases.length,
    created: row.created,
    updated: row.updated,
  };
}

/** The unexpired leases of some limits (expired ones no longer hold their slots, gone or not). */
export async function leasesOf(db: Reader, limitIds: string[], now: Date) {
  if (limitIds.length === 0) return [];
  return db
    .selectFrom("globalConcurrencyLeases")
    .select(["id", "limitId", "slots", "expires"])
    .where("limitId", "in", limitIds)
    .where("expires", ">", now.toISOString())
    .execute();
}

async function withLeases(db: Reader, rows: LimitRow[]): Promise<GlobalConcurrencyLimit[]> {
  const now = new Date();
  const leases = await leasesOf(
    db,
    rows.map((row) => row.id),
    now,
  );
  return rows.map((row) =>
    toGlobalLimit(
      row,
      leases.filter((lease) => lease.limitId === row.id),
      now,
    ),
  );
}

export async function readGlobalLimit({ db }: StoreContext, name: string): Promise<GlobalConcurrencyLimit> {
  const row = await db.kysely
    .selectFrom("globalConcurrencyLimits")
    .selectAll()
    .where("name", "=", name)
    .executeTakeFirst();
  if (!row) throw notFound("global concurrency limit", name);
  const [limit] = await withLeases(db.kysely, [row]);
  return limit!;
}

export async function listGlobalLimits({ db }: StoreContext, query: { limit: number; offset: number }) {
  const rows = await db.kysely
    .selectFrom("globalConcurrencyLimits")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  const page = toPage(rows, query.limit, query.offset);
  return { items: await withLeases(db.kysely, page.items), nextOffset: page.nextOffset };
}

export async function createGlobalLimit(
  ctx: StoreContext,
  input: GlobalConcurrencyLimitCreate,
): Promise<GlobalConcurrencyLimit> {
  const now = nowIso();
  try {
    await ctx.db.kysely
      .insertInto("globalConcurrencyLimits")
      .values({
        id: newId(),
        name: input.name,
        slotLimit: input.limit,
        active: toFlag(input.active ?? true),
        slotDecayPerSecond: input.slotDecayPerSecond ?? null,
        created: now,
        updated: now,
      })
      .execute();
  } catch (error) {
    throw constraintError(error, `global concurrency limit '${input.name}'`) ?? error;
  }
  return readGlobalLimit(ctx, input.name);
}

/** Changes a limit; slots held are kept (more than a lowered limit, until they are given back). */
export async function updateGlobalLimit(
  ctx: StoreContext,
  name: string,
  input: GlobalConcurrencyLimitUpdate,
): Promise<GlobalConcurrencyLimit> {
  const now = new Date();
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("globalConcurrencyLimits")
      .set({
        ...(input.limit !== undefined ? { slotLimit: input.limit } : {}),
        ...(input.active !== undefined ? { active: toFlag(input.active) } : {}),
        updated: now.toISOString(),
      })
      .where("name", "=", name)
      .returningAll()
      .executeTakeFirst();
    if (!row) throw notFound("global concurrency limit", name);
    if (input.slotDecayPerSecond === undefined) return;
    // What decayed at the old rate is settled first; without decay, slots of rate grants would never
    // come back, so they go.
    const decaying = input.slotDecayPerSecond === null ? 0 : decayedSlots(usageOf(row, []), now);
    await trx
      .updateTable("globalConcurrencyLimits")
      .set({
        slotDecayPerSecond: input.slotDecayPerSecond,
        decayingSlots: decaying,
        decayedAt: now.toISOString(),
      })
      .where("id", "=", row.id)
      .execute();
  });
  limitChanged(ctx, name);
  return readGlobalLimit(ctx, name);
}

export async function deleteGlobalLimit(ctx: StoreContext, name: string): Promise<void> {
  const result = await ctx.db.kysely
    .deleteFrom("globalConcurrencyLimits")
    .where("name", "=", name)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("global concurrency limit", name);
  limitChanged(ctx, name);
}

/** Tells acquirers waiting on limit `name`, on every server of the database, to look again. */
export function limitChanged(ctx: StoreContext, name: string): void {
  ctx.events.publish(
    EventName.GlobalConcurrencyLimitUpdated,
    { kind: "global-concurrency-limit", id: name },
    null,
    {
      name,
    },
  );
}
