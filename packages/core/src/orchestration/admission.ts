/**
 * Which due runs a claim may take without exceeding a limit: the work pool's, each work queue's and
 * each deployment's concurrency limit. Pure: the store reads the limits and the runs holding them in
 * the claim's transaction (with the pool and the limited deployments locked), and claims what this
 * answers, so that racing claims are decided one after the other and every limit stays exact.
 */

/** Where a run counts: its pool, queue and deployment (null when it has none). */
export interface RunPlace {
  workPoolName: string | null;
  workQueueId: string | null;
  deploymentId: string | null;
}

/** The limits that apply to a claim; null or absent means unlimited. */
export interface AdmissionLimits {
  /** The pool a worker claims from (absent for a serve process, which has none). */
  pool?: { name: string; limit: number | null };
  /** The queues claimed from, with their limits. */
  queues?: readonly { id: string; limit: number | null }[];
  /**
   * The deployments among the candidates that have a concurrency limit; `cancelNew` when a run due
   * while the limit is full is cancelled rather than left to wait (the CANCEL_NEW strategy).
   */
  deployments?: readonly { id: string; limit: number; cancelNew?: boolean }[];
}

/** What a claim pass does with its candidates. */
export interface Admission<C> {
  /** To claim, in their order. */
  admitted: C[];
  /** To cancel: their deployment has every slot in use and cancels new runs then. */
  cancelled: C[];
}

/** A limit's name in `admit`'s bookkeeping. */
type Key = string;

/** The limits `place` counts against, among those given. */
function keysOf(limits: AdmissionLimits, place: RunPlace): Key[] {
  const keys: Key[] = [];
  if (limits.pool && place.workPoolName === limits.pool.name) {
    keys.push("pool");
    if (place.workQueueId !== null) keys.push(`queue:${place.workQueueId}`);
  }
  if (place.deploymentId !== null) keys.push(`deployment:${place.deploymentId}`);
  return keys;
}

/**
 * The candidates to claim, in their order (the caller orders them: higher-priority queue first, then
 * the earliest due), at most `max`: each one whose every limit still has room once the runs holding
 * them (`holding`: in flight, or awaiting a retry in their own process) and the ones admitted before
 * it are counted. A candidate that does not fit is skipped, not waited for: one further down (another
 * queue or deployment) may fit, unless its deployment's limit is full and cancels new runs: then it
 * is to be cancelled.
 */
export function admit<C extends RunPlace>(
  candidates: readonly C[],
  limits: AdmissionLimits,
  holding: readonly RunPlace[],
  max: number,
): Admission<C> {
  const room = new Map<Key, number>();
  const limited: [Key, number | null][] = [
    ...(limits.pool ? [["pool", limits.pool.limit] as [Key, number | null]] : []),
    ...(limits.queues ?? []).map((queue): [Key, number | null] => [`queue:${queue.id}`, queue.limit]),
    ...(limits.deployments ?? []).map((deployment): [Key, number] => [
      `deployment:${deployment.id}`,
      deployment.limit,
    ]),
  ];
  for (const [key, limit] of limited) if (limit !== null) room.set(key, limit);
  for (const run of holding) {
    for (const key of keysOf(limits, run)) if (room.has(key)) room.set(key, room.get(key)! - 1);
  }

  const cancelling = new Set(
    (limits.deployments ?? []).filter((deployment) => deployment.cancelNew).map((d) => `deployment:${d.id}`),
  );
  const admitted: C[] = [];
  const cancelled: C[] = [];
  for (const run of candidates) {
    if (admitted.length >= max) break;
    const keys = keysOf(limits, run).filter((key) => room.has(key));
    const full = keys.filter((key) => room.get(key)! <= 0);
    if (full.some((key) => cancelling.has(key))) cancelled.push(run);
    if (full.length > 0) continue;
    for (const key of keys) room.set(key, room.get(key)! - 1);
    admitted.push(run);
  }
  return { admitted, cancelled };
}
