import type { Db } from "../db/database.js";
import type { EventBus } from "../events.js";
import type { SecretsKey } from "../secrets-key.js";

/** What every store operation needs: the database and the bus it announces changes on. */
export interface StoreContext {
  db: Db;
  events: EventBus;
  /** The key secrets are encrypted with; only the operations on secrets need it. */
  secretsKey?: SecretsKey;
  /**
   * Aborts when the server begins to stop: waiting claims answer at once and event streams end, so
   * their clients go on through another server (or this one, restarted).
   */
  stopping?: AbortSignal;
  /** Told what the store alone knows, for the server's metrics (metrics.ts). */
  observer?: StoreObserver;
  /**
   * Where the SDK's local result storage keeps results on this machine (BATON_HOME/results): the
   * dashboard shows a stored result from there when the run wrote it here (results.ts).
   */
  resultsDirectory?: string;
}

export interface StoreObserver {
  /**
   * A claim pass ended: how long its transaction took, and, for each run it claimed, when that run
   * became due (its scheduled time, or its creation when that was later).
   */
  claimPass(seconds: number, claimedDue: readonly string[], claimedAt: Date): void;
}

export const nowIso = (): string => new Date().toISOString();

/**
 * A timestamp from a request, in the one form the store writes (UTC, milliseconds, `Z`), so that it
 * compares as text with stored ones: "10:00:00+02:00" or "08:00:00Z" would not.
 */
export const toStoredTime = (timestamp: string): string => new Date(timestamp).toISOString();

export const toJson = (value: unknown): string => JSON.stringify(value ?? null);

export function fromJson<T>(text: string | null | undefined, fallback: T): T {
  if (text === null || text === undefined) return fallback;
  return JSON.parse(text) as T;
}

/** `items` in runs of at most `size`, for statements of bounded size. */
export const chunked = <T>(items: readonly T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

export const toFlag = (value: boolean | undefined): number => (value ? 1 : 0);

/** One more row than asked tells whether there is a next page. */
export function toPage<T>(
  rows: T[],
  limit: number,
  offset: number,
): { items: T[]; nextOffset: number | null } {
  const more = rows.length > limit;
  return { items: more ? rows.slice(0, limit) : rows, nextOffset: more ? offset + limit : null };
}
