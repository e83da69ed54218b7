// What a scenario must hold, checked from the ledger (what the flows' code did) and the store (what
// the server recorded). Every figure but `staleSteps` is a violation when not 0.
import type { BatonClient } from "@baton/client";
import { isTerminal, type FlowRun } from "@baton/core";
import { executions, type Execution, type LedgerEntry } from "./ledger.js";

export interface Figures {
  runs: number;
  /** Runs not in a final state at the end. */
  notFinal: number;
  /** Runs that did not complete, or completed with no execution of their code that ran to its end. */
  lost: number;
  /** Runs carried out twice: two executions active at once, two that ran to the end, or two COMPLETED states. */
  duplicates: number;
  /** Step lines an execution that ran to its end logged (by the ledger) but the store does not have. */
  lostLogs: number;
  /** Tag slots still held at the end (every run has ended, so none should be). */
  leakedSlots: number;
  /** Moments when more executions were active than a deployment, queue or tag limit allows. */
  limitViolations: number;
  /** Ledger entries a stale attempt wrote after a newer attempt of its run had started (not a violation). */
  staleSteps: number;
  /** Step lines stored more than once (a batch sent again after a lost answer must be stored once). */
  duplicateLogs: number;
}

export const VIOLATIONS = [
  "notFinal",
  "lost",
  "duplicates",
  "lostLogs",
  "duplicateLogs",
  "leakedSlots",
  "limitViolations",
] as const satisfies readonly (keyof Figures)[];

export interface Limits {
  /** Deployment id → its concurrency limit. */
  deployments: Map<string, number>;
  /** Queue name → its concurrency limit. */
  queues: Map<string, number>;
  /** The tag limit of the slot-holding task, if the scenario uses it. */
  slot?: number;
}

type Span = [number, number];

/**
 * When an execution's code was active: its entries, cut where two are further apart than `gapMs` (a
 * process frozen that long was not running; the flows write an entry every step, far more often).
 */
export function activeSpans(entries: LedgerEntry[], gapMs: number): Span[] {
  const spans: Span[] = [];
  for (const entry of entries) {
    const last = spans.at(-1);
    if (last && entry.t - last[1] <= gapMs) last[1] = entry.t;
    else spans.push([entry.t, entry.t]);
  }
  return spans;
}

/** When an execution held its tag slot: from `slot` to `unslot`, or to its last entry if killed first. */
function slotSpans(execution: Execution): Span[] {
  const spans: Span[] = [];
  let from: number | undefined;
  for (const entry of execution.entries) {
    if (entry.event === "slot") from = entry.t;
    if (entry.event === "unslot" && from !== undefined) {
      spans.push([from, entry.t]);
      from = undefined;
    }
  }
  if (from !== undefined) spans.push([from, execution.entries.at(-1)!.t]);
  return spans;
}

const overlaps = (a: Span[], b: Span[]) => a.some(([s1, e1]) => b.some(([s2, e2]) => s1 < e2 && s2 < e1));

/** How many times the number of spans open at once went above `limit` (an end before a start at one instant). */
export function exceeded(spans: Span[], limit: number): number {
  const edges = spans.flatMap(([start, end]) => [[start, 1] as const, [end, -1] as const]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let times = 0;
  for (const [, change] of edges) {
    open += change;
    if (change === 1 && open > limit) times++;
  }
  return times;
}

/** Reads what the store holds for each run, then checks it against the ledger. */
export async function check(
  client: BatonClient,
  runs: FlowRun[],
  ledger: LedgerEntry[],
  limits: Limits,
  gapMs: number,
): Promise<Figures> {
  const all = executions(ledger);
  const byRun = new Map<string, Execution[]>();
  for (const execution of all) byRun.set(execution.run, [...(byRun.get(execution.run) ?? []), execution]);
  const figures: Figures = {
    runs: runs.length,
    notFinal: 0,
    lost: 0,
    duplicates: 0,
    lostLogs: 0,
    leakedSlots: 0,
    limitViolations: 0,
    staleSteps: 0,
    duplicateLogs: 0,
  };
  const spans = new Map(all.map((execution) => [execution.exec, activeSpans(execution.entries, gapMs)]));

  for (const run of runs) {
    const mine = byRun.get(run.id) ?? [];
    const ended = mine.filter((execution) => execution.ended);
    if (!isTerminal(run.state?.type)) figures.notFinal++;
    if (run.state?.type !== "COMPLETED" || ended.length === 0) figures.lost++;

    const history = await client.api.listFlowRunStates({ params: { id: run.id } });
    const completions = history.filter((state) => state.type === "COMPLETED").length;
    const together = mine.some((a, i) =>
      mine.slice(i + 1).some((b) => overlaps(spans.get(a.exec)!, spans.get(b.exec)!)),
    );
    if (together || ended.length > 1 || completions > 1) figures.duplicates++;

    // Entries of an older attempt written after a newer attempt had started: the window fencing allows.
    for (const execution of mine) {
      const newer = mine.filter((other) => (other.attempt ?? 0) > (execution.attempt ?? 0));
      const from = Math.min(...newer.map((other) => other.entries[0]!.t));
      figures.staleSteps += execution.entries.filter((entry) => entry.t > from).length;
    }

    if (ended.length > 0) {
      const logs = await client.api.listLogs({ query: { flowRunId: run.id, limit: 5000 } });
      for (const execution of ended) {
        const expected = execution.entries.filter((entry) => entry.event === "step").length;
        const lines = logs.items.filter((log) => log.message.startsWith(`${execution.exec} step `));
        const distinct = new Set(lines.map((log) => log.message)).size;
        figures.lostLogs += Math.max(0, expected - distinct);
        figures.duplicateLogs += lines.length - distinct;
      }
    }
  }

  // Limits, from when the executions of each deployment's and queue's runs were active.
  const spansOf = (ids: Set<string>) =>
    all.filter((execution) => ids.has(execution.run)).flatMap((execution) => spans.get(execution.exec)!);
  for (const [deployment, limit] of limits.deployments) {
    const ids = new Set(runs.filter((run) => run.deploymentId === deployment).map((run) => run.id));
    figures.limitViolations += exceeded(spansOf(ids), limit);
  }
  for (const [queue, limit] of limits.queues) {
    const ids = new Set(runs.filter((run) => run.workQueueName === queue).map((run) => run.id));
    figures.limitViolations += exceeded(spansOf(ids), limit);
  }
  if (limits.slot !== undefined) figures.limitViolations += exceeded(all.flatMap(slotSpans), limits.slot);

  const held = await client.api.listConcurrencyLimits({ query: {} });
  figures.leakedSlots = held.items.reduce((sum, limit) => sum + limit.activeSlots.length, 0);
  return figures;
}
