import {
  BatonError,
  EventName,
  decideSlots,
  isEvent,
  newId,
  notFound,
  type SlotLease,
  type SlotsAcquire,
  type SlotsAcquired,
} from "@baton/core";
import type { Transaction } from "kysely";
import type { z } from "zod";
import type { Database } from "../db/schema.js";
import {
  leasesOf,
  limitChanged,
  readGlobalLimit,
  toGlobalLimit,
  usageOf,
} from "./global-concurrency-limits.js";
import type { StoreContext } from "./context.js";

type Acquire = z.output<typeof SlotsAcquire>;
type Trx = Transaction<Database>;

/** What one acquire pass decided: the answer, or when to look again (null: on a change only). */
type Pass = { answer: SlotsAcquired; retryAt: null } | { answer: null; retryAt: number | null };

/**
 * Takes slots of limit `name`, waiting up to `waitSeconds` for them. Each pass is one transaction that
 * locks the limit's row first, so racing acquirers, on any server of the database, are decided one
 * after the other and the limit is never exceeded. Between passes it waits for the limit to change
 * (a release, an update), for its next lease to run out, or for decay to free enough slots, never
 * polling; when the wait ends first it answers `granted: false`.
 */
export async function acquireSlots(
  ctx: StoreContext,
  name: string,
  request: Acquire,
  closed?: AbortSignal,
): Promise<SlotsAcquired> {
  const deadline = Date.now() + request.waitSeconds * 1000;
  let changed = false;
  let wake: (() => void) | undefined;
  // Subscribed before the first pass, so a release during a pass is not missed.
  const unsubscribe = ctx.events.subscribe((event) => {
    if (!isEvent(event, EventName.GlobalConcurrencyLimitUpdated) || event.payload.name !== name) return;
    changed = true;
    wake?.();
  });
  const onClose = () => wake?.();
  closed?.addEventListener("abort", onClose);
  ctx.stopping?.addEventListener("abort", onClose);
  try {
    for (;;) {
      changed = false;
      const pass = await ctx.db.kysely.transaction().execute((trx) => acquirePass(trx, name, request));
      if (pass.answer) return pass.answer;
      const now = Date.now();
      if (now >= deadline || closed?.aborted || ctx.stopping?.aborted) {
        return { granted: false, lease: null, limit: await readGlobalLimit(ctx, name) };
      }
      if (changed) continue;
      const until = Math.min(deadline, pass.retryAt ?? Infinity);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, until - now));
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  } finally {
    unsubscribe();
    closed?.removeEventListener("abort", onClose);
    ctx.stopping?.removeEventListener("abort", onClose);
  }
}

async function acquirePass(trx: Trx, name: string, request: Acquire): Promise<Pass> {
  const now = new Date();
  // Lock the limit's row (an UPDATE of itself; SQLite's BEGIN IMMEDIATE holds the write lock).
  const locked = await trx
    .updateTable("globalConcurrencyLimits")
    .set((eb) => ({ updated: eb.ref("updated") }))
    .where("name", "=", name)
    .returningAll()
    .executeTakeFirst();
  if (!locked) throw notFound("global concurrency limit", name);
  // Leases not renewed in time were a crashed (or stuck) holder's: their slots are free again.
  await trx
    .deleteFrom("globalConcurrencyLeases")
    .where("limitId", "=", locked.id)
    .where("expires", "<=", now.toISOString())
    .execute();
  const leases = await leasesOf(trx, [locked.id], now);
  const verdict = decideSlots(usageOf(locked, leases), request.occupy, request.mode, now);
  if (verdict.kind === "refused") {
    throw new BatonError("invalid_argument", `global concurrency limit '${name}' ${verdict.reason}`);
  }
  if (verdict.kind === "wait") {
    const nextExpiry = leases.reduce(
      (soonest, lease) => Math.min(soonest, Date.parse(lease.expires)),
      Infinity,
    );
    const decayAt =
      verdict.retryAfterSeconds === null ? Infinity : now.getTime() + verdict.retryAfterSeconds * 1000;
    const retryAt = Math.min(nextExpiry, decayAt);
    return { answer: null, retryAt: Number.isFinite(retryAt) ? retryAt : null };
  }
  const row =
    verdict.decaying === locked.decayingSlots
      ? locked
      : await trx
          .updateTable("globalConcurrencyLimits")
          .set({ decayingSlots: verdict.decaying, decayedAt: now.toISOString() })
          .where("id", "=", locked.id)
          .returningAll()
          .executeTakeFirstOrThrow();
  let lease: SlotLease | null = null;
  if (verdict.lease) {
    lease = { id: newId(), slots: request.occupy, expires: leaseEnd(now, request.leaseSeconds) };
    await trx
      .insertInto("globalConcurrencyLeases")
      .values({
        ...lease,
        limitId: locked.id,
        holder: request.holder ?? null,
        acquired: now.toISOString(),
      })
      .execute();
  }
  const held = lease ? [...leases, lease] : leases;
  return { answer: { granted: true, lease, limit: toGlobalLimit(row, held, now) }, retryAt: null };
}

const leaseEnd = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000).toISOString();

/** Keeps a lease's slots `leaseSeconds` more; a lease that ran out is gone, its slots perhaps taken. */
export async function renewLease(ctx: StoreContext, id: string, leaseSeconds: number): Promise<SlotLease> {
  const now = new Date();
  const row = await ctx.db.kysely
    .updateTable("globalConcurrencyLeases")
    .set({ expires: leaseEnd(now, leaseSeconds) })
    .where("id", "=", id)
    .where("expires", ">", now.toISOString())
    .returning(["id", "slots", "expires"])
    .executeTakeFirst();
  if (!row) throw leaseGone(id);
  return row;
}

const leaseGone = (id: string) =>
  new BatonError(
    "not_found",
    `global concurrency lease '${id}' does not exist: it was released, reset, or ran out before it was renewed, and its slots are free`,
  );

/** Gives a lease's slots back; a lease that has ended already is not_found (its slots are free). */
export async function releaseLease(ctx: StoreContext, id: string): Promise<void> {
  const released = await ctx.db.kysely
    .deleteFrom("globalConcurrencyLeases")
    .where("id", "=", id)
    .returning("limitId")
    .executeTakeFirst();
  if (!released) throw leaseGone(id);
  const limit = await ctx.db.kysely
    .selectFrom("globalConcurrencyLimits")
    .select("name")
    .where("id", "=", released.limitId)
    .executeTakeFirst();
  if (limit) limitChanged(ctx, limit.name);
}

/** Frees every slot of a limit: its leases end and its decaying slots are forgotten. */
export async function resetGlobalLimit(ctx: StoreContext, name: string) {
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const row = await trx
      .updateTable("globalConcurrencyLimits")
      .set({ decayingSlots: 0, decayedAt: null })
      .where("name", "=", name)
      .returning("id")
      .executeTakeFirst();
    if (!row) throw notFound("global concurrency limit", name);
    await trx.deleteFrom("globalConcurrencyLeases").where("limitId", "=", row.id).execute();
  });
  limitChanged(ctx, name);
  return readGlobalLimit(ctx, name);
}
