import { newId, notFound, type Flow, type FlowCreate } from "@baton/core";
import type { Selectable } from "kysely";
import type { FlowTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";

const toFlow = (row: Selectable<FlowTable>): Flow => ({ ...row, tags: fromJson(row.tags, []) });

/** Returns the flow with this name, creating it first if needed (flows are registered by name). */
export async function ensureFlow({ db }: StoreContext, input: FlowCreate): Promise<Flow> {
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

export async function deleteFlow({ db }: StoreContext, id: string): Promise<void> {
  const result = await db.kysely.deleteFrom("flows").where("id", "=", id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("flow", id);
}
