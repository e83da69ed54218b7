import { z } from "zod";
import { Id, Name, page } from "./common.js";
import * as m from "./models.js";
import { route } from "./route.js";

const ById = z.strictObject({ id: Id });
const ByName = z.strictObject({ name: Name });
const ByPool = z.strictObject({ pool: Name });
const ByPoolAndName = z.strictObject({ pool: Name, name: Name });
const ByTag = z.strictObject({ tag: z.string().min(1).max(200) });

/** Every operation of the API, under /api. */
export const routes = {
  health: route({ method: "GET", path: "/health", summary: "Server health", tag: "health", response: m.Health }),

  // Flows
  createFlow: route({ method: "POST", path: "/flows", summary: "Create a flow, or return the one with this name", tag: "flows", body: m.FlowCreate, response: m.Flow }),
  listFlows: route({ method: "GET", path: "/flows", summary: "List flows", tag: "flows", query: m.FlowQuery, response: page(m.Flow) }),
  readFlow: route({ method: "GET", path: "/flows/:id", summary: "Read a flow", tag: "flows", params: ById, response: m.Flow }),
  readFlowByName: route({ method: "GET", path: "/flows/name/:name", summary: "Read a flow by name", tag: "flows", params: ByName, response: m.Flow }),
  deleteFlow: route({ method: "DELETE", path: "/flows/:id", summary: "Delete a flow and its deployments", tag: "flows", params: ById, response: null, status: 204 }),

  // Flow runs
  createFlowRun: route({ method: "POST", path: "/flow-runs", summary: "Create a flow run", tag: "flow runs", body: m.FlowRunCreate, response: m.FlowRun, status: 201 }),
  listFlowRuns: route({ method: "GET", path: "/flow-runs", summary: "List flow runs, newest first", tag: "flow runs", query: m.FlowRunQuery, response: page(m.FlowRun) }),
  readFlowRun: route({ method: "GET", path: "/flow-runs/:id", summary: "Read a flow run", tag: "flow runs", params: ById, response: m.FlowRun }),
  deleteFlowRun: route({ method: "DELETE", path: "/flow-runs/:id", summary: "Delete a flow run, its task runs and logs", tag: "flow runs", params: ById, response: null, status: 204 }),
  setFlowRunState: route({ method: "POST", path: "/flow-runs/:id/state", summary: "Propose a state; the answer is the verdict of the rules", tag: "flow runs", params: ById, body: m.SetState, response: m.SetStateResult }),
  listFlowRunStates: route({ method: "GET", path: "/flow-runs/:id/states", summary: "State history of a flow run", tag: "flow runs", params: ById, response: z.array(m.StateHistoryEntry) }),
  heartbeatFlowRun: route({ method: "POST", path: "/flow-runs/:id/heartbeat", summary: "Say that the process running a flow run is alive", tag: "flow runs", params: ById, response: null, status: 204 }),

  // Task runs
  createTaskRun: route({ method: "POST", path: "/task-runs", summary: "Create a task run", tag: "task runs", body: m.TaskRunCreate, response: m.TaskRun, status: 201 }),
  listTaskRuns: route({ method: "GET", path: "/task-runs", summary: "List task runs", tag: "task runs", query: m.TaskRunQuery, response: page(m.TaskRun) }),
  readTaskRun: route({ method: "GET", path: "/task-runs/:id", summary: "Read a task run", tag: "task runs", params: ById, response: m.TaskRun }),
  deleteTaskRun: route({ method: "DELETE", path: "/task-runs/:id", summary: "Delete a task run", tag: "task runs", params: ById, response: null, status: 204 }),
  setTaskRunState: route({ method: "POST", path: "/task-runs/:id/state", summary: "Propose a state; the answer is the verdict of the rules", tag: "task runs", params: ById, body: m.SetState, response: m.SetStateResult }),
  listTaskRunStates: route({ method: "GET", path: "/task-runs/:id/states", summary: "State history of a task run", tag: "task runs", params: ById, response: z.array(m.StateHistoryEntry) }),

  // Logs
  createLogs: route({ method: "POST", path: "/logs", summary: "Write a batch of logs", tag: "logs", body: m.LogBatch, response: z.object({ count: z.number().int() }), status: 201 }),
  listLogs: route({ method: "GET", path: "/logs", summary: "Read logs in time order", tag: "logs", query: m.LogQuery, response: page(m.Log) }),

  // Deployments
  createDeployment: route({ method: "POST", path: "/deployments", summary: "Create a deployment, or update the one with this flow and name", tag: "deployments", body: m.DeploymentCreate, response: m.Deployment }),
  listDeployments: route({ method: "GET", path: "/deployments", summary: "List deployments", tag: "deployments", query: m.DeploymentQuery, response: page(m.Deployment) }),
  readDeployment: route({ method: "GET", path: "/deployments/:id", summary: "Read a deployment", tag: "deployments", params: ById, response: m.Deployment }),
  readDeploymentByName: route({ method: "GET", path: "/deployments/name/:flowName/:deploymentName", summary: "Read a deployment by flow and deployment name", tag: "deployments", params: z.strictObject({ flowName: Name, deploymentName: Name }), response: m.Deployment }),
  updateDeployment: route({ method: "PATCH", path: "/deployments/:id", summary: "Change a deployment (pause, resume, limits, schedules…)", tag: "deployments", params: ById, body: m.DeploymentUpdate, response: m.Deployment }),
  deleteDeployment: route({ method: "DELETE", path: "/deployments/:id", summary: "Delete a deployment; its runs are kept", tag: "deployments", params: ById, response: null, status: 204 }),
  createDeploymentRun: route({ method: "POST", path: "/deployments/:id/runs", summary: "Create a run of a deployment", tag: "deployments", params: ById, body: m.DeploymentRunCreate, response: m.FlowRun, status: 201 }),

  // Work pools, queues, workers
  createWorkPool: route({ method: "POST", path: "/work-pools", summary: "Create a work pool (with a 'default' queue)", tag: "work pools", body: m.WorkPoolCreate, response: m.WorkPool, status: 201 }),
  listWorkPools: route({ method: "GET", path: "/work-pools", summary: "List work pools", tag: "work pools", query: m.NameQuery, response: page(m.WorkPool) }),
  readWorkPool: route({ method: "GET", path: "/work-pools/:name", summary: "Read a work pool", tag: "work pools", params: ByName, response: m.WorkPool }),
  updateWorkPool: route({ method: "PATCH", path: "/work-pools/:name", summary: "Change a work pool (pause, resume, limit…)", tag: "work pools", params: ByName, body: m.WorkPoolUpdate, response: m.WorkPool }),
  deleteWorkPool: route({ method: "DELETE", path: "/work-pools/:name", summary: "Delete a work pool and its queues", tag: "work pools", params: ByName, response: null, status: 204 }),
  createWorkQueue: route({ method: "POST", path: "/work-pools/:pool/queues", summary: "Create a work queue", tag: "work pools", params: ByPool, body: m.WorkQueueCreate, response: m.WorkQueue, status: 201 }),
  listWorkQueues: route({ method: "GET", path: "/work-pools/:pool/queues", summary: "List a pool's queues by priority", tag: "work pools", params: ByPool, query: m.NameQuery, response: page(m.WorkQueue) }),
  readWorkQueue: route({ method: "GET", path: "/work-pools/:pool/queues/:name", summary: "Read a work queue", tag: "work pools", params: ByPoolAndName, response: m.WorkQueue }),
  updateWorkQueue: route({ method: "PATCH", path: "/work-pools/:pool/queues/:name", summary: "Change a work queue", tag: "work pools", params: ByPoolAndName, body: m.WorkQueueUpdate, response: m.WorkQueue }),
  deleteWorkQueue: route({ method: "DELETE", path: "/work-pools/:pool/queues/:name", summary: "Delete a work queue", tag: "work pools", params: ByPoolAndName, response: null, status: 204 }),
  heartbeatWorker: route({ method: "POST", path: "/work-pools/:pool/workers/heartbeat", summary: "Register a worker or say it is alive", tag: "work pools", params: ByPool, body: m.WorkerHeartbeat, response: m.Worker }),
  listWorkers: route({ method: "GET", path: "/work-pools/:pool/workers", summary: "List a pool's workers", tag: "work pools", params: ByPool, query: m.NameQuery, response: page(m.Worker) }),
  deleteWorker: route({ method: "DELETE", path: "/work-pools/:pool/workers/:name", summary: "Forget a worker", tag: "work pools", params: ByPoolAndName, response: null, status: 204 }),

  // Tag concurrency limits
  createConcurrencyLimit: route({ method: "POST", path: "/concurrency-limits", summary: "Create or change the limit of a tag", tag: "concurrency limits", body: m.ConcurrencyLimitCreate, response: m.ConcurrencyLimit }),
  listConcurrencyLimits: route({ method: "GET", path: "/concurrency-limits", summary: "List tag limits", tag: "concurrency limits", query: m.NameQuery, response: page(m.ConcurrencyLimit) }),
  readConcurrencyLimit: route({ method: "GET", path: "/concurrency-limits/:tag", summary: "Read a tag limit and its slots", tag: "concurrency limits", params: ByTag, response: m.ConcurrencyLimit }),
  resetConcurrencyLimit: route({ method: "POST", path: "/concurrency-limits/:tag/reset", summary: "Release every slot of a tag", tag: "concurrency limits", params: ByTag, response: m.ConcurrencyLimit }),
  deleteConcurrencyLimit: route({ method: "DELETE", path: "/concurrency-limits/:tag", summary: "Delete a tag limit", tag: "concurrency limits", params: ByTag, response: null, status: 204 }),

  // Variables
  createVariable: route({ method: "POST", path: "/variables", summary: "Create a variable", tag: "variables", body: m.VariableCreate, response: m.Variable, status: 201 }),
  listVariables: route({ method: "GET", path: "/variables", summary: "List variables", tag: "variables", query: m.NameQuery, response: page(m.Variable) }),
  readVariable: route({ method: "GET", path: "/variables/:name", summary: "Read a variable", tag: "variables", params: ByName, response: m.Variable }),
  updateVariable: route({ method: "PATCH", path: "/variables/:name", summary: "Change a variable", tag: "variables", params: ByName, body: m.VariableCreate.omit({ name: true }).partial(), response: m.Variable }),
  deleteVariable: route({ method: "DELETE", path: "/variables/:name", summary: "Delete a variable", tag: "variables", params: ByName, response: null, status: 204 }),

  // Secrets
  setSecret: route({ method: "POST", path: "/secrets", summary: "Create or replace a secret (its value is never returned)", tag: "secrets", body: m.SecretCreate, response: m.Secret }),
  listSecrets: route({ method: "GET", path: "/secrets", summary: "List secrets (names only)", tag: "secrets", query: m.NameQuery, response: page(m.Secret) }),
  readSecret: route({ method: "GET", path: "/secrets/:name", summary: "Read a secret's metadata", tag: "secrets", params: ByName, response: m.Secret }),
  deleteSecret: route({ method: "DELETE", path: "/secrets/:name", summary: "Delete a secret", tag: "secrets", params: ByName, response: null, status: 204 }),

  // Automations
  createAutomation: route({ method: "POST", path: "/automations", summary: "Create an automation", tag: "automations", body: m.AutomationCreate, response: m.Automation, status: 201 }),
  listAutomations: route({ method: "GET", path: "/automations", summary: "List automations", tag: "automations", query: m.NameQuery, response: page(m.Automation) }),
  readAutomation: route({ method: "GET", path: "/automations/:id", summary: "Read an automation", tag: "automations", params: ById, response: m.Automation }),
  updateAutomation: route({ method: "PATCH", path: "/automations/:id", summary: "Change an automation", tag: "automations", params: ById, body: m.AutomationUpdate, response: m.Automation }),
  deleteAutomation: route({ method: "DELETE", path: "/automations/:id", summary: "Delete an automation", tag: "automations", params: ById, response: null, status: 204 }),
} as const;

export type Routes = typeof routes;
export type RouteName = keyof Routes;

/** The live event stream: server-sent events, one `BatonEvent` JSON per message. */
export const EVENT_STREAM_PATH = "/events/stream";
