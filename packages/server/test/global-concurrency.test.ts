import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newId, type SlotsAcquired } from "@baton/core";
import { Migrator } from "kysely";
import { openDatabase } from "@baton/server";
import { migrationProvider } from "../src/db/migrations.js";
import { DIALECTS, startTestServer, throwawayDatabase, type TestServer } from "../../../test/helpers.js";

/**
 * Global concurrency and rate limits through the API: of two servers sharing the database on
 * PostgreSQL (SQLite is one server only). What each grant answers is the store's own count of the
 * slots in use, taken in the grant's transaction.
 */
describe.each(DIALECTS)("global concurrency limits on %s", { timeout: 60_000 }, (dialect) => {
  let a: TestServer;
  let b: TestServer;

  beforeAll(async () => {
    a = await startTestServer(dialect);
    b = dialect === "postgres" ? await startTestServer(dialect, {}, a.database) : a;
  });

  afterAll(async () => {
    if (b !== a) await b?.stop();
    await a?.stop();
  });

  /** Acquires through server a or b in turn (the same server on SQLite). */
  const acquire = (
    name: string,
    index: number,
    body: Parameters<TestServer["client"]["api"]["acquireGlobalConcurrencySlots"]>[0]["body"],
  ) => (index % 2 === 0 ? a : b).client.api.acquireGlobalConcurrencySlots({ params: { name }, body });

  /** Acquires several limits together, through server a or b in turn. */
  const acquireTogether = (
    index: number,
    body: Parameters<TestServer["client"]["api"]["acquireGlobalConcurrencySlotsTogether"]>[0]["body"],
  ) => (index % 2 === 0 ? a : b).client.api.acquireGlobalConcurrencySlotsTogether({ body });

  const read = (name: string) => a.client.api.readGlobalConcurrencyLimit({ params: { name } });

  it("grants exactly the free slots to racing acquirers", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "race", limit: 3 } });
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, index) => acquire("race", index, { occupy: 1 })),
    );
    expect(answers.filter((answer) => answer.granted)).toHaveLength(3);
    expect(answers.filter((answer) => answer.lease !== null)).toHaveLength(3);
    const limit = await b.client.api.readGlobalConcurrencyLimit({ params: { name: "race" } });
    expect(limit).toMatchObject({ activeSlots: 3, leases: 3 });
  });

  it("lets waiting acquirers in one after the other as holders release, never more than the limit", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "waiters", limit: 2 } });
    const held: number[] = [];
    const granted = await Promise.all(
      Array.from({ length: 10 }, async (_, index) => {
        const answer = await acquire("waiters", index, { occupy: 1, waitSeconds: 30 });
        held.push(answer.limit.activeSlots);
        // Hold for a turn of the event loop, then give the slot back through the other server.
        await new Promise((resolve) => setImmediate(resolve));
        await (index % 2 === 0 ? b : a).client.api.releaseGlobalConcurrencyLease({
          params: { id: answer.lease!.id },
        });
        return answer.granted;
      }),
    );
    expect(granted.every(Boolean)).toBe(true);
    expect(held).toHaveLength(10);
    expect(Math.max(...held)).toBeLessThanOrEqual(2);
    const limit = await a.client.api.readGlobalConcurrencyLimit({ params: { name: "waiters" } });
    expect(limit).toMatchObject({ activeSlots: 0, leases: 0 });
  });

  it("answers granted: false when the wait ends first, and a reset frees every slot", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "full", limit: 1 } });
    const first = await acquire("full", 0, {});
    expect(first.granted).toBe(true);
    const second = await acquire("full", 1, { waitSeconds: 0.2 });
    expect(second).toMatchObject({ granted: false, lease: null });
    expect((await b.client.api.resetGlobalConcurrencyLimit({ params: { name: "full" } })).activeSlots).toBe(
      0,
    );
    expect((await acquire("full", 1, {})).granted).toBe(true);
    await expect(
      a.client.api.renewGlobalConcurrencyLease({ params: { id: first.lease!.id }, body: {} }),
    ).rejects.toMatchObject({ code: "not_found" });
    // Its holder releasing it late is told it was gone (its slots were free already).
    await expect(
      b.client.api.releaseGlobalConcurrencyLease({ params: { id: first.lease!.id } }),
    ).rejects.toThrow(/lease '.*' does not exist: it was released, reset, or ran out/);
  });

  it("a rate limit admits its limit at once and frees slots only by decay", async () => {
    // One slot back every 2 s: a burst of requests cannot straddle a decay.
    await a.client.api.createGlobalConcurrencyLimit({
      body: { name: "burst", limit: 5, slotDecayPerSecond: 0.5 },
    });
    const answers = await Promise.all(
      Array.from({ length: 15 }, (_, index) => acquire("burst", index, { mode: "rate" })),
    );
    expect(answers.filter((answer) => answer.granted)).toHaveLength(5);
    expect(answers.every((answer) => answer.lease === null)).toBe(true);
  });

  it("a rate limit with decay lets waiting acquirers in as slots decay, never above its limit", async () => {
    await a.client.api.createGlobalConcurrencyLimit({
      body: { name: "steady", limit: 5, slotDecayPerSecond: 5 },
    });
    const answers: SlotsAcquired[] = await Promise.all(
      Array.from({ length: 15 }, (_, index) => acquire("steady", index, { mode: "rate", waitSeconds: 30 })),
    );
    expect(answers.every((answer) => answer.granted)).toBe(true);
    // Each grant saw the slots in use after taking its own: at most the limit, so at most 5 a second.
    for (const answer of answers) expect(answer.limit.activeSlots).toBeLessThanOrEqual(5);
    expect(answers.filter((answer) => answer.limit.activeSlots > 4)).not.toHaveLength(0);
  });

  it("a rate limit whose decay is taken away forgets its decaying slots, which could never come back", async () => {
    await a.client.api.createGlobalConcurrencyLimit({
      body: { name: "was-rate", limit: 2, slotDecayPerSecond: 0.1 },
    });
    await acquire("was-rate", 0, { mode: "rate", occupy: 2 });
    expect((await acquire("was-rate", 1, {})).granted).toBe(false);
    const plain = await b.client.api.updateGlobalConcurrencyLimit({
      params: { name: "was-rate" },
      body: { slotDecayPerSecond: null },
    });
    expect(plain).toMatchObject({ slotDecayPerSecond: null, activeSlots: 0 });
    expect((await acquire("was-rate", 0, {})).granted).toBe(true);
  });

  it("an inactive limit admits everyone and counts nothing", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "off", limit: 1, active: false } });
    const answers = await Promise.all(
      Array.from({ length: 5 }, (_, index) => acquire("off", index, { occupy: 1 })),
    );
    expect(answers.map((answer) => answer.granted)).toEqual([true, true, true, true, true]);
    expect(answers.every((answer) => answer.lease === null && answer.limit.activeSlots === 0)).toBe(true);
    // Enabled again, it counts from there.
    await b.client.api.updateGlobalConcurrencyLimit({ params: { name: "off" }, body: { active: true } });
    expect((await acquire("off", 0, {})).granted).toBe(true);
    expect((await acquire("off", 1, {})).granted).toBe(false);
  });

  it("a lease not renewed runs out and its slots go to a waiting acquirer", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "lapsed", limit: 1 } });
    const held = await acquire("lapsed", 0, { leaseSeconds: 1 });
    const renewed = await b.client.api.renewGlobalConcurrencyLease({
      params: { id: held.lease!.id },
      body: { leaseSeconds: 1 },
    });
    expect(renewed.expires >= held.lease!.expires).toBe(true);
    // Never renewed again (its holder is gone): the waiter is let in when the lease runs out.
    const waiter = await acquire("lapsed", 1, { waitSeconds: 30 });
    expect(waiter.granted).toBe(true);
    expect(waiter.limit).toMatchObject({ activeSlots: 1, leases: 1 });
  });

  it("refuses what can never be granted, and unknown limits, with errors that say why", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "small", limit: 2 } });
    await expect(acquire("small", 0, { occupy: 3 })).rejects.toThrow(
      "global concurrency limit 'small' has 2 slots, fewer than the 3 asked for",
    );
    await expect(acquire("small", 0, { mode: "rate" })).rejects.toThrow(/has no slot decay/);
    await expect(acquire("nowhere", 0, {})).rejects.toThrow(
      "global concurrency limit 'nowhere' does not exist",
    );
    await expect(
      a.client.api.createGlobalConcurrencyLimit({ body: { name: "small", limit: 1 } }),
    ).rejects.toMatchObject({ code: "already_exists" });
    const response = await fetch(`${a.apiUrl}/global-concurrency-limits`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "bad", limit: -1, slots: 2 }),
    });
    expect(response.status).toBe(400);
    const problem = (await response.json()) as { detail: string };
    expect(problem.detail).toMatch(/limit/);
    expect(problem.detail).toMatch(/slots/);
  });

  it("deletes a limit with its leases, and lists limits with their slots", async () => {
    await a.client.api.createGlobalConcurrencyLimit({ body: { name: "gone", limit: 1 } });
    await acquire("gone", 0, {});
    const listed = await b.client.api.listGlobalConcurrencyLimits({ query: {} });
    expect(listed.items.find((limit) => limit.name === "gone")).toMatchObject({ activeSlots: 1, leases: 1 });
    await a.client.api.deleteGlobalConcurrencyLimit({ params: { name: "gone" } });
    await expect(b.client.api.readGlobalConcurrencyLimit({ params: { name: "gone" } })).rejects.toMatchObject(
      {
        code: "not_found",
      },
    );
  });

  describe("several limits taken together", () => {
    it("lets acquirers of [a, b] and [b, a] race without deadlock, never above either limit", async () => {
      for (const name of ["left", "right"]) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 1 } });
      }
      const seen: number[] = [];
      const granted = await Promise.all(
        Array.from({ length: 16 }, async (_, index) => {
          const names = index % 4 < 2 ? ["left", "right"] : ["right", "left"];
          const answer = await acquireTogether(index, { names, waitSeconds: 30 });
          // The limits in the order named, each counted by the store in the grant's transaction, and
          // read again while this acquirer holds them.
          expect(answer.limits.map((limit) => limit.name)).toEqual(names);
          seen.push(...answer.limits.map((limit) => limit.activeSlots));
          seen.push((await read("left")).activeSlots, (await read("right")).activeSlots);
          await (index % 2 === 0 ? b : a).client.api.releaseGlobalConcurrencyLease({
            params: { id: answer.lease!.id },
          });
          return answer.granted;
        }),
      );
      expect(granted.every(Boolean)).toBe(true);
      expect(seen).toHaveLength(16 * 4);
      expect(Math.max(...seen)).toBe(1);
      expect(await read("left")).toMatchObject({ activeSlots: 0, leases: 0 });
      expect(await read("right")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("holds nothing of a free limit while it waits for a full one, and takes both when it frees", async () => {
      for (const name of ["full-one", "free-one"]) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 1 } });
      }
      const blocker = await acquire("full-one", 0, {});
      const waiter = acquireTogether(1, { names: ["full-one", "free-one"], waitSeconds: 30 });
      // Each release wakes the waiter for another look: it still takes nothing of "free-one", which
      // another acquirer that does not wait gets every time.
      for (let round = 0; round < 5; round++) {
        const other = await acquire("free-one", round, { waitSeconds: 0 });
        expect(other).toMatchObject({ granted: true, limit: { activeSlots: 1, leases: 1 } });
        await a.client.api.releaseGlobalConcurrencyLease({ params: { id: other.lease!.id } });
      }
      expect(await read("free-one")).toMatchObject({ activeSlots: 0, leases: 0 });
      await b.client.api.releaseGlobalConcurrencyLease({ params: { id: blocker.lease!.id } });
      const both = await waiter;
      expect(both.granted).toBe(true);
      expect(both.limits.map((limit) => [limit.name, limit.activeSlots, limit.leases])).toEqual([
        ["full-one", 1, 1],
        ["free-one", 1, 1],
      ]);
    });

    it("answers granted: false holding nothing when the wait ends first", async () => {
      for (const name of ["busy-x", "idle-y"]) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 2 } });
      }
      await acquire("busy-x", 0, { occupy: 2 });
      const answer = await acquireTogether(1, { names: ["idle-y", "busy-x"], waitSeconds: 0.2 });
      expect(answer).toMatchObject({ granted: false, lease: null });
      expect(answer.limits.map((limit) => limit.activeSlots)).toEqual([0, 2]);
      expect(await read("idle-y")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("renews and releases one lease for all its limits", async () => {
      for (const name of ["pair-1", "pair-2"]) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 3 } });
      }
      const held = await acquireTogether(0, { names: ["pair-1", "pair-2"], occupy: 2, leaseSeconds: 5 });
      expect(held.lease).toMatchObject({ slots: 2 });
      const renewed = await b.client.api.renewGlobalConcurrencyLease({
        params: { id: held.lease!.id },
        body: { leaseSeconds: 60 },
      });
      expect(renewed).toMatchObject({ id: held.lease!.id, slots: 2 });
      expect(renewed.expires > held.lease!.expires).toBe(true);
      expect(await read("pair-1")).toMatchObject({ activeSlots: 2, leases: 1 });
      expect(await read("pair-2")).toMatchObject({ activeSlots: 2, leases: 1 });
      await a.client.api.releaseGlobalConcurrencyLease({ params: { id: held.lease!.id } });
      expect(await read("pair-1")).toMatchObject({ activeSlots: 0, leases: 0 });
      expect(await read("pair-2")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("a lease that lost one limit to a reset or a delete frees the others at its next renewal", async () => {
      for (const name of ["reset-p", "deleted-r", "kept-q"]) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 2 } });
      }
      const resetOne = await acquireTogether(0, { names: ["reset-p", "kept-q"] });
      const deletedOne = await acquireTogether(1, { names: ["kept-q", "deleted-r"] });
      await b.client.api.resetGlobalConcurrencyLimit({ params: { name: "reset-p" } });
      await b.client.api.deleteGlobalConcurrencyLimit({ params: { name: "deleted-r" } });
      expect(await read("kept-q")).toMatchObject({ activeSlots: 2, leases: 2 });
      for (const held of [resetOne, deletedOne]) {
        await expect(
          a.client.api.renewGlobalConcurrencyLease({ params: { id: held.lease!.id }, body: {} }),
        ).rejects.toMatchObject({ code: "not_found" });
      }
      expect(await read("kept-q")).toMatchObject({ activeSlots: 0, leases: 0 });
    });

    it("a lease not renewed frees every limit it holds when it runs out", async () => {
      for (const name of ["lapse-m", "lapse-n"]) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit: 1 } });
      }
      await acquireTogether(0, { names: ["lapse-m", "lapse-n"], leaseSeconds: 1 });
      const waiter = await acquireTogether(1, { names: ["lapse-n", "lapse-m"], waitSeconds: 30 });
      expect(waiter.granted).toBe(true);
      expect(waiter.limits.map((limit) => limit.leases)).toEqual([1, 1]);
    });

    it("rate-limits with several limits, each counting the slots", async () => {
      for (const [name, limit] of [
        ["rate-wide", 5],
        ["rate-narrow", 2],
      ] as const) {
        await a.client.api.createGlobalConcurrencyLimit({ body: { name, limit, slotDecayPerSecond: 0.1 } });
      }
      const answers = await Promise.all(
        Array.from({ length: 4 }, (_, index) =>
          acquireTogether(index, { names: ["rate-wide", "rate-narrow"], mode: "rate" }),
        ),
      );
      // The narrow limit lets 2 in; the wide one counts only those 2, not the refused.
      expect(answers.filter((answer) => answer.granted)).toHaveLength(2);
      expect(answers.every((answer) => answer.lease === null)).toBe(true);
      expect((await read("rate-wide")).activeSlots).toBeCloseTo(2, 0);
    });

    it("refuses what can never be granted, unknown limits and repeated names, holding nothing", async () => {
      await a.client.api.createGlobalConcurrencyLimit({ body: { name: "roomy", limit: 5 } });
      await a.client.api.createGlobalConcurrencyLimit({ body: { name: "tiny", limit: 1 } });
      await expect(acquireTogether(0, { names: ["roomy", "tiny"], occupy: 2 })).rejects.toThrow(
        "global concurrency limit 'tiny' has 1 slots, fewer than the 2 asked for",
      );
      await expect(acquireTogether(1, { names: ["roomy", "missing"] })).rejects.toThrow(
        "global concurrency limit 'missing' does not exist",
      );
      expect(await read("roomy")).toMatchObject({ activeSlots: 0, leases: 0 });
      for (const [names, field] of [
        [["roomy", "tiny", "roomy"], /names\.2: 'roomy' is named twice/],
        [[], /names/],
      ] as const) {
        const response = await fetch(`${a.apiUrl}/global-concurrency-limits/acquire`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ names }),
        });
        expect(response.status).toBe(400);
        expect(((await response.json()) as { detail: string }).detail).toMatch(field);
      }
    });
  });
});

describe.each(DIALECTS)("the migration of global leases on %s", { timeout: 60_000 }, (dialect) => {
  it("keeps the leases held before it: renewed and released as before", async () => {
    const database = await throwawayDatabase(dialect);
    const db = openDatabase(database.url);
    const leaseId = newId();
    try {
      const migrator = new Migrator({ db: db.kysely, provider: migrationProvider(db.dialect) });
      expect((await migrator.migrateTo("0019_deployment_triggers")).error).toBeUndefined();
      // A limit and a lease as the server stored them then: the lease's id is its row's.
      const now = new Date();
      const limitId = newId();
      await db.kysely
        .insertInto("globalConcurrencyLimits")
        .values({
          id: limitId,
          name: "older",
          slotLimit: 1,
          active: 1,
          slotDecayPerSecond: null,
          decayedAt: null,
          created: now.toISOString(),
          updated: now.toISOString(),
        })
        .execute();
      await db.kysely
        .insertInto("globalConcurrencyLeases")
        .values({
          id: leaseId,
          limitId,
          slots: 1,
          holder: null,
          acquired: now.toISOString(),
          expires: new Date(now.getTime() + 60_000).toISOString(),
        } as never)
        .execute();
    } finally {
      await db.close();
    }
    const server = await startTestServer(dialect, {}, database);
    try {
      const read = () => server.client.api.readGlobalConcurrencyLimit({ params: { name: "older" } });
      expect(await read()).toMatchObject({ activeSlots: 1, leases: 1 });
      await server.client.api.renewGlobalConcurrencyLease({ params: { id: leaseId }, body: {} });
      await server.client.api.releaseGlobalConcurrencyLease({ params: { id: leaseId } });
      expect(await read()).toMatchObject({ activeSlots: 0, leases: 0 });
    } finally {
      await server.stop();
      await database.drop();
    }
  });
});
