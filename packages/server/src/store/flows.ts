import { newId, notFound, type Flow, type FlowCreate } from "@baton/core";
import type { Kysely, Selectable } from "kysely";
import type { Database, FlowTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";

const toFlow = (row: Selectable<FlowTable>): Flow => ({ ...row, tags: fromJson(row.tags, []) });

/** Returns the flow with this name, creating it first if needed (flows are registered by name). */
export async function ensureFlow(ctx: StoreContext, input: FlowCreate): Promise<Flow> {
  const flow = await findOrInsertFlow(ctx, input);
  keepFlowId(ctx, flow);
  return flow;
}

async function findOrInsertFlow({ db }: StoreContext, input: FlowCreate): Promise<Flow> {
  const existing = await db.kysely
    .selectFrom("flows")
    .selectAll()
    .where("name", "=", input.name)
    .executeTakeFirst();
  if (existing) return toFlow(existing);
  const now = nowIso();
  await db.kysely
    .insertInto("flows")
    .values({
      id: newId(),
      name: input.name,
      description: input.description ?? null,
      tags: toJson(input.tags ?? []),
      created: now,
      updated: now,
    })
    .onConflict((oc) => oc.column("name").doNothing())
    .execute();
  const row = await db.kysely
    .selectFrom("flows")
    .selectAll()
    .where("name", "=", input.name)
    .executeTakeFirstOrThrow();
  return toFlow(row);
}

/** The most flow names a database's ids are kept for (a process creates many runs of a few flows). */
const KEPT_FLOW_IDS = 1_000;
const flowIds = new WeakMap<Kysely<Database>, Map<string, string>>();

/**
 * The id of the flow with this name, as ensureFlow last found it on this database: a flow's id never
 * changes, so a run of a known flow is created without reading it. A flow deleted since (its runs go
 * with it) is told by the new run's foreign key; its caller forgets the ids (`forgetFlowIds`) and
 * asks ensureFlow.
 */
export const knownFlowId = ({ db }: StoreContext, name: string): string | undefined =>
  flowIds.get(db.kysely)?.get(name);

export function forgetFlowIds({ db }: StoreContext): void {
  flowIds.get(db.kysely)?.clear();
}

function keepFlowId({ db }: StoreContext, flow: { id: string; name: string }): void {
  let ids = flowIds.get(db.kysely);
  if (!ids) flowIds.set(db.kysely, (ids = new Map<string, string>()));
  if (ids.size >= KEPT_FLOW_IDS) ids.clear();
  ids.set(flow.name, flow.id);
}

export async function readFlow({ db }: StoreContext, by: { id: string } | { name: string }): Promise<Flow> {
  const query = db.kysely.selectFrom("flows").selectAll();
  const row = await (
    "id" in by ? query.where("id", "=", by.id) : query.where("name", "=", by.name)
  ).executeTakeFirst();
  if (!row) throw notFound("flow", "id" in by ? by.id : by.name);
  return toFlow(row);
}

export async function listFlows(
  { db }: StoreContext,
  query: { name?: string | undefined; limit: number; offset: number },
) {
  let q = db.kysely
    .selectFrom("flows")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset);
  if (query.name) q = q.where("name", "like", `%${query.name}%`);
  return toPage((await q.execute()).map(toFlow), query.limit, query.offset);
}

export async function deleteFlow(ctx: StoreContext, id: string): Promise<void> {
  forgetFlowIds(ctx);
  const result = await ctx.db.kysely.deleteFrom("flows").where("id", "=", id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("flow", id);
}
