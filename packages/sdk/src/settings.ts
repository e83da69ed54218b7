import { BatonClient } from "@baton/client";
import { BatonError } from "@baton/core";

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

/** The default client, for `what`, which cannot go without a server: a clear error when BATON_API_URL is not set. */
export function requiredClient(what: string): BatonClient {
  const client = defaultClient();
  if (!client) {
    throw new BatonError(
      "invalid_argument",
      `${what} needs a Baton server: set BATON_API_URL (for example http://127.0.0.1:4200/api)`,
    );
  }
  return client;
}
