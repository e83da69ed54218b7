import { BatonClient } from "@baton/client";

let cached: { key: string; client: BatonClient | null } | undefined;

/**
 * The client runs report to: BATON_API_URL (and BATON_API_KEY) from the environment, or null,
 * in which case flows still run, untracked, with logs on the console.
 */
export function defaultClient(): BatonClient | null {
  const url = process.env.BATON_API_URL || undefined;
  const apiKey = process.env.BATON_API_KEY || undefined;
  const key = `${url}\u0000${apiKey}`;
  if (cached?.key !== key) {
    cached = { key, client: url ? new BatonClient({ url, ...(apiKey ? { apiKey } : {}) }) : null };
  }
  return cached.client;
}
