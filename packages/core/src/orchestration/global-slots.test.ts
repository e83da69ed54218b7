import { describe, expect, it } from "vitest";
import {
  decideSlots,
  decideSlotsTogether,
  slotsInUse,
  type GlobalLimitUsage,
  type NamedLimitUsage,
  type SlotMode,
  type SlotsVerdict,
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

describe("decideSlotsTogether", () => {
  const named = (name: string, fields: Partial<GlobalLimitUsage>): NamedLimitUsage => ({
    name,
    ...usage(fields),
  });
  const rate = { limit: 5, slotDecayPerSecond: 5, decayedAt: ago(0) };
  const cases: {
    name: string;
    limits: NamedLimitUsage[];
    occupy: number;
    mode: SlotMode;
    verdict: SlotsVerdict;
  }[] = [
    {
      name: "grants a lease on each limit when all have room",
      limits: [named("a", { held: 1 }), named("b", {})],
      occupy: 1,
      mode: "concurrency",
      verdict: {
        kind: "granted",
        grants: [
          { kind: "granted", lease: true, decaying: 0 },
          { kind: "granted", lease: true, decaying: 0 },
        ],
      },
    },
    {
      name: "grants nothing while one limit is full, however free the others are",
      limits: [named("a", { held: 2 }), named("b", {})],
      occupy: 1,
      mode: "concurrency",
      verdict: { kind: "wait", retryAfterSeconds: null },
    },
    {
      name: "the same the other way round",
      limits: [named("b", {}), named("a", { held: 2 })],
      occupy: 1,
      mode: "concurrency",
      verdict: { kind: "wait", retryAfterSeconds: null },
    },
    {
      name: "takes occupy slots of each limit",
      limits: [named("a", { limit: 3, held: 1 }), named("b", { limit: 1 })],
      occupy: 2,
      mode: "concurrency",
      verdict: { kind: "refused", name: "b", reason: "has 1 slots, fewer than the 2 asked for" },
    },
    {
      name: "a limit that can never grant refuses the whole, even while another waits",
      limits: [named("a", { held: 2 }), named("b", { limit: 1 })],
      occupy: 2,
      mode: "concurrency",
      verdict: { kind: "refused", name: "b", reason: "has 1 slots, fewer than the 2 asked for" },
    },
    {
      name: "an inactive limit counts nothing beside an active one",
      limits: [named("off", { active: false, held: 2 }), named("on", { held: 1 })],
      occupy: 1,
      mode: "concurrency",
      verdict: {
        kind: "granted",
        grants: [
          { kind: "granted", lease: false, decaying: 0 },
          { kind: "granted", lease: true, decaying: 0 },
        ],
      },
    },
    {
      name: "rate grants add decaying slots to each limit",
      limits: [named("a", { ...rate, decaying: 1 }), named("b", { ...rate, decaying: 3 })],
      occupy: 2,
      mode: "rate",
      verdict: {
        kind: "granted",
        grants: [
          { kind: "granted", lease: false, decaying: 3 },
          { kind: "granted", lease: false, decaying: 5 },
        ],
      },
    },
    {
      name: "rate limits wait until the slowest one has decayed enough",
      limits: [
        named("a", { ...rate, decaying: 5 }),
        named("b", { ...rate, decaying: 5, slotDecayPerSecond: 1 }),
      ],
      occupy: 2,
      mode: "rate",
      verdict: { kind: "wait", retryAfterSeconds: 2 },
    },
    {
      name: "decay is no help while another limit waits for a release",
      limits: [named("a", { ...rate, decaying: 5 }), named("b", { ...rate, held: 5 })],
      occupy: 1,
      mode: "rate",
      verdict: { kind: "wait", retryAfterSeconds: null },
    },
    {
      name: "refuses to rate-limit with any limit that has no decay",
      limits: [named("a", rate), named("plain", {})],
      occupy: 1,
      mode: "rate",
      verdict: {
        kind: "refused",
        name: "plain",
        reason:
          "has no slot decay, so its slots would never free themselves: give it slotDecayPerSecond to rate-limit with it",
      },
    },
  ];
  it.each(cases)("$name", ({ limits, occupy, mode, verdict }) => {
    const answer = decideSlotsTogether(limits, occupy, mode, NOW);
    if (answer.kind === "wait" && verdict.kind === "wait" && verdict.retryAfterSeconds !== null) {
      expect(answer.retryAfterSeconds).toBeCloseTo(verdict.retryAfterSeconds);
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
