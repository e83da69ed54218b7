import {
  freshWindow,
  newId,
  notFound,
  type ActionRun,
  type ActionRunQuery,
  type Automation,
  type AutomationCreate,
  type AutomationUpdate,
} from "@baton/core";
import type { Selectable } from "kysely";
import type { z } from "zod";
import type { ActionRunTable, AutomationTable } from "../db/schema.js";
import { fromJson, toFlag, toJson, toPage, type StoreContext } from "./context.js";

export const toAutomation = ({
  windowStart: _start,
  windowCount: _count,
  triggerState: _state,
  ...row
}: Selectable<AutomationTable>): Automation => ({
  ...row,
  enabled: row.enabled === 1,
  trigger: fromJson(row.trigger, { events: [], posture: "reactive", threshold: 1 }),
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
  const now = new Date();
  const id = newId();
  const window = freshWindow(now);
  await ctx.db.kysely
    .insertInto("automations")
    .values({
      id,
      name: input.name,
      description: input.description ?? null,
      enabled: toFlag(input.enabled),
      trigger: toJson(input.trigger),
      actions: toJson(input.actions),
      windowStart: window.start,
      windowCount: window.count,
      created: now.toISOString(),
      updated: now.toISOString(),
    })
    .execute();
  return readAutomation(ctx, id);
}

export async function updateAutomation(
  ctx: StoreContext,
  id: string,
  input: z.output<typeof AutomationUpdate>,
): Promise<Automation> {
  const now = new Date();
  // A changed trigger, or an automation paused or resumed, counts from now: what it saw before does not.
  const window = input.trigger !== undefined || input.enabled !== undefined ? freshWindow(now) : undefined;
  const result = await ctx.db.kysely
    .updateTable("automations")
    .set({
      updated: now.toISOString(),
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
      ...(input.enabled !== undefined ? { enabled: toFlag(input.enabled) } : {}),
      ...(input.trigger !== undefined ? { trigger: toJson(input.trigger) } : {}),
      ...(input.actions !== undefined ? { actions: toJson(input.actions) } : {}),
      ...(window ? { windowStart: window.start, windowCount: window.count, triggerState: null } : {}),
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

/** Deletes an automation with its action runs: pending deliveries are dropped too. */
export async function deleteAutomation({ db }: StoreContext, id: string): Promise<void> {
  const result = await db.kysely.deleteFrom("automations").where("id", "=", id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("automation", id);
}

export const toActionRun = (row: Selectable<ActionRunTable>): ActionRun => ({
  ...row,
  action: fromJson(row.action, { type: "test-sink" }),
  context: fromJson(row.context, {}),
  resolved: fromJson(row.resolved, {}),
  status: row.status as ActionRun["status"],
  attempts: fromJson(row.attempts, []),
});

export async function listActionRuns({ db }: StoreContext, query: z.output<typeof ActionRunQuery>) {
  let q = db.kysely.selectFrom("actionRuns").selectAll();
  if (query.automationId) q = q.where("automationId", "=", query.automationId);
  if (query.status?.length) q = q.where("status", "in", query.status);
  const rows = await q
    .orderBy("created", "desc")
    .orderBy("id", "desc")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toActionRun), query.limit, query.offset);
}
