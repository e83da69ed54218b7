import { EventName, newId, type Log, type LogQuery, type LogBatch } from "@baton/core";
import type { z } from "zod";
import { toPage, type StoreContext } from "./context.js";

/**
 * Writes a batch of logs in one statement and announces them to live followers. Lines whose id is
 * already stored (a batch sent again after its answer was lost) are skipped: each is stored once.
 */
export async function createLogs(
  ctx: StoreContext,
  batch: z.output<typeof LogBatch>,
): Promise<{ count: number }> {
  const rows = batch.map((log) => ({
    id: log.id ?? newId(),
    flowRunId: log.flowRunId ?? null,
    taskRunId: log.taskRunId ?? null,
    name: log.name,
    level: log.level,
    message: log.message,
    timestamp: log.timestamp,
  }));
  const stored = new Set<string>();
  // Bound the statement size: SQLite allows at most 32766 bound values.
  for (let start = 0; start < rows.length; start += 500) {
    const inserted = await ctx.db.kysely
      .insertInto("logs")
      .values(rows.slice(start, start + 500))
      .onConflict((conflict) => conflict.column("id").doNothing())
      .returning("id")
      .execute();
    for (const { id } of inserted) stored.add(id);
  }
  const byFlowRun = new Map<string | null, Log[]>();
  for (const row of rows.filter(({ id }) => stored.has(id))) {
    byFlowRun.set(row.flowRunId, [...(byFlowRun.get(row.flowRunId) ?? []), row]);
  }
  for (const [flowRunId, logs] of byFlowRun) {
    ctx.events.publish(EventName.Log, { kind: "flow-run", id: flowRunId ?? "" }, flowRunId, { logs });
  }
  return { count: stored.size };
}

/** Log lines by their ids, in the order they were written (another server's, heard by reference). */
export async function readLogs({ db }: StoreContext, ids: string[]): Promise<Log[]> {
  if (ids.length === 0) return [];
  return db.kysely
    .selectFrom("logs")
    .select(["id", "flowRunId", "taskRunId", "name", "level", "message", "timestamp"])
    .where("id", "in", ids)
    .orderBy("timestamp")
    .orderBy("seq")
    .execute();
}

export async function listLogs({ db }: StoreContext, query: z.output<typeof LogQuery>) {
  let q = db.kysely
    .selectFrom("logs")
    .select(["id", "flowRunId", "taskRunId", "name", "level", "message", "timestamp"]);
  if (query.flowRunId) q = q.where("flowRunId", "=", query.flowRunId);
  if (query.taskRunId) q = q.where("taskRunId", "=", query.taskRunId);
  if (query.minLevel !== undefined) q = q.where("level", ">=", query.minLevel);
  const rows = await q
    .orderBy("timestamp")
    .orderBy("seq")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows, query.limit, query.offset);
}
