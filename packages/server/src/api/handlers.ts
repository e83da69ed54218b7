import {
  BatonError,
  makeState,
  type RouteName,
  type RouteOutput,
  type RouteRequest,
  type Routes,
} from "@baton/core";
import { readinessProblems } from "../db/database.js";
import type { StoreContext } from "../store/context.js";
import * as artifacts from "../store/artifacts.js";
import * as claims from "../store/claims.js";
import * as automations from "../store/automations.js";
import * as limits from "../store/concurrency-limits.js";
import * as deploymentTriggers from "../store/deployment-triggers.js";
import * as deployments from "../store/deployments.js";
import * as events from "../store/events.js";
import * as flowRuns from "../store/flow-runs.js";
import * as flows from "../store/flows.js";
import * as globalLimits from "../store/global-concurrency-limits.js";
import * as globalSlots from "../store/global-concurrency-slots.js";
import * as logs from "../store/logs.js";
import * as pauses from "../store/pauses.js";
import * as results from "../store/results.js";
import * as secrets from "../store/secrets.js";
import { setRunState, setRunStates } from "../store/set-state.js";
import * as taskRuns from "../store/task-runs.js";
import * as variables from "../store/variables.js";
import * as webhooks from "../store/webhooks.js";
import * as pools from "../store/work-pools.js";

export type Handlers = {
  [K in RouteName]: (
    request: RouteRequest<Routes[K]>,
    /** A signal that aborts when the client goes away; made only for handlers that ask for it. */
    closed: () => AbortSignal,
  ) => Promise<RouteOutput<Routes[K]>>;
};

/** One handler per operation of the route table; TypeScript checks that none is missing. */
export function makeHandlers(ctx: StoreContext, version: string): Handlers {
  return {
    health: async () => ({ status: "ok", version, database: ctx.db.dialect }),
    ready: async () => {
      const problems = await readinessProblems(ctx.db);
      if (problems.length > 0) throw new BatonError("unavailable", `not ready: ${problems.join("; ")}`);
      return { ready: true as const };
    },

    createFlow: ({ body }) => flows.ensureFlow(ctx, body),
    listFlows: ({ query }) => flows.listFlows(ctx, query),
    readFlow: ({ params }) => flows.readFlow(ctx, params),
    readFlowByName: ({ params }) => flows.readFlow(ctx, params),
    deleteFlow: ({ params }) => flows.deleteFlow(ctx, params.id),

    createFlowRun: ({ body }) => flowRuns.createFlowRun(ctx, body),
    listFlowRuns: ({ query }) => flowRuns.listFlowRuns(ctx, query),
    flowRunHistory: ({ query }) => flowRuns.flowRunHistory(ctx, query),
    readFlowRun: ({ params }) => flowRuns.readFlowRun(ctx, params.id),
    deleteFlowRun: ({ params }) => flowRuns.deleteFlowRun(ctx, params.id),
    setFlowRunState: ({ params, body }) =>
      setRunState(ctx, "flow", params.id, makeState(body.state), {
        force: body.force ?? false,
        attempt: body.attempt,
      }),
    setFlowRunStates: async ({ body }) => ({
      results: await setRunStates(
        ctx,
        "flow",
        body.proposals.map(({ id, state, force, attempt }) => ({
          id,
          state: makeState(state),
          options: { force: force ?? false, attempt },
        })),
      ),
    }),
    deleteFlowRuns: ({ query }) => flowRuns.deleteFinishedFlowRuns(ctx, query),
    readFlowRunResult: ({ params }) => results.readRunResult(ctx, "flow", params.id),
    readTaskRunResult: ({ params }) => results.readRunResult(ctx, "task", params.id),
    listFlowRunStates: ({ params }) => flowRuns.listStates(ctx, "flow", params.id),
    resumeFlowRun: ({ params, body }) => pauses.resumeFlowRun(ctx, params.id, body),
    readFlowRunInput: ({ params }) => pauses.readFlowRunInput(ctx, params.id, params.key),
    heartbeatFlowRun: ({ params, body }) => flowRuns.heartbeatFlowRun(ctx, params.id, body),
    updateFlowRun: ({ params, body }) => flowRuns.updateFlowRun(ctx, params.id, body),
    createDeploymentSchedule: ({ params, body }) => deployments.createSchedule(ctx, params.id, body),
    updateDeploymentSchedule: ({ params, body }) =>
      deployments.updateSchedule(ctx, params.id, params.scheduleId, body),
    deleteDeploymentSchedule: ({ params }) => deployments.deleteSchedule(ctx, params.id, params.scheduleId),
    claimFlowRuns: ({ body }, closed) => claims.claimFlowRuns(ctx, body, closed()),

    createTaskRun: ({ body }) => taskRuns.createTaskRun(ctx, body),
    listTaskRuns: ({ query }) => taskRuns.listTaskRuns(ctx, query),
    claimTaskRuns: ({ body }, closed) => claims.claimTaskRuns(ctx, body, closed()),
    heartbeatTaskRun: ({ params, body }) => taskRuns.heartbeatTaskRun(ctx, params.id, body),
    readCachedTaskRunState: ({ query }) => taskRuns.readCachedState(ctx, query.cacheKey),
    readTaskRun: ({ params }) => taskRuns.readTaskRun(ctx, params.id),
    deleteTaskRun: ({ params }) => taskRuns.deleteTaskRun(ctx, params.id),
    setTaskRunState: ({ params, body }) =>
      setRunState(ctx, "task", params.id, makeState(body.state), {
        force: body.force ?? false,
        attempt: body.attempt,
        stampWhenDecided: body.state.timestamp === undefined,
      }),
    recordTaskRuns: ({ body }) => taskRuns.recordTaskRuns(ctx, body),
    listTaskRunStates: ({ params }) => flowRuns.listStates(ctx, "task", params.id),

    createLogs: ({ body }) => logs.createLogs(ctx, body),
    listLogs: ({ query }) => logs.listLogs(ctx, query),

    createDeployment: ({ body }) => deployments.upsertDeployment(ctx, body),
    listDeployments: ({ query }) => deployments.listDeployments(ctx, query),
    readDeployment: ({ params }) => deployments.readDeployment(ctx, params),
    readDeploymentByName: ({ params }) => deployments.readDeployment(ctx, params),
    updateDeployment: ({ params, body }) => deployments.updateDeployment(ctx, params.id, body),
    deleteDeployment: ({ params }) => deployments.deleteDeployment(ctx, params.id),
    createDeploymentRun: ({ params, body }) => deployments.createDeploymentRun(ctx, params.id, body),
    listDeploymentTriggers: ({ params }) => deploymentTriggers.listDeploymentTriggers(ctx, params.id),
    replaceDeploymentTriggers: ({ params, body }) =>
      deploymentTriggers.replaceDeploymentTriggers(ctx, params.id, body.triggers),

    createWorkPool: ({ body }) => pools.createWorkPool(ctx, body),
    listWorkPools: ({ query }) => pools.listWorkPools(ctx, query),
    readWorkPool: ({ params }) => pools.readWorkPool(ctx, params.name),
    updateWorkPool: ({ params, body }) => pools.updateWorkPool(ctx, params.name, body),
    deleteWorkPool: ({ params }) => pools.deleteWorkPool(ctx, params.name),
    createWorkQueue: ({ params, body }) => pools.createWorkQueue(ctx, params.pool, body),
    listWorkQueues: ({ params, query }) => pools.listWorkQueues(ctx, params.pool, query),
    readWorkQueue: ({ params }) => pools.readWorkQueue(ctx, params.pool, params.name),
    updateWorkQueue: ({ params, body }) => pools.updateWorkQueue(ctx, params.pool, params.name, body),
    deleteWorkQueue: ({ params }) => pools.deleteWorkQueue(ctx, params.pool, params.name),
    heartbeatWorker: ({ params, body }) => pools.heartbeatWorker(ctx, params.pool, body),
    listWorkers: ({ params, query }) => pools.listWorkers(ctx, params.pool, query),
    deleteWorker: ({ params }) => pools.deleteWorker(ctx, params.pool, params.name),

    createConcurrencyLimit: ({ body }) => limits.upsertConcurrencyLimit(ctx, body),
    listConcurrencyLimits: ({ query }) => limits.listConcurrencyLimits(ctx, query),
    readConcurrencyLimit: ({ params }) => limits.readConcurrencyLimit(ctx, params.tag),
    resetConcurrencyLimit: ({ params }) => limits.resetConcurrencyLimit(ctx, params.tag),
    deleteConcurrencyLimit: ({ params }) => limits.deleteConcurrencyLimit(ctx, params.tag),

    createVariable: ({ body }) => variables.createVariable(ctx, body),
    listVariables: ({ query }) => variables.listVariables(ctx, query),
    readVariable: ({ params }) => variables.readVariable(ctx, params.name),
    updateVariable: ({ params, body }) => variables.updateVariable(ctx, params.name, body),
    deleteVariable: ({ params }) => variables.deleteVariable(ctx, params.name),

    createArtifact: ({ body }) => artifacts.createArtifact(ctx, body),
    listArtifacts: ({ query }) => artifacts.listArtifacts(ctx, query),
    readArtifact: ({ params }) => artifacts.readArtifact(ctx, params.id),
    updateArtifact: ({ params, body }) => artifacts.updateArtifact(ctx, params.id, body),
    deleteArtifact: ({ params }) => artifacts.deleteArtifact(ctx, params.id),
    listArtifactVersions: ({ params, query }) => artifacts.listArtifactVersions(ctx, params.key, query),
    deleteArtifactKey: ({ params }) => artifacts.deleteArtifactKey(ctx, params.key),

    setSecret: ({ body }) => secrets.setSecret(ctx, body),
    listSecrets: ({ query }) => secrets.listSecrets(ctx, query),
    readSecret: ({ params }) => secrets.readSecret(ctx, params.name),
    revealSecret: async ({ params }) => ({
      name: params.name,
      value: await secrets.revealSecret(ctx, params.name),
    }),
    deleteSecret: ({ params }) => secrets.deleteSecret(ctx, params.name),

    createAutomation: ({ body }) => automations.createAutomation(ctx, body),
    listAutomations: ({ query }) => automations.listAutomations(ctx, query),
    readAutomation: ({ params }) => automations.readAutomation(ctx, params.id),
    updateAutomation: ({ params, body }) => automations.updateAutomation(ctx, params.id, body),
    deleteAutomation: ({ params }) => automations.deleteAutomation(ctx, params.id),
    listActionRuns: ({ query }) => automations.listActionRuns(ctx, query),

    createGlobalConcurrencyLimit: ({ body }) => globalLimits.createGlobalLimit(ctx, body),
    listGlobalConcurrencyLimits: ({ query }) => globalLimits.listGlobalLimits(ctx, query),
    readGlobalConcurrencyLimit: ({ params }) => globalLimits.readGlobalLimit(ctx, params.name),
    updateGlobalConcurrencyLimit: ({ params, body }) =>
      globalLimits.updateGlobalLimit(ctx, params.name, body),
    deleteGlobalConcurrencyLimit: ({ params }) => globalLimits.deleteGlobalLimit(ctx, params.name),
    acquireGlobalConcurrencySlots: async ({ params, body }, closed) => {
      const { limits, ...answer } = await globalSlots.acquireSlots(ctx, [params.name], body, closed());
      return { ...answer, limit: limits[0]! };
    },
    acquireGlobalConcurrencySlotsTogether: ({ body: { names, ...request } }, closed) =>
      globalSlots.acquireSlots(ctx, names, request, closed()),
    resetGlobalConcurrencyLimit: ({ params }) => globalSlots.resetGlobalLimit(ctx, params.name),
    renewGlobalConcurrencyLease: ({ params, body }) =>
      globalSlots.renewLease(ctx, params.id, body.leaseSeconds),
    releaseGlobalConcurrencyLease: ({ params }) => globalSlots.releaseLease(ctx, params.id),
    createWebhook: ({ body }) => webhooks.createWebhook(ctx, body),
    listWebhooks: ({ query }) => webhooks.listWebhooks(ctx, query),
    readWebhook: ({ params }) => webhooks.readWebhook(ctx, params.name),
    updateWebhook: ({ params, body }) => webhooks.updateWebhook(ctx, params.name, body),
    deleteWebhook: ({ params }) => webhooks.deleteWebhook(ctx, params.name),

    listEvents: ({ query }) => events.listEvents(ctx, query),
    createEvent: ({ body }) => events.createEvent(ctx, body),
  };
}
