import {
  BatonError,
  EventName,
  decideSlotsTogether,
  isEvent,
  newId,
  notFound,
  type SlotLease,
  type SlotsAcquire,
  type SlotsAcquiredTogether,
} from "@baton/core";
import type { Selectable, Transaction } from "kysely";
import type { z } from "zod";
import type { Database, GlobalConcurrencyLimitTable } from "../db/schema.js";
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
type LimitRow = Selectable<GlobalConcurrencyLimitTable>;

/** What one acquire pass decided: the answer, or when to look again (null: on a change only). */
type Pass = { answer: SlotsAcquiredTogether; retryAt: null } | { answer: null; retryAt: number | null };

/**
 * Takes `occupy` slots of each limit of `names`, all together or none, waiting up to `waitSeconds`
 * for them. Each pass is one transaction that locks the limits' rows first, so racing acquirers, on
 * any server of the database, are decided one after the other and no limit is ever exceeded. Between
 * passes it waits for one of the limits to change (a release, an update), for their next lease to run
 * out, or for decay to free enough slots, never polling; when the wait ends first it answers
 * `granted: false`, holding nothing.
 */
export async function acquireSlots(
  ctx: StoreContext,
  names: readonly string[],
  request: Acquire,
  closed?: AbortSignal,
): Promise<SlotsAcquiredTogether> {
  const deadline = Date.now() + request.waitSeconds * 1000;
  let changed = false;
  let wake: (() => void) | undefined;
  // Subscribed before the first pass, so a release during a pass is not missed.
  const unsubscribe = ctx.events.subscribe((event) => {
    if (!isEvent(event, EventName.GlobalConcurrencyLimitUpdated) || !names.includes(event.payload.name)) {
      return;
    }
    changed = true;
    wake?.();
  });
  const onClose = () => wake?.();
  closed?.addEventListener("abort", onClose);
  ctx.stopping?.addEventListener("abort", onClose);
  try {
    for (;;) {
      changed = false;
      const pass = await ctx.db.kysely.transaction().execute((trx) => acquirePass(trx, names, request));
      if (pass.answer) return pass.answer;
      const now = Date.now();
      if (now >= deadline || closed?.aborted || ctx.stopping?.aborted) {
        const limits = await Promise.all(names.map((name) => readGlobalLimit(ctx, name)));
        return { granted: false, lease: null, limits };
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

/**
 * Locks limits' rows (an UPDATE of itself; SQLite's BEGIN IMMEDIATE holds the write lock) one at a
 * time in name order. Every transaction that writes leases locks the limits of the leases' rows this
 * way first, so two of them never wait for each other's locks in a circle (callers asking for [a, b]
 * and [b, a] included). Answers the limits that exist, in name order.
 */
async function lockLimits(trx: Trx, names: readonly string[]): Promise<LimitRow[]> {
  const rows: LimitRow[] = [];
  for (const name of [...new Set(names)].sort()) {
    const row = await trx
      .updateTable("globalConcurrencyLimits")
      .set((eb) => ({ updated: eb.ref("updated") }))
      .where("name", "=", name)
      .returningAll()
      .executeTakeFirst();
    if (row) rows.push(row);
  }
  return rows;
}

async function acquirePass(trx: Trx, names: readonly string[], request: Acquire): Promise<Pass> {
  const locked = await lockLimits(trx, names);
  const missing = names.find((name) => !locked.some((row) => row.name === name));
  if (missing !== undefined) throw notFound("global concurrency limit", missing);
  const now = new Date();
  const ids = locked.map((row) => row.id);
  // Leases not renewed in time were a crashed (or stuck) holder's: their slots are free again.
  await trx
    .deleteFrom("globalConcurrencyLeases")
    .where("limitId", "in", ids)
    .where("expires", "<=", now.toISOString())
    .execute();
  const leases = await leasesOf(trx, ids, now);
  const limits = names.map((name) => {
    const row = locked.find((candidate) => candidate.name === name)!;
    return { row, leases: leases.filter((lease) => lease.limitId === row.id) };
  });
  const verdict = decideSlotsTogether(
    limits.map(({ row, leases }) => ({ name: row.name, ...usageOf(row, leases) })),
    request.occupy,
    request.mode,
    now,
  );
  if (verdict.kind === "refused") {
    throw new BatonError("invalid_argument", `global concurrency limit '${verdict.name}' ${verdict.reason}`);
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
  // One lease for every limit that counts held slots (an inactive one does not, nor a rate grant).
  const leased = limits.filter((_, index) => verdict.grants[index]!.lease);
  const lease: SlotLease | null =
    leased.length === 0
      ? null
      : { id: newId(), slots: request.occupy, expires: leaseEnd(now, request.leaseSeconds) };
  if (lease) {
    await trx
      .insertInto("globalConcurrencyLeases")
      .values(
        leased.map(({ row }) => ({
          id: newId(),
          leaseId: lease.id,
          leaseLimits: leased.length,
          limitId: row.id,
          slots: lease.slots,
          holder: request.holder ?? null,
          acquired: now.toISOString(),
          expires: lease.expires,
        })),
      )
      .execute();
  }
  const answered = [];
  for (const [index, { row, leases: held }] of limits.entries()) {
    const grant = verdict.grants[index]!;
    const updated =
      grant.decaying === row.decayingSlots
        ? row
        : await trx
            .updateTable("globalConcurrencyLimits")
            .set({ decayingSlots: grant.decaying, decayedAt: now.toISOString() })
            .where("id", "=", row.id)
            .returningAll()
            .executeTakeFirstOrThrow();
    answered.push(toGlobalLimit(updated, grant.lease ? [...held, lease!] : held, now));
  }
  return { answer: { granted: true, lease, limits: answered }, retryAt: null };
}

const leaseEnd = (now: Date, seconds: number) => new Date(now.getTime() + seconds * 1000).toISOString();

/** Locks the limits a lease holds slots of, in name order; answers their names (none: the lease is gone). */
async function lockLeaseLimits(trx: Trx, id: string): Promise<string[]> {
  const rows = await trx
    .selectFrom("globalConcurrencyLeases")
    .innerJoin("globalConcurrencyLimits", "globalConcurrencyLimits.id", "globalConcurrencyLeases.limitId")
    .select("globalConcurrencyLimits.name")
    .where("globalConcurrencyLeases.leaseId", "=", id)
    .execute();
  return (
    await lockLimits(
      trx,
      rows.map((row) => row.name),
    )
  ).map((row) => row.name);
}

/**
 * Keeps a lease's slots, of every limit it holds, `leaseSeconds` more. A lease that ran out is gone,
 * its slots perhaps taken; so is one that lost a limit (reset, deleted), whose other slots this frees:
 * a lease holds all its limits or none.
 */
export async function renewLease(ctx: StoreContext, id: string, leaseSeconds: number): Promise<SlotLease> {
  const renewed = await ctx.db.kysely.transaction().execute(async (trx) => {
    const names = await lockLeaseLimits(trx, id);
    const now = new Date();
    const rows = await trx
      .updateTable("globalConcurrencyLeases")
      .set({ expires: leaseEnd(now, leaseSeconds) })
      .where("leaseId", "=", id)
      .where("expires", ">", now.toISOString())
      .returning(["slots", "expires", "leaseLimits"])
      .execute();
    const [first] = rows;
    if (!first) return { lease: null, freed: [] };
    if (rows.length === first.leaseLimits) {
      return { lease: { id, slots: first.slots, expires: first.expires }, freed: [] };
    }
    await trx.deleteFrom("globalConcurrencyLeases").where("leaseId", "=", id).execute();
    return { lease: null, freed: names };
  });
  for (const name of renewed.freed) limitChanged(ctx, name);
  if (!renewed.lease) throw leaseGone(id);
  return renewed.lease;
}

const leaseGone = (id: string) =>
  new BatonError(
    "not_found",
    `global concurrency lease '${id}' does not exist: it was released, reset, or ran out before it was renewed, and its slots are free`,
  );

/** Gives a lease's slots back, of every limit; a lease that has ended already is not_found (its slots are free). */
export async function releaseLease(ctx: StoreContext, id: string): Promise<void> {
  const names = await ctx.db.kysely.transaction().execute(async (trx) => {
    const locked = await lockLeaseLimits(trx, id);
    const released = await trx
      .deleteFrom("globalConcurrencyLeases")
      .where("leaseId", "=", id)
      .executeTakeFirst();
    return released.numDeletedRows === 0n ? null : locked;
  });
  if (!names) throw leaseGone(id);
  for (const name of names) limitChanged(ctx, name);
}

/**
 * Frees every slot of a limit: its leases end and its decaying slots are forgotten. A lease that also
 * holds other limits keeps their slots until its holder's next renewal, which ends it.
 */
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
