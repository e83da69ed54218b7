import type { BatonClient } from "@baton/client";
import { BatonError, type WorkPool } from "@baton/core";
import { allPages } from "./format.js";

/**
 * Reads a work pool and checks that it has the given queues, for the commands that name them
 * before using them (`deploy`, `worker start`): what is missing is an error that says how to
 * create it.
 */
export async function requirePool(
  client: BatonClient,
  pool: string,
  queues: string[] = [],
): Promise<WorkPool> {
  let found: WorkPool;
  try {
    found = await client.api.readWorkPool({ params: { name: pool } });
  } catch (error) {
    if (!(error instanceof BatonError && error.code === "not_found")) throw error;
    throw new BatonError(
      "not_found",
      `work pool '${pool}' does not exist; create it with 'baton work-pool create ${pool} --type process'`,
    );
  }
  if (queues.length === 0) return found;
  const existing = await allPages((offset) =>
    client.api.listWorkQueues({ params: { pool }, query: { limit: 200, offset } }),
  );
  const missing = queues.find((queue) => !existing.some(({ name }) => name === queue));
  if (missing !== undefined) {
    throw new BatonError(
      "not_found",
      `work queue '${missing}' does not exist in pool '${pool}'; create it with 'baton work-queue create ${missing} --pool ${pool}'`,
    );
  }
  return found;
}
