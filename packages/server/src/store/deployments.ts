import {
  BatonError,
  describeSchedule,
  EventName,
  newId,
  notFound,
  type Deployment,
  type CollisionStrategy,
  type DeploymentCreate,
  type DeploymentQuery,
  type DeploymentRunCreate,
  type DeploymentSchedule,
  type DeploymentUpdate,
  type FlowRun,
  type ScheduleCreate,
  type ScheduleSpec,
  type ScheduleUpdate,
} from "@baton/core";
import type { Selectable, Transaction, Updateable } from "kysely";
import type { z } from "zod";
import type { Database, DeploymentScheduleTable, DeploymentTable } from "../db/schema.js";
import { fromJson, nowIso, toFlag, toJson, toPage, type StoreContext } from "./context.js";
import { recordEvent } from "./events.js";
import { ensureFlow, readFlow } from "./flows.js";
import { insertFlowRun, type FlowRunInsert } from "./flow-runs.js";
import { validateParameters } from "./parameters.js";
import { checkPoolJobVariables } from "./work-pools.js";
import { checkSchedule, checkSchedules } from "../services/schedules.js";

type DeploymentRow = Selectable<DeploymentTable> & { flowName: string };

function toDeployment(row: DeploymentRow, schedules: DeploymentSchedule[]): Deployment {
  return {
    id: row.id,
    name: row.name,
    flowId: row.flowId,
    flowName: row.flowName,
    description: row.description,
    version: row.version,
    entrypoint: row.entrypoint,
    path: row.path,
    parameters: fromJson(row.parameters, {}),
    parameterSchema: fromJson(row.parameterSchema, {}),
    tags: fromJson(row.tags, []),
    workPoolName: row.workPoolName,
    workQueueName: row.workQueueName,
    jobVariables: fromJson(row.jobVariables, {}),
    concurrencyLimit: row.concurrencyLimit,
    collisionStrategy: row.collisionStrategy as CollisionStrategy,
    runRetentionDays: row.runRetentionDays,
    pullSteps: fromJson(row.pullSteps, []),
    paused: row.paused === 1,
    schedules,
    lastPolled: row.lastPolled,
    created: row.created,
    updated: row.updated,
  };
}

const selectDeployments = ({ db }: StoreContext) =>
  db.kysely
    .selectFrom("deployments")
    .innerJoin("flows", "flows.id", "deployments.flowId")
    .selectAll("deployments")
    .select("flows.name as flowName");

function toSchedule(row: Selectable<DeploymentScheduleTable>): DeploymentSchedule {
  return {
    id: row.id,
    schedule: fromJson<ScheduleSpec>(row.schedule, { cron: "", timezone: "UTC" }),
    active: row.active === 1,
    parameters: fromJson(row.parameters, {}),
  };
}

async function withSchedules(ctx: StoreContext, rows: DeploymentRow[]): Promise<Deployment[]> {
  if (rows.length === 0) return [];
  const schedules = await ctx.db.kysely
    .selectFrom("deploymentSchedules")
    .selectAll()
    .where(
      "deploymentId",
      "in",
      rows.map((row) => row.id),
    )
    .orderBy("created")
    .execute();
  return rows.map((row) =>
    toDeployment(row, schedules.filter((schedule) => schedule.deploymentId === row.id).map(toSchedule)),
  );
}

type DeploymentKey = { id: string } | { flowName: string; deploymentName: string };

async function readDeploymentRow(ctx: StoreContext, by: DeploymentKey): Promise<DeploymentRow> {
  const query = selectDeployments(ctx);
  const row = await (
    "id" in by
      ? query.where("deployments.id", "=", by.id)
      : query.where("flows.name", "=", by.flowName).where("deployments.name", "=", by.deploymentName)
  ).executeTakeFirst();
  if (!row) throw notFound("deployment", "id" in by ? by.id : `${by.flowName}/${by.deploymentName}`);
  return row;
}

export async function readDeployment(ctx: StoreContext, by: DeploymentKey): Promise<Deployment> {
  const [deployment] = await withSchedules(ctx, [await readDeploymentRow(ctx, by)]);
  return deployment!;
}

/** A deployment without its schedules: all a new run of it needs. */
type DeploymentSettings = Omit<Deployment, "schedules">;

/** One statement, where readDeployment takes two. */
async function readDeploymentSettings(ctx: StoreContext, id: string): Promise<DeploymentSettings> {
  const { schedules: _, ...settings } = toDeployment(await readDeploymentRow(ctx, { id }), []);
  return settings;
}

/** The deployments of these ids that exist, with their schedules: two statements however many. */
export async function readDeployments(ctx: StoreContext, ids: string[]): Promise<Deployment[]> {
  if (ids.length === 0) return [];
  return withSchedules(ctx, await selectDeployments(ctx).where("deployments.id", "in", ids).execute());
}

export async function listDeployments(ctx: StoreContext, query: z.output<typeof DeploymentQuery>) {
  let q = selectDeployments(ctx);
  if (query.flowName) q = q.where("flows.name", "=", query.flowName);
  if (query.workPoolName) q = q.where("deployments.workPoolName", "=", query.workPoolName);
  const rows = await q
    .orderBy("flows.name")
    .orderBy("deployments.name")
    .limit(query.limit + 1)
    .offset(query.offset)
    .execute();
  const page = toPage(rows, query.limit, query.offset);
  return { items: await withSchedules(ctx, page.items), nextOffset: page.nextOffset };
}

type NewSchedule = z.output<typeof ScheduleCreate>;

const scheduleRow = (deploymentId: string, entry: NewSchedule, now: string) => ({
  id: newId(),
  deploymentId,
  schedule: toJson(entry.schedule),
  active: toFlag(entry.active),
  parameters: toJson(entry.parameters),
  created: now,
  updated: now,
});

async function replaceSchedules(
  trx: Transaction<Database>,
  deploymentId: string,
  schedules: NewSchedule[],
): Promise<void> {
  await trx.deleteFrom("deploymentSchedules").where("deploymentId", "=", deploymentId).execute();
  if (schedules.length === 0) return;
  const now = nowIso();
  await trx
    .insertInto("deploymentSchedules")
    .values(schedules.map((entry) => scheduleRow(deploymentId, entry, now)))
    .execute();
}

/**
 * A scheduled run gets the deployment's default parameters with its schedule's over them: for each
 * active schedule they must fit the schema, or every run it makes would be refused later, out of sight.
 * Checked after the write, inside its transaction, so a refusal writes nothing.
 */
async function checkScheduledParameters(trx: Transaction<Database>, deploymentId: string) {
  const schedules = await trx
    .selectFrom("deploymentSchedules")
    .selectAll()
    .where("deploymentId", "=", deploymentId)
    .where("active", "=", 1)
    .orderBy("created")
    .execute();
  if (schedules.length === 0) return;
  const row = await trx
    .selectFrom("deployments")
    .innerJoin("flows", "flows.id", "deployments.flowId")
    .select([
      "deployments.parameters",
      "deployments.parameterSchema",
      "deployments.name",
      "flows.name as flowName",
    ])
    .where("deployments.id", "=", deploymentId)
    .executeTakeFirstOrThrow();
  for (const schedule of schedules.map(toSchedule)) {
    validateParameters(
      fromJson(row.parameterSchema, {}),
      { ...fromJson(row.parameters, {}), ...schedule.parameters },
      `the runs of schedule ${schedule.id} (${describeSchedule(schedule.schedule)}) of deployment ` +
        `'${row.flowName}/${row.name}' (they get its default parameters and the schedule's over them; ` +
        "give the required ones to either)",
    );
  }
}

/** Adds a schedule to a deployment; its runs get `parameters` over the deployment's defaults. */
export async function createSchedule(
  ctx: StoreContext,
  deploymentId: string,
  input: NewSchedule,
): Promise<DeploymentSchedule> {
  const row = scheduleRow(deploymentId, input, nowIso());
  await ctx.db.kysely.transaction().execute(async (trx) => {
    await lockDeployment(trx, deploymentId);
    checkOneSchedule(input.schedule);
    await trx.insertInto("deploymentSchedules").values(row).execute();
    await checkScheduledParameters(trx, deploymentId);
  });
  return scheduleChanged(ctx, deploymentId, row.id);
}

/** Changes one schedule of a deployment: its times, whether it is active, its parameters. */
export async function updateSchedule(
  ctx: StoreContext,
  deploymentId: string,
  scheduleId: string,
  input: z.output<typeof ScheduleUpdate>,
): Promise<DeploymentSchedule> {
  const columns: Updateable<DeploymentScheduleTable> = { updated: nowIso() };
  if (input.schedule !== undefined) columns.schedule = toJson(input.schedule);
  if (input.active !== undefined) columns.active = toFlag(input.active);
  if (input.parameters !== undefined) columns.parameters = toJson(input.parameters);
  await ctx.db.kysely.transaction().execute(async (trx) => {
    await lockDeployment(trx, deploymentId);
    if (input.schedule) checkOneSchedule(input.schedule);
    const result = await trx
      .updateTable("deploymentSchedules")
      .set(columns)
      .where("id", "=", scheduleId)
      .where("deploymentId", "=", deploymentId)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound("schedule", scheduleId);
    await checkScheduledParameters(trx, deploymentId);
  });
  return scheduleChanged(ctx, deploymentId, scheduleId);
}

/** Removes a schedule; the scheduler then removes its runs still to come. */
export async function deleteSchedule(
  ctx: StoreContext,
  deploymentId: string,
  scheduleId: string,
): Promise<void> {
  await ctx.db.kysely.transaction().execute(async (trx) => {
    await lockDeployment(trx, deploymentId);
    const result = await trx
      .deleteFrom("deploymentSchedules")
      .where("id", "=", scheduleId)
      .where("deploymentId", "=", deploymentId)
      .executeTakeFirst();
    if (result.numDeletedRows === 0n) throw notFound("schedule", scheduleId);
  });
  await recordDeploymentUpdated(ctx, await readDeployment(ctx, { id: deploymentId }));
}

/** A schedule's own problem (its cron expression, RRULE or time zone), as a refusal. */
function checkOneSchedule(schedule: ScheduleSpec): void {
  const problem = checkSchedule(schedule);
  if (problem) throw new BatonError("invalid_argument", problem);
}

/** Takes the deployment's row lock (so its schedules are checked against the defaults of now). */
async function lockDeployment(trx: Transaction<Database>, id: string): Promise<void> {
  const result = await trx
    .updateTable("deployments")
    .set({ updated: nowIso() })
    .where("id", "=", id)
    .executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw notFound("deployment", id);
}

/** Tells the scheduler and automations (deployment.updated); answers the schedule as it is now. */
async function scheduleChanged(ctx: StoreContext, deploymentId: string, scheduleId: string) {
  const deployment = await readDeployment(ctx, { id: deploymentId });
  await recordDeploymentUpdated(ctx, deployment);
  return deployment.schedules.find((schedule) => schedule.id === scheduleId)!;
}

/** A deployment's job variables must be taken by its pool: checked after the write, inside its transaction. */
async function checkDeploymentJobVariables(trx: Transaction<Database>, deploymentId: string, fields: Fields) {
  if (fields.jobVariables === undefined && fields.workPoolName === undefined) return;
  const row = await trx
    .selectFrom("deployments")
    .innerJoin("flows", "flows.id", "deployments.flowId")
    .select([
      "deployments.jobVariables",
      "deployments.workPoolName",
      "deployments.name",
      "flows.name as flowName",
    ])
    .where("deployments.id", "=", deploymentId)
    .executeTakeFirstOrThrow();
  await checkPoolJobVariables(
    trx,
    row.workPoolName,
    fromJson(row.jobVariables, {}),
    `deployment '${row.flowName}/${row.name}'`,
  );
}

type Fields = Omit<z.output<typeof DeploymentUpdate>, "schedules">;

function columnsOf(fields: Fields) {
  const columns: Updateable<DeploymentTable> = {};
  if (fields.description !== undefined) columns.description = fields.description;
  if (fields.version !== undefined) columns.version = fields.version;
  if (fields.entrypoint !== undefined) columns.entrypoint = fields.entrypoint;
  if (fields.path !== undefined) columns.path = fields.path;
  if (fields.parameters !== undefined) columns.parameters = toJson(fields.parameters);
  if (fields.parameterSchema !== undefined) columns.parameterSchema = toJson(fields.parameterSchema);
  if (fields.tags !== undefined) columns.tags = toJson(fields.tags);
  if (fields.workPoolName !== undefined) columns.workPoolName = fields.workPoolName;
  if (fields.workQueueName !== undefined) columns.workQueueName = fields.workQueueName;
  if (fields.jobVariables !== undefined) columns.jobVariables = toJson(fields.jobVariables);
  if (fields.concurrencyLimit !== undefined) columns.concurrencyLimit = fields.concurrencyLimit;
  if (fields.collisionStrategy !== undefined) columns.collisionStrategy = fields.collisionStrategy;
  if (fields.runRetentionDays !== undefined) columns.runRetentionDays = fields.runRetentionDays;
  if (fields.pullSteps !== undefined) columns.pullSteps = toJson(fields.pullSteps);
  if (fields.paused !== undefined) columns.paused = toFlag(fields.paused);
  return columns;
}

/** Creates the deployment, or updates the one with the same flow and name (serve() and deploy() call this on every start). */
export async function upsertDeployment(
  ctx: StoreContext,
  input: z.output<typeof DeploymentCreate>,
): Promise<Deployment> {
  checkSchedules(input.schedules);
  const flow = input.flowId
    ? await readFlow(ctx, { id: input.flowId })
    : await ensureFlow(ctx, { name: input.flowName! });
  const { name, schedules, flowId: _flowId, flowName: _flowName, ...fields } = input;
  const now = nowIso();
  const id = await ctx.db.kysely.transaction().execute(async (trx) => {
    const existing = await trx
      .selectFrom("deployments")
      .select("id")
      .where("flowId", "=", flow.id)
      .where("name", "=", name)
      .executeTakeFirst();
    const deploymentId = existing?.id ?? newId();
    if (existing) {
      await trx
        .updateTable("deployments")
        .set({ ...columnsOf(fields), updated: now })
        .where("id", "=", deploymentId)
        .execute();
    } else {
      await trx
        .insertInto("deployments")
        .values({
          id: deploymentId,
          name,
          flowId: flow.id,
          description: null,
          version: null,
          entrypoint: null,
          path: null,
          parameters: "{}",
          parameterSchema: "{}",
          tags: "[]",
          workPoolName: null,
          workQueueName: null,
          jobVariables: "{}",
          concurrencyLimit: null,
          collisionStrategy: "ENQUEUE",
          runRetentionDays: null,
          pullSteps: "[]",
          paused: 0,
          lastPolled: null,
          created: now,
          updated: now,
          ...columnsOf(fields),
        })
        .execute();
    }
    if (schedules) await replaceSchedules(trx, deploymentId, schedules);
    await checkScheduledParameters(trx, deploymentId);
    await checkDeploymentJobVariables(trx, deploymentId, fields);
    return deploymentId;
  });
  const deployment = await readDeployment(ctx, { id });
  await recordDeploymentUpdated(ctx, deployment);
  return deployment;
}

export async function updateDeployment(
  ctx: StoreContext,
  id: string,
  input: z.output<typeof DeploymentUpdate>,
): Promise<Deployment> {
  checkSchedules(input.schedules);
  const { schedules, ...fields } = input;
  await ctx.db.kysely.transaction().execute(async (trx) => {
    const result = await trx
      .updateTable("deployments")
      .set({ ...columnsOf(fields), updated: nowIso() })
      .where("id", "=", id)
      .executeTakeFirst();
    if (result.numUpdatedRows === 0n) throw notFound("deployment", id);
    if (schedules) await replaceSchedules(trx, id, schedules);
    await checkScheduledParameters(trx, id);
    await checkDeploymentJobVariables(trx, id, fields);
  });
  const deployment = await readDeployment(ctx, { id });
  await recordDeploymentUpdated(ctx, deployment);
  return deployment;
}

/** Automations match a deployment's events on its names, work pool and tags. */
const recordDeploymentUpdated = (ctx: StoreContext, deployment: Deployment) =>
  recordEvent(ctx, {
    name: EventName.DeploymentUpdated,
    resource: { kind: "deployment", id: deployment.id },
    flowRunId: null,
    payload: { deployment },
    related: {
      flowName: deployment.flowName,
      deploymentName: deployment.name,
      workPoolName: deployment.workPoolName,
      tags: deployment.tags,
    },
  });

/** Deletes a deployment; its runs keep their deployment id and name, so none is orphaned mid-run. */
export async function deleteDeployment(ctx: StoreContext, id: string): Promise<void> {
  const result = await ctx.db.kysely.deleteFrom("deployments").where("id", "=", id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw notFound("deployment", id);
  ctx.events.publish(EventName.DeploymentDeleted, { kind: "deployment", id }, null, {});
}

/** Creates a run of a deployment: defaults merged under the given parameters, checked against the schema first. */
export async function createDeploymentRun(
  ctx: StoreContext,
  id: string,
  input: z.output<typeof DeploymentRunCreate>,
): Promise<FlowRun> {
  const deployment = await readDeploymentSettings(ctx, id);
  return insertFlowRun(ctx, await deploymentRunInsert(ctx, deployment, input));
}

/** What a run of the deployment is created with; throws if the parameters do not fit or the work queue is gone. */
export async function deploymentRunInsert(
  ctx: StoreContext,
  deployment: DeploymentSettings,
  input: z.output<typeof DeploymentRunCreate>,
): Promise<FlowRunInsert> {
  const address = `deployment '${deployment.flowName}/${deployment.name}'`;
  const parameters = { ...deployment.parameters, ...input.parameters };
  validateParameters(deployment.parameterSchema, parameters, address);
  await checkPoolJobVariables(
    ctx.db.kysely,
    deployment.workPoolName,
    input.jobVariables ?? {},
    `the new run of ${address}`,
  );
  const workQueueName = input.workQueueName ?? deployment.workQueueName;
  let workQueueId: string | null = null;
  if (deployment.workPoolName) {
    const queue = await ctx.db.kysely
      .selectFrom("workQueues")
      .innerJoin("workPools", "workPools.id", "workQueues.workPoolId")
      .select("workQueues.id")
      .where("workPools.name", "=", deployment.workPoolName)
      .where("workQueues.name", "=", workQueueName ?? "default")
      .executeTakeFirst();
    if (!queue) {
      throw new BatonError(
        "invalid_argument",
        `${address} uses work queue '${workQueueName ?? "default"}' of pool '${deployment.workPoolName}', which does not exist; create it with 'baton work-queue create'`,
      );
    }
    workQueueId = queue.id;
  }
  return {
    ...input,
    flowId: deployment.flowId,
    flowName: deployment.flowName,
    deploymentId: deployment.id,
    deploymentName: deployment.name,
    parameters,
    tags: [...new Set([...deployment.tags, ...(input.tags ?? [])])],
    workPoolName: deployment.workPoolName,
    workQueueName: deployment.workPoolName ? (workQueueName ?? "default") : null,
    workQueueId,
    jobVariables: { ...deployment.jobVariables, ...input.jobVariables },
  };
}
