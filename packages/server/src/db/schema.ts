import type { Generated } from "kysely";

/**
 * The tables as Kysely sees them (camelCase; the CamelCasePlugin maps to snake_case columns).
 * Portable on purpose: ids are UUID text, timestamps ISO-8601 UTC text (they sort as text),
 * JSON is text, booleans are 0/1 integers, so SQLite and PostgreSQL share one code path.
 */
export interface Database {
  flows: FlowTable;
  flowRuns: FlowRunTable;
  flowRunTags: FlowRunTagTable;
  taskRuns: TaskRunTable;
  states: StateTable;
  logs: LogTable;
  deployments: DeploymentTable;
  deploymentSchedules: DeploymentScheduleTable;
  workPools: WorkPoolTable;
  serviceLeases: ServiceLeaseTable;
  workQueues: WorkQueueTable;
  workers: WorkerTable;
  concurrencyLimits: ConcurrencyLimitTable;
  concurrencySlots: ConcurrencySlotTable;
  globalConcurrencyLimits: GlobalConcurrencyLimitTable;
  globalConcurrencyLeases: GlobalConcurrencyLeaseTable;
  variables: VariableTable;
  secrets: SecretTable;
  automations: AutomationTable;
  events: EventTable;
  actionRuns: ActionRunTable;
  webhooks: WebhookTable;
  artifacts: ArtifactTable;
  flowRunInputs: FlowRunInputTable;
}

interface Stamped {
  created: string;
  updated: string;
}

export interface FlowTable extends Stamped {
  id: string;
  name: string;
  description: string | null;
  tags: string;
}

/** Columns shared by flow runs and task runs: the current state, denormalized for filters. */
interface RunColumns extends Stamped {
  id: string;
  name: string;
  tags: string;
  state: string | null;
  stateType: string | null;
  stateName: string | null;
  runCount: number;
  retries: number;
  retryDelaySeconds: string;
  timeoutSeconds: number | null;
  startTime: string | null;
  endTime: string | null;
}

export interface FlowRunTable extends RunColumns {
  flowId: string;
  deploymentId: string | null;
  deploymentName: string | null;
  parentFlowRunId: string | null;
  parentTaskRunId: string | null;
  parameters: string;
  labels: string;
  idempotencyKey: string | null;
  workPoolName: string | null;
  workQueueName: string | null;
  workQueueId: string | null;
  jobVariables: string;
  expectedStartTime: string | null;
  /** When a SCHEDULED run may start; null in other states. Workers claim by it. */
  nextScheduledStartTime: string | null;
  lastHeartbeat: string | null;
  workerName: string | null;
  /** The claim that took the run, as its claimer named it (ClaimRequest.claimId). */
  claimId: Generated<string | null>;
  /** Raised by every claim: the attempt that holds the run (see docs/reliability.md). */
  attempt: Generated<number>;
  /** Resumes after suspend(): a run resumed so starts again and reuses its completed tasks. */
  resumeCount: Generated<number>;
}

/**
 * A flow run's tags one per row, with its creation time, so that the runs with a tag are read newest
 * first from an index ((tag, created, flow_run_id)) rather than by matching every run's JSON list.
 * Written with the run; a run's tags never change.
 */
export interface FlowRunTagTable {
  tag: string;
  created: string;
  flowRunId: string;
}

export interface TaskRunTable extends RunColumns {
  flowRunId: string | null;
  taskKey: string;
  dynamicKey: string;
  cacheKey: string | null;
  cacheExpiration: string | null;
  taskInputs: string;
  /** The rest are a background task run's (no flow run; see docs/sdk.md, "Background tasks"). */
  parameters: Generated<string>;
  nextScheduledStartTime: Generated<string | null>;
  lastHeartbeat: Generated<string | null>;
  workerName: Generated<string | null>;
  claimId: Generated<string | null>;
  attempt: Generated<number>;
}

export interface StateTable {
  id: string;
  flowRunId: string | null;
  taskRunId: string | null;
  type: string;
  name: string;
  timestamp: string;
  state: string;
}

export interface LogTable {
  id: string;
  flowRunId: string | null;
  taskRunId: string | null;
  name: string;
  level: number;
  message: string;
  timestamp: string;
  /** Insertion order, so logs with equal timestamps read back as written. */
  seq: Generated<number>;
}

export interface DeploymentTable extends Stamped {
  id: string;
  name: string;
  flowId: string;
  description: string | null;
  version: string | null;
  entrypoint: string | null;
  path: string | null;
  parameters: string;
  parameterSchema: string;
  tags: string;
  workPoolName: string | null;
  workQueueName: string | null;
  jobVariables: string;
  concurrencyLimit: number | null;
  /** ENQUEUE or CANCEL_NEW (see COLLISION_STRATEGIES). */
  collisionStrategy: string;
  /** Days its finished runs are kept; null: BATON_RUN_RETENTION_DAYS. */
  runRetentionDays: number | null;
  /** JSON list of PullStep. */
  pullSteps: string;
  paused: number;
  lastPolled: string | null;
}

export interface DeploymentScheduleTable extends Stamped {
  id: string;
  deploymentId: string;
  schedule: string;
  active: number;
  /** JSON: the runs of this schedule get these over the deployment's default parameters. */
  parameters: string;
}

/** One row per background service: the server that runs it until `expires` (see store/leases.ts). */
export interface ServiceLeaseTable {
  name: string;
  holder: string;
  expires: string;
}

export interface WorkPoolTable extends Stamped {
  id: string;
  name: string;
  type: string;
  description: string | null;
  baseJobTemplate: string;
  concurrencyLimit: number | null;
  paused: number;
  /** 1 when deployments and runs may replace the pool's command (the right to run any command on its workers). */
  allowCommandOverride: Generated<number>;
}

export interface WorkQueueTable extends Stamped {
  id: string;
  workPoolId: string;
  name: string;
  description: string | null;
  priority: number;
  concurrencyLimit: number | null;
  paused: number;
  lastPolled: string | null;
}

export interface WorkerTable extends Stamped {
  id: string;
  workPoolId: string;
  name: string;
  lastHeartbeat: string;
  heartbeatIntervalSeconds: number;
  /** Set when the worker was announced offline (`worker.offline`); a heartbeat clears it. */
  offlineSince: Generated<string | null>;
}

export interface ConcurrencyLimitTable extends Stamped {
  id: string;
  tag: string;
  slotLimit: number;
}

export interface ConcurrencySlotTable {
  tag: string;
  taskRunId: string;
  acquired: string;
}

export interface GlobalConcurrencyLimitTable extends Stamped {
  id: string;
  name: string;
  slotLimit: number;
  active: number;
  slotDecayPerSecond: number | null;
  decayingSlots: Generated<number>;
  decayedAt: string | null;
}

/** A lease's slots of one limit: a lease of several limits has a row for each, sharing `leaseId`. */
export interface GlobalConcurrencyLeaseTable {
  id: string;
  /** Nullable in the table (added by migration 0020), always written since. */
  leaseId: string;
  /** How many limits (rows) the lease holds: a renewal that finds fewer ends the lease. */
  leaseLimits: number;
  limitId: string;
  slots: number;
  holder: string | null;
  acquired: string;
  expires: string;
}

export interface VariableTable extends Stamped {
  id: string;
  name: string;
  value: string;
  tags: string;
}

export interface ArtifactTable extends Stamped {
  id: string;
  key: string | null;
  type: string;
  description: string | null;
  /** As JSON. */
  data: string;
  flowRunId: string | null;
  /** Not a reference: a tracked flow's task runs may be recorded after their artifacts. */
  taskRunId: string | null;
}

/** What a paused flow run was resumed with, by its pause's key. */
export interface FlowRunInputTable {
  flowRunId: string;
  key: string;
  /** As JSON; "null" when resumed without input. */
  value: string;
  created: string;
}

/** An incoming webhook, served at /hooks/<slug>. */
export interface WebhookTable extends Stamped {
  id: string;
  name: string;
  slug: string;
  description: string | null;
  enabled: number;
  /** The template, as JSON. */
  template: string;
  /** The SHA-256 of the token callers must send (hex); null: none needed. */
  tokenHash: string | null;
}

export interface SecretTable extends Stamped {
  id: string;
  name: string;
  value: string;
}

export interface AutomationTable extends Stamped {
  id: string;
  name: string;
  description: string | null;
  enabled: number;
  trigger: string;
  actions: string;
  /** What the trigger remembers between events (see `TriggerWindow` in core). */
  windowStart: string;
  windowCount: number;
  /**
   * A compound or sequence trigger's `CombinedState`, a metric trigger's `MetricState` (JSON); null
   * for an event trigger's, or afresh.
   */
  triggerState: Generated<string | null>;
  /** The deployment whose trigger it is; null for an automation of its own. */
  deploymentId: Generated<string | null>;
}

export interface EventTable {
  /** Insertion order: events are matched and listed by it. */
  seq: Generated<number>;
  id: string;
  occurred: string;
  name: string;
  resourceKind: string;
  resourceId: string;
  flowRunId: string | null;
  flowRunName: string | null;
  flowName: string | null;
  deploymentName: string | null;
  workPoolName: string | null;
  tags: string;
  payload: string;
  /** 1 once the automation service has matched it against every automation. */
  processed: number;
}

export interface ActionRunTable extends Stamped {
  id: string;
  automationId: string;
  automationName: string;
  actionIndex: number;
  action: string;
  eventId: string | null;
  context: string;
  resolved: string;
  status: string;
  attempts: string;
  nextAttemptAt: string | null;
}
