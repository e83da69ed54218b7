import { describe, expect, it } from "vitest";
import {
  decideSlots,
  slotsInUse,
  type GlobalLimitUsage,
  type SlotMode,
  type SlotVerdict,
} from "./global-slots.js";

const NOW = new Date("2026-01-01T00:00:10.000Z");
/** `decayedAt` seconds before NOW. */
const ago = (seconds: number) => new Date(NOW.getTime() - seconds * 1000).toISOString();

const usage = (fields: Partial<GlobalLimitUsage>): GlobalLimitUsage => ({
  limit: 2,
  active: true,
  slotDecayPerSecond: null,
  held: 0,
  decaying: 0,
  decayedAt: null,
  ...fields,
});

describe("decideSlots", () => {
  const cases: {
    name: string;
    usage: GlobalLimitUsage;
    occupy: number;
    mode: SlotMode;
    verdict: SlotVerdict;
  }[] = [
    {
      name: "grants a lease while slots are free",
      usage: usage({ held: 1 }),
      occupy: 1,
      mode: "concurrency",
      verdict: { kind: "granted", lease: true, decaying: 0 },
    },
    {
      name: "waits for a release when the held slots fill the limit",
      usage: usage({ held: 2 }),
      occupy: 1,
      mode: "concurrency",
      verdict: { kind: "wait", retryAfterSeconds: null },
    },
    {
      name: "waits when fewer slots are free than asked for",
      usage: usage({ limit: 3, held: 2 }),
      occupy: 2,
      mode: "concurrency",
      verdict: { kind: "wait", retryAfterSeconds: null },
    },
    {
      name: "refuses more slots than the limit has",
      usage: usage({}),
      occupy: 3,
      mode: "concurrency",
      verdict: { kind: "refused", reason: "has 2 slots, fewer than the 3 asked for" },
    },
    {
      name: "admits everyone when inactive, counting nothing",
      usage: usage({ active: false, held: 2 }),
      occupy: 5,
      mode: "concurrency",
      verdict: { kind: "granted", lease: false, decaying: 0 },
    },
    {
      name: "a rate grant adds decaying slots, without a lease",
      usage: usage({ limit: 5, slotDecayPerSecond: 5, decaying: 4, decayedAt: ago(0.2) }),
      occupy: 2,
      mode: "rate",
      verdict: { kind: "granted", lease: false, decaying: 5 },
    },
    {
      name: "a full rate limit says when decay frees enough",
      usage: usage({ limit: 5, slotDecayPerSecond: 5, decaying: 5, decayedAt: ago(0) }),
      occupy: 2,
      mode: "rate",
      verdict: { kind: "wait", retryAfterSeconds: 0.4 },
    },
    {
      name: "decayed slots are free again",
      usage: usage({ limit: 5, slotDecayPerSecond: 5, decaying: 5, decayedAt: ago(1) }),
      occupy: 5,
      mode: "rate",
      verdict: { kind: "granted", lease: false, decaying: 5 },
    },
    {
      name: "decay cannot free slots that leases hold",
      usage: usage({ limit: 2, slotDecayPerSecond: 1, held: 2, decaying: 0, decayedAt: ago(0) }),
      occupy: 1,
      mode: "rate",
      verdict: { kind: "wait", retryAfterSeconds: null },
    },
    {
      name: "refuses to rate-limit with a limit that has no decay",
      usage: usage({}),
      occupy: 1,
      mode: "rate",
      verdict: {
        kind: "refused",
        reason:
          "has no slot decay, so its slots would never free themselves: give it slotDecayPerSecond to rate-limit with it",
      },
    },
  ];
  it.each(cases)("$name", ({ usage, occupy, mode, verdict }) => {
    const answer = decideSlots(usage, occupy, mode, NOW);
    if (answer.kind === "wait" && verdict.kind === "wait" && verdict.retryAfterSeconds !== null) {
      expect(answer.retryAfterSeconds).toBeCloseTo(verdict.retryAfterSeconds);
    } else if (answer.kind === "granted" && verdict.kind === "granted") {
      expect({ ...answer, decaying: Number(answer.decaying.toFixed(9)) }).toEqual(verdict);
    } else {
      expect(answer).toEqual(verdict);
    }
  });
});

describe("slotsInUse", () => {
  it("counts held slots and what decay has not freed yet", () => {
    expect(slotsInUse(usage({ held: 1, slotDecayPerSecond: 2, decaying: 3, decayedAt: ago(1) }), NOW)).toBe(
      2,
    );
    expect(slotsInUse(usage({ held: 1, slotDecayPerSecond: 2, decaying: 3, decayedAt: ago(5) }), NOW)).toBe(
      1,
    );
  });
});
