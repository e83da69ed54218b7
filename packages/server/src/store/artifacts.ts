import {
  ARTIFACT_DATA,
  BatonError,
  newId,
  notFound,
  type Artifact,
  type ArtifactCreate,
  type ArtifactQuery,
  type ArtifactType,
  type ArtifactUpdate,
} from "@baton/core";
import type { z } from "zod";
import { constraintError } from "../db/database.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";

/** Artifacts with the name of their flow run, newest first. */
function selectArtifacts({ db }: StoreContext) {
  return db.kysely
    .selectFrom("artifacts")
    .leftJoin("flowRuns", "flowRuns.id", "artifacts.flowRunId")
    .selectAll("artifacts")
    .select("flowRuns.name as flowRunName")
    .orderBy("artifacts.created", "desc")
    .orderBy("artifacts.id", "desc");
}

type ArtifactRow = Awaited<ReturnType<ReturnType<typeof selectArtifacts>["execute"]>>[number];

// The store writes only data its type holds (ARTIFACT_DATA), so each row's type and data agree.
const toArtifact = (row: ArtifactRow): Artifact => ({
  id: row.id,
  type: row.type as ArtifactType,
  data: fromJson<never>(row.data, null!),
  key: row.key,
  description: row.description,
  flowRunId: row.flowRunId,
  flowRunName: row.flowRunName,
  taskRunId: row.taskRunId,
  created: row.created,
  updated: row.updated,
});

export async function readArtifact(ctx: StoreContext, id: string): Promise<Artifact> {
  const row = await selectArtifacts(ctx).where("artifacts.id", "=", id).executeTakeFirst();
  if (!row) throw notFound("artifact", id);
  return toArtifact(row);
}

/** A new artifact; with a key, the key's newest version. */
export async function createArtifact(ctx: StoreContext, input: ArtifactCreate): Promise<Artifact> {
  const id = newId();
  const now = nowIso();
  try {
    await ctx.db.kysely
      .insertInto("artifacts")
      .values({
        id,
        key: input.key ?? null,
        type: input.type,
        description: input.description ?? null,
        data: toJson(input.data),
        flowRunId: input.flowRunId ?? null,
        taskRunId: input.taskRunId ?? null,
        created: now,
        updated: now,
      })
      .execute();
  } catch (error) {
    const problem = constraintError(error, "artifact");
    if (problem?.code === "invalid_argument" && input.flowRunId) throw notFound("flow run", input.flowRunId);
    throw problem ?? error;
  }
  return readArtifact(ctx, id);
}

/** An artifact's data, held to what its type holds, as when it was created. */
function dataOf(type: ArtifactType, data: unknown): unknown {
  const parsed = ARTIFACT_DATA[type].safeParse(data);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.map((issue) => ({
    path: ["body", "data", ...issue.path].join("."),
    message: issue.message,
  }));
  throw new BatonError(
    "invalid_argument",
    `invalid body: the data of a ${type} artifact: ${issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ")}`,
    { issues },
  );
}

export async function updateArtifact(
  ctx: StoreContext,
  id: string,
  input: ArtifactUpdate,
): Promise<Artifact> {
  const { type } = await readArtifact(ctx, id);
  await ctx.db.kysely
    .updateTable("artifacts")
    .set({
      updated: nowIso(),
      ...(input.data !== undefined ? { data: toJson(dataOf(type, input.data)) } : {}),
      ...(input.description !== undefined ? { description: input.description } : {}),
    })
    .where("id", "=", id)
    .execute();
  return readArtifact(ctx, id);
}

export async function listArtifacts(ctx: StoreContext, query: z.output<typeof ArtifactQuery>) {
  let select = selectArtifacts(ctx);
  if (query.flowRunId) select = select.where("artifacts.flowRunId", "=", query.flowRunId);
  if (query.taskRunId) select = select.where("artifacts.taskRunId", "=", query.taskRunId);
  if (query.key) select = select.where("artifacts.key", "=", query.key);
  if (query.type) select = select.where("artifacts.type", "=", query.type);
  if (query.latest) {
    // Read at each listing rather than kept as a flag: a newest version deleted with its run (or by
    // hand) leaves the one before it the newest, with nothing to fix up.
    select = select.where("artifacts.key", "is not", null).where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom("artifacts as newer")
            .select("newer.id")
            .whereRef("newer.key", "=", "artifacts.key")
            .where((newer) =>
              newer.or([
                newer("newer.created", ">", newer.ref("artifacts.created")),
                newer.and([
                  newer("newer.created", "=", newer.ref("artifacts.created")),
                  newer("newer.id", ">", newer.ref("artifacts.id")),
                ]),
              ]),
            ),
        ),
      ),
    );
  }
  const rows = await select
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toArtifact), query.limit, query.offset);
}

/** The versions of a key, newest first; a key without any is not found. */
export async function listArtifactVersions(
  ctx: StoreContext,
  key: string,
  query: { limit: number; offset: number },
) {
  const versions = await listArtifacts(ctx, { key, ...query });
  if (versions.items.length === 0 && query.offset === 0) throw notFound("artifact key", key);
  return versions;
}

export async function deleteArtifact({ db }: StoreContext, id: string): Promise<void> {
  const result = await db.kysely.deleteFrom("artifacts").where("id", "=", id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("artifact", id);
}

export async function deleteArtifactKey({ db }: StoreContext, key: string): Promise<{ deleted: number }> {
  const result = await db.kysely.deleteFrom("artifacts").where("key", "=", key).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("artifact key", key);
  return { deleted: Number(result.numDeletedRows) };
}
