import { z } from "zod";
import { Id, Name, Timestamps } from "./common.js";
import { ConcurrencyLimitCreate } from "./models.js";

/** How many slots a limit allows: the bounds of a tag's limit, kept in one place. */
const SlotLimit = ConcurrencyLimitCreate.shape.limit;
/** With it a limit is also a rate limit: its slots free themselves at this rate, without a release. */
const SlotDecay = z.number().positive().max(1_000_000);

/**
 * A named limit shared by every process of a server (Prefect's global concurrency limit): at most
 * `limit` slots in use at once. Held slots are leases their holder renews; slots taken by a rate
 * limit (a limit with `slotDecayPerSecond`) free themselves at that rate.
 */
export const GlobalConcurrencyLimit = z.object({
  id: Id,
  name: Name,
  limit: z.number().int(),
  /** An inactive limit admits everyone and counts nothing. */
  active: z.boolean(),
  slotDecayPerSecond: z.number().nullable(),
  /** Slots in use now: those held by leases, and those of rate-limited grants not yet decayed. */
  activeSlots: z.number(),
  /** Leases holding slots now. */
  leases: z.number().int(),
  ...Timestamps,
});
export type GlobalConcurrencyLimit = z.infer<typeof GlobalConcurrencyLimit>;

export const GlobalConcurrencyLimitCreate = z.strictObject({
  name: Name,
  limit: SlotLimit,
  active: z.boolean().default(true),
  slotDecayPerSecond: SlotDecay.nullish(),
});
export type GlobalConcurrencyLimitCreate = z.input<typeof GlobalConcurrencyLimitCreate>;

export const GlobalConcurrencyLimitUpdate = z.strictObject({
  limit: SlotLimit.optional(),
  active: z.boolean().optional(),
  /** null turns a rate limit back into a plain concurrency limit. */
  slotDecayPerSecond: SlotDecay.nullish(),
});
export type GlobalConcurrencyLimitUpdate = z.infer<typeof GlobalConcurrencyLimitUpdate>;

/** How long a lease lasts unless renewed: the time a crashed holder's slots stay taken, at most. */
export const DEFAULT_LEASE_SECONDS = 30;
/** The longest an acquire waits in one request; callers that would wait longer ask again. */
export const MAX_ACQUIRE_WAIT_SECONDS = 60;

/** What an acquire asks of each limit it names. */
const SlotsRequest = {
  /** How many slots to take. */
  occupy: z.number().int().min(1).max(1_000_000).default(1),
  /**
   * `concurrency`: hold the slots under a lease until released (or until the lease runs out);
   * `rate`: take slots from a limit with slot decay, which free themselves (no lease, no release).
   */
  mode: z.enum(["concurrency", "rate"]).default("concurrency"),
  leaseSeconds: z.number().min(1).max(3600).default(DEFAULT_LEASE_SECONDS),
  /** Wait up to this long for the slots (a long poll); 0 answers at once. */
  waitSeconds: z.number().min(0).max(MAX_ACQUIRE_WAIT_SECONDS).default(0),
  /** Who holds the lease, for people reading the limit (a flow run, a process). */
  holder: z.string().min(1).max(200).optional(),
};

export const SlotsAcquire = z.strictObject(SlotsRequest);
export type SlotsAcquire = z.input<typeof SlotsAcquire>;

export const SlotLease = z.object({ id: Id, slots: z.number().int(), expires: z.string() });
export type SlotLease = z.infer<typeof SlotLease>;

export const SlotsAcquired = z.object({
  /** False when the wait ended before the slots were free: ask again. */
  granted: z.boolean(),
  /** The lease holding the slots; null when none is held (a rate limit, an inactive limit, not granted). */
  lease: SlotLease.nullable(),
  limit: GlobalConcurrencyLimit,
});
export type SlotsAcquired = z.infer<typeof SlotsAcquired>;

/** Slots of several limits, taken all together or not at all. */
export const SlotsAcquireTogether = z.strictObject({
  /** The limits, each giving `occupy` slots; in any order, each once. */
  names: z
    .array(Name)
    .min(1)
    .max(100)
    .superRefine((names, context) => {
      names.forEach((name, index) => {
        if (names.indexOf(name) !== index) {
          context.addIssue({
            code: "custom",
            path: [index],
            message: `'${name}' is named twice: name each limit once`,
          });
        }
      });
    }),
  ...SlotsRequest,
});
export type SlotsAcquireTogether = z.input<typeof SlotsAcquireTogether>;

export const SlotsAcquiredTogether = z.object({
  /** False when the wait ended before every limit had the slots: ask again. Nothing is held then. */
  granted: z.boolean(),
  /** One lease holding the slots of every limit that counts them; renewed and released as one. */
  lease: SlotLease.nullable(),
  /** The limits, in the order they were named. */
  limits: z.array(GlobalConcurrencyLimit),
});
export type SlotsAcquiredTogether = z.infer<typeof SlotsAcquiredTogether>;

export const LeaseRenew = z.strictObject({
  leaseSeconds: z.number().min(1).max(3600).default(DEFAULT_LEASE_SECONDS),
});
export type LeaseRenew = z.input<typeof LeaseRenew>;
