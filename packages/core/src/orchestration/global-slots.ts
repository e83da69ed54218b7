/**
 * Whether global concurrency limits grant slots now. Pure: the store reads the limits and their
 * unexpired leases in a transaction that locks the limits' rows, and applies what this answers, so
 * that racing acquirers are decided one after the other and every limit stays exact.
 */

/** A global limit as an acquire sees it. */
export interface GlobalLimitUsage {
  limit: number;
  active: boolean;
  slotDecayPerSecond: number | null;
  /** Slots held by unexpired leases. */
  held: number;
  /** Slots of rate-limited grants as last counted at `decayedAt`; they free themselves since. */
  decaying: number;
  decayedAt: string | null;
}

export type SlotMode = "concurrency" | "rate";

export type SlotVerdict =
  /** `lease`: hold the slots under a lease; `decaying`: what to store as the decaying slots now. */
  | { kind: "granted"; lease: boolean; decaying: number }
  /** Ask again after a release, a lease running out, or `retryAfterSeconds` (null: no sooner). */
  | { kind: "wait"; retryAfterSeconds: number | null }
  /** Never grantable as asked: the reason says why. */
  | { kind: "refused"; reason: string };

/** The decaying slots left at `now`. */
export function decayedSlots(usage: GlobalLimitUsage, now: Date): number {
  if (usage.decaying <= 0 || usage.slotDecayPerSecond === null || usage.decayedAt === null) {
    return Math.max(0, usage.decaying);
  }
  const seconds = Math.max(0, (now.getTime() - Date.parse(usage.decayedAt)) / 1000);
  return Math.max(0, usage.decaying - usage.slotDecayPerSecond * seconds);
}

/** Slots in use at `now`: held by leases, and decaying ones not yet freed. */
export const slotsInUse = (usage: GlobalLimitUsage, now: Date): number =>
  usage.held + decayedSlots(usage, now);

export function decideSlots(usage: GlobalLimitUsage, occupy: number, mode: SlotMode, now: Date): SlotVerdict {
  const decaying = decayedSlots(usage, now);
  if (mode === "rate" && usage.slotDecayPerSecond === null) {
    return {
      kind: "refused",
      reason:
        "has no slot decay, so its slots would never free themselves: give it slotDecayPerSecond to rate-limit with it",
    };
  }
  // An inactive limit admits everyone and counts nothing (as Prefect's).
  if (!usage.active) return { kind: "granted", lease: false, decaying };
  if (occupy > usage.limit) {
    return { kind: "refused", reason: `has ${usage.limit} slots, fewer than the ${occupy} asked for` };
  }
  const free = usage.limit - usage.held - decaying;
  // A hair of tolerance: a slot that decays at 5/s is free after 0.2 s, not 0.2 s and a rounding error.
  if (occupy <= free + 1e-9) {
    return mode === "rate"
      ? { kind: "granted", lease: false, decaying: decaying + occupy }
      : { kind: "granted", lease: true, decaying };
  }
  const short = occupy - free;
  // Decay alone frees enough when the held slots leave room; otherwise only a release or expiry does.
  const decayCovers = usage.slotDecayPerSecond !== null && short <= decaying + 1e-9;
  return { kind: "wait", retryAfterSeconds: decayCovers ? short / usage.slotDecayPerSecond! : null };
}

/** One of the limits an acquire of several asks for. */
export interface NamedLimitUsage extends GlobalLimitUsage {
  name: string;
}

export type SlotsVerdict =
  /** What to apply to each limit, in the order they were given. */
  | { kind: "granted"; grants: Extract<SlotVerdict, { kind: "granted" }>[] }
  | { kind: "wait"; retryAfterSeconds: number | null }
  /** Limit `name` can never grant what was asked: the reason says why. */
  | { kind: "refused"; name: string; reason: string };

/**
 * Whether several limits grant `occupy` slots each, all of them or none (as Prefect's
 * `concurrency(["a", "b"])`): a caller never holds some while it waits for the others, so callers
 * asking for [a, b] and [b, a] cannot hold one each and wait for each other forever.
 */
export function decideSlotsTogether(
  limits: readonly NamedLimitUsage[],
  occupy: number,
  mode: SlotMode,
  now: Date,
): SlotsVerdict {
  const verdicts = limits.map((limit) => decideSlots(limit, occupy, mode, now));
  const refused = verdicts.findIndex((verdict) => verdict.kind === "refused");
  if (refused >= 0) {
    const verdict = verdicts[refused] as Extract<SlotVerdict, { kind: "refused" }>;
    return { kind: "refused", name: limits[refused]!.name, reason: verdict.reason };
  }
  const waits = verdicts.flatMap((verdict) => (verdict.kind === "wait" ? [verdict.retryAfterSeconds] : []));
  if (waits.length > 0) {
    // Every limit must have room at once: decay alone lets the caller in when the slowest has decayed;
    // a limit that needs a release makes it wait for a change.
    const decaySeconds = waits.filter((seconds) => seconds !== null);
    return {
      kind: "wait",
      retryAfterSeconds: decaySeconds.length === waits.length ? Math.max(...decaySeconds) : null,
    };
  }
  return { kind: "granted", grants: verdicts as Extract<SlotVerdict, { kind: "granted" }>[] };
}
