import { newId, notFound, type Automation, type AutomationCreate, type AutomationUpdate } from "@baton/core";
import type { Selectable } from "kysely";
import type { z } from "zod";
import type { AutomationTable } from "../db/schema.js";
import { fromJson, nowIso, toFlag, toJson, toPage, type StoreContext } from "./context.js";

const toAutomation = (row: Selectable<AutomationTable>): Automation => ({
  ...row,
  enabled: row.enabled === 1,
  trigger: fromJson(row.trigger, {}),
  actions: fromJson(row.actions, []),
});

export async function readAutomation({ db }: StoreContext, id: string): Promise<Automation> {
  const row = await db.kysely.selectFrom("automations").selectAll().where("id", "=", id).executeTakeFirst();
  if (!row) throw notFound("automation", id);
  return toAutomation(row);
}

export async function createAutomation(
  ctx: StoreContext,
  input: z.output<typeof AutomationCreate>,
): Promise<Automation> {
  const now = nowIso();
  const id = newId();
  await ctx.db.kysely
    .insertInto("automations")
    .values({
      id,
      name: input.name,
      description: input.description ?? null,
      enabled: toFlag(input.enabled),
      trigger: toJson(input.trigger),
      actions: toJson(input.actions),
      created: now,
      updated: now,
    })
    .execute();
  return readAutomation(ctx, id);
}

export async function updateAutomation(
  ctx: StoreContext,
  id: string,
  input: z.output<typeof AutomationUpdate>,
): Promise<Automation> {
  const result = await ctx.db.kysely
    .updateTable("automations")
    .set({
      updated: nowIso(),
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled !== undefined ? { enabled: toFlag(input.enabled) } : {}),
      ...(input.trigger !== undefined ? { trigger: toJson(input.trigger) } : {}),
      ...(input.actions !== undefined ? { actions: toJson(input.actions) } : {}),
    })
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("automation", id);
  return readAutomation(ctx, id);
}

export async function listAutomations({ db }: StoreContext, query: { limit: number; offset: number }) {
  const rows = await db.kysely
    .selectFrom("automations")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toAutomation), query.limit, query.offset);
}

export async function deleteAutomation({ db }: StoreContext, id: string): Promise<void> {
  const result = await db.kysely.deleteFrom("automations").where("id", "=", id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("automation", id);
}
