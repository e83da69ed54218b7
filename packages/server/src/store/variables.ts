import { newId, notFound, type Variable, type VariableCreate } from "@baton/core";
import type { Selectable } from "kysely";
import { constraintError } from "../db/database.js";
import type { VariableTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";

const toVariable = (row: Selectable<VariableTable>): Variable => ({
  ...row,
  value: fromJson(row.value, null),
  tags: fromJson(row.tags, []),
});

export async function readVariable({ db }: StoreContext, name: string): Promise<Variable> {
  const row = await db.kysely.selectFrom("variables").selectAll().where("name", "=", name).executeTakeFirst();
  if (!row) throw notFound("variable", name);
  return toVariable(row);
}

export async function createVariable(ctx: StoreContext, input: VariableCreate): Promise<Variable> {
  const now = nowIso();
  try {
    await ctx.db.kysely
      .insertInto("variables")
      .values({
        id: newId(),
        name: input.name,
        value: toJson(input.value),
        tags: toJson(input.tags ?? []),
        created: now,
        updated: now,
      })
      .execute();
  } catch (error) {
    throw constraintError(error, `variable '${input.name}'`) ?? error;
  }
  return readVariable(ctx, input.name);
}

export async function updateVariable(
  ctx: StoreContext,
  name: string,
  input: Partial<Omit<VariableCreate, "name">>,
): Promise<Variable> {
  const result = await ctx.db.kysely
    .updateTable("variables")
    .set({
      updated: nowIso(),
      ...(input.value !== undefined ? { value: toJson(input.value) } : {}),
      ...(input.tags !== undefined ? { tags: toJson(input.tags) } : {}),
    })
    .where("name", "=", name)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("variable", name);
  return readVariable(ctx, name);
}

export async function listVariables({ db }: StoreContext, query: { limit: number; offset: number }) {
  const rows = await db.kysely
    .selectFrom("variables")
    .selectAll()
    .orderBy("name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toVariable), query.limit, query.offset);
}

export async function deleteVariable({ db }: StoreContext, name: string): Promise<void> {
  const result = await db.kysely.deleteFrom("variables").where("name", "=", name).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("variable", name);
}
