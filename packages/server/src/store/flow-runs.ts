import {
  makeState,
  newId,
  notFound,
  type FlowRun,
  type FlowRunCreate,
  type FlowRunQuery,
  type FlowRunUpdate,
  type State,
  type StateHistoryEntry,
} from "@baton/core";
import type { Selectable, Updateable } from "kysely";
import type { z } from "zod";
import { constraintError } from "../db/database.js";
import type { FlowRunTable } from "../db/schema.js";
import { fromJson, nowIso, toJson, toPage, type StoreContext } from "./context.js";
import { ensureFlow, readFlow } from "./flows.js";
import { runName } from "./names.js";
import { insertWithFirstState, publishStateChange, type Applied } from "./set-state.js";

type FlowRunRow = Selectable<FlowRunTable> & { flowName: string };

export function toFlowRun(row: FlowRunRow): FlowRun {
  return {
    id: row.id,
    name: row.name,
    flowId: row.flowId,
    flowName: row.flowName,
    deploymentId: row.deploymentId,
    deploymentName: row.deploymentName,
    parentFlowRunId: row.parentFlowRunId,
    parentTaskRunId: row.parentTaskRunId,
    parameters: fromJson(row.parameters, {}),
    tags: fromJson(row.tags, []),
    labels: fromJson(row.labels, {}),
    idempotencyKey: row.idempotencyKey,
    workPoolName: row.workPoolName,
    workQueueName: row.workQueueName,
    jobVariables: fromJson(row.jobVariables, {}),
    state: fromJson<State | null>(row.state, null),
    runCount: row.runCount,
    retries: row.retries,
    retryDelaySeconds: fromJson(row.retryDelaySeconds, []),
    timeoutSeconds: row.timeoutSeconds,
    expectedStartTime: row.expectedStartTime,
    startTime: row.startTime,
    endTime: row.endTime,
    lastHeartbeat: row.lastHeartbeat,
    workerName: row.workerName,
    created: row.created,
    updated: row.updated,
  };
}

export const selectFlowRuns = ({ db }: StoreContext) =>
  db.kysely
    .selectFrom("flowRuns")
    .innerJoin("flows", "flows.id", "flowRuns.flowId")
    .selectAll("flowRuns")
    .select("flows.name as flowName");

export async function readFlowRun(ctx: StoreContext, id: string): Promise<FlowRun> {
  const row = await selectFlowRuns(ctx).where("flowRuns.id", "=", id).executeTakeFirst();
  if (!row) throw notFound("flow run", id);
  return toFlowRun(row);
}

/** Fields a run gets from where it was started: a flow called in code, or a deployment. */
export interface FlowRunInsert extends Omit<FlowRunCreate, "flowName"> {
  flowId: string;
  deploymentId?: string;
  deploymentName?: string;
  workPoolName?: string | null;
  workQueueName?: string | null;
  workQueueId?: string | null;
  jobVariables?: Record<string, unknown>;
}

/**
 * Creates a flow run with its first state. A repeated idempotency key returns the run it made first,
 * so a scheduler or a retried request never creates a duplicate.
 */
export async function insertFlowRun(ctx: StoreContext, input: FlowRunInsert): Promise<FlowRun> {
  if (input.idempotencyKey) {
    const existing = await selectFlowRuns(ctx)
      .where("flowRuns.flowId", "=", input.flowId)
      .where("flowRuns.idempotencyKey", "=", input.idempotencyKey)
      .executeTakeFirst();
    if (existing) return toFlowRun(existing);
  }
  const now = nowIso();
  const id = input.id ?? newId();
  const firstState = makeState(input.state ?? { type: "SCHEDULED" });
  let applied: Applied;
  try {
    applied = await insertWithFirstState(ctx, "flow", id, firstState, async (trx) => {
      await trx
        .insertInto("flowRuns")
        .values({
          id,
          name: input.name ?? runName(),
          flowId: input.flowId,
          deploymentId: input.deploymentId ?? null,
          deploymentName: input.deploymentName ?? null,
          parentFlowRunId: input.parentFlowRunId ?? null,
          parentTaskRunId: input.parentTaskRunId ?? null,
          parameters: toJson(input.parameters ?? {}),
          tags: toJson(input.tags ?? []),
          labels: toJson(input.labels ?? {}),
          idempotencyKey: input.idempotencyKey ?? null,
          workPoolName: input.workPoolName ?? null,
          workQueueName: input.workQueueName ?? null,
          workQueueId: input.workQueueId ?? null,
          jobVariables: toJson(input.jobVariables ?? {}),
          state: null,
          stateType: null,
          stateName: null,
          runCount: 0,
          retries: input.retries ?? 0,
          retryDelaySeconds: toJson(input.retryDelaySeconds ?? []),
          timeoutSeconds: input.timeoutSeconds ?? null,
          expectedStartTime: null,
          nextScheduledStartTime: null,
          startTime: null,
          endTime: null,
          lastHeartbeat: null,
          workerName: null,
          created: now,
          updated: now,
        })
        .execute();
    });
  } catch (error) {
    const known = constraintError(error, `flow run '${id}'`);
    if (known?.code === "already_exists" && input.idempotencyKey) {
      // Another request with the same key won the race: answer with its run.
      const winner = await selectFlowRuns(ctx)
        .where("flowRuns.flowId", "=", input.flowId)
        .where("flowRuns.idempotencyKey", "=", input.idempotencyKey)
        .executeTakeFirst();
      if (winner) return toFlowRun(winner);
    }
    throw known ?? error;
  }
  const run = await readFlowRun(ctx, id);
  ctx.events.publish("flow-run.created", { kind: "flow-run", id }, id, { flowRun: run });
  publishStateChange(ctx, applied);
  return run;
}

export async function createFlowRun(ctx: StoreContext, input: FlowRunCreate): Promise<FlowRun> {
  const flowId = input.flowId
    ? (await readFlow(ctx, { id: input.flowId })).id
    : (await ensureFlow(ctx, { name: input.flowName! })).id;
  const { flowName: _flowName, ...rest } = input;
  return insertFlowRun(ctx, { ...rest, flowId });
}

export async function listFlowRuns(ctx: StoreContext, query: z.output<typeof FlowRunQuery>) {
  let q = selectFlowRuns(ctx);
  if (query.stateType?.length) q = q.where("flowRuns.stateType", "in", query.stateType);
  if (query.stateName) q = q.where("flowRuns.stateName", "=", query.stateName);
  if (query.flowId) q = q.where("flowRuns.flowId", "=", query.flowId);
  if (query.flowName) q = q.where("flows.name", "=", query.flowName);
  if (query.deploymentId) q = q.where("flowRuns.deploymentId", "=", query.deploymentId);
  if (query.workPoolName) q = q.where("flowRuns.workPoolName", "=", query.workPoolName);
  if (query.workQueueName) q = q.where("flowRuns.workQueueName", "=", query.workQueueName);
  if (query.parentFlowRunId) q = q.where("flowRuns.parentFlowRunId", "=", query.parentFlowRunId);
  if (query.tag) q = q.where("flowRuns.tags", "like", `%${JSON.stringify(query.tag)}%`);
  if (query.createdAfter) q = q.where("flowRuns.created", ">=", query.createdAfter);
  if (query.createdBefore) q = q.where("flowRuns.created", "<", query.createdBefore);
  const rows = await q
    .orderBy("flowRuns.created", "desc")
    .orderBy("flowRuns.id", "desc")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  return toPage(rows.map(toFlowRun), query.limit, query.offset);
}

export async function deleteFlowRun(ctx: StoreContext, id: string): Promise<void> {
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const result = await trx.deleteFrom("flowRuns").where("id", "=", id).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound("flow run", id);
    await trx.deleteFrom("logs").where("flowRunId", "=", id).execute();
  });
  ctx.events.publish("flow-run.deleted", { kind: "flow-run", id }, id, {});
}

export async function listStates(
  { db }: StoreContext,
  kind: "flow" | "task",
  id: string,
): Promise<StateHistoryEntry[]> {
  const table = kind === "flow" ? "flowRuns" : "taskRuns";
  const exists = await db.kysely.selectFrom(table).select("id").where("id", "=", id).executeTakeFirst();
  if (!exists) throw notFound(kind === "flow" ? "flow run" : "task run", id);
  const rows = await db.kysely
    .selectFrom("states")
    .select(["id", "state"])
    .where(kind === "flow" ? "flowRunId" : "taskRunId", "=", id)
    .orderBy("timestamp")
    .orderBy("id")
    .execute();
  return rows.map((row) => ({ id: row.id, ...fromJson<State>(row.state, null as never) }));
}

export async function heartbeatFlowRun({ db }: StoreContext, id: string): Promise<void> {
  const result = await db.kysely
    .updateTable("flowRuns")
    .set({ lastHeartbeat: nowIso() })
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("flow run", id);
}

export async function updateFlowRun(
  ctx: StoreContext,
  id: string,
  input: z.output<typeof FlowRunUpdate>,
): Promise<FlowRun> {
  const columns: Updateable<FlowRunTable> = { updated: nowIso() };
  if (input.retries !== undefined) columns.retries = input.retries;
  if (input.retryDelaySeconds !== undefined) columns.retryDelaySeconds = toJson(input.retryDelaySeconds);
  if (input.timeoutSeconds !== undefined) columns.timeoutSeconds = input.timeoutSeconds;
  const result = await ctx.db.kysely
    .updateTable("flowRuns")
    .set(columns)
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("flow run", id);
  return readFlowRun(ctx, id);
}
