import { z } from "zod";
import { ErrorCode } from "../errors.js";
import {
  STATE_TYPES,
  StateInputSchema,
  StateSchema,
  TERMINAL_STATE_TYPES,
  type StateType,
} from "../states.js";
import {
  CsvList,
  Id,
  JsonObject,
  Limit,
  Name,
  Offset,
  QueryBoolean,
  Tags,
  Timestamp,
  Timestamps,
} from "./common.js";

const Description = z.string().max(10_000).nullish();
const Retries = z.number().int().min(0).max(1000);
const RetryDelays = z
  .array(
    z
      .number()
      .min(0)
      .max(86_400 * 7),
  )
  .max(100);
const Seconds = z
  .number()
  .positive()
  .max(86_400 * 365);

// ── Flows ────────────────────────────────────────────────────────────────────
export const Flow = z.object({
  id: Id,
  name: Name,
  description: z.string().nullable(),
  tags: Tags,
  ...Timestamps,
});
export type Flow = z.infer<typeof Flow>;
export const FlowCreate = z.strictObject({ name: Name, description: Description, tags: Tags.optional() });
export type FlowCreate = z.infer<typeof FlowCreate>;
export const FlowQuery = z.strictObject({ name: z.string().optional(), limit: Limit, offset: Offset });

// ── Flow runs ────────────────────────────────────────────────────────────────
export const FlowRun = z.object({
  id: Id,
  name: z.string(),
  flowId: Id,
  flowName: z.string(),
  deploymentId: Id.nullable(),
  deploymentName: z.string().nullable(),
  parentFlowRunId: Id.nullable(),
  parentTaskRunId: Id.nullable(),
  parameters: JsonObject,
  tags: Tags,
  labels: z.record(z.string(), z.string()),
  idempotencyKey: z.string().nullable(),
  workPoolName: z.string().nullable(),
  workQueueName: z.string().nullable(),
  jobVariables: JsonObject,
  state: StateSchema.nullable(),
  runCount: z.number().int(),
  retries: z.number().int(),
  retryDelaySeconds: z.array(z.number()),
  timeoutSeconds: z.number().nullable(),
  expectedStartTime: Timestamp.nullable(),
  startTime: Timestamp.nullable(),
  endTime: Timestamp.nullable(),
  lastHeartbeat: Timestamp.nullable(),
  workerName: z.string().nullable(),
  /** Raised by every claim (and by crash detection): the attempt that holds the run. */
  attempt: z.number().int(),
  /** How often the run was resumed after `suspend()`: a run resumed so starts again, reusing its completed tasks. */
  resumeCount: z.number().int(),
  ...Timestamps,
});
export type FlowRun = z.infer<typeof FlowRun>;

/** A person's (or automation's) answer to a paused run: the input its pause asked for, if any. */
export const FlowRunResume = z.strictObject({ input: JsonObject.optional() });
export type FlowRunResume = z.infer<typeof FlowRunResume>;
/** The input a run was resumed with, kept by its pause's key (a suspended run reads it when it starts again). */
export const FlowRunInput = z.object({
  flowRunId: Id,
  key: z.string(),
  /** null: resumed without input. */
  value: JsonObject.nullable(),
  created: Timestamp,
});
export type FlowRunInput = z.infer<typeof FlowRunInput>;

const RunOptions = {
  name: z.string().min(1).max(200).optional(),
  tags: Tags.optional(),
  labels: z.record(z.string(), z.string()).optional(),
  idempotencyKey: z.string().min(1).max(500).optional(),
  state: StateInputSchema.optional(),
  retries: Retries.optional(),
  retryDelaySeconds: RetryDelays.optional(),
  timeoutSeconds: Seconds.nullish(),
};

export const FlowRunCreate = z
  .strictObject({
    /** A client may choose the id (a UUID) so that it need not wait for the answer. */
    id: Id.optional(),
    flowId: Id.optional(),
    flowName: Name.optional(),
    parameters: JsonObject.optional(),
    parentFlowRunId: Id.optional(),
    parentTaskRunId: Id.optional(),
    ...RunOptions,
  })
  .refine((body) => body.flowId !== undefined || body.flowName !== undefined, {
    message: "give flowId or flowName",
    path: ["flowId"],
  });
export type FlowRunCreate = z.infer<typeof FlowRunCreate>;

/** What the process running a flow run says about it once it knows the flow (a deployment run is created without it). */
export const FlowRunUpdate = z.strictObject({
  retries: Retries.optional(),
  retryDelaySeconds: RetryDelays.optional(),
  timeoutSeconds: Seconds.nullish(),
});
export type FlowRunUpdate = z.infer<typeof FlowRunUpdate>;

export const DeploymentRunCreate = z.strictObject({
  parameters: JsonObject.optional(),
  jobVariables: JsonObject.optional(),
  workQueueName: Name.optional(),
  ...RunOptions,
});
export type DeploymentRunCreate = z.infer<typeof DeploymentRunCreate>;

export const FlowRunQuery = z.strictObject({
  stateType: CsvList(z.enum(STATE_TYPES)).optional(),
  stateName: z.string().optional(),
  flowId: Id.optional(),
  flowName: z.string().optional(),
  deploymentId: Id.optional(),
  workPoolName: z.string().optional(),
  workQueueName: z.string().optional(),
  parentFlowRunId: Id.optional(),
  tag: z.string().optional(),
  createdAfter: Timestamp.optional(),
  createdBefore: Timestamp.optional(),
  limit: Limit,
  offset: Offset,
});
export type FlowRunQuery = z.input<typeof FlowRunQuery>;

/**
 * A clean-up of finished flow runs: those that ended before `before`, in the final states given (all
 * four when left out), go with their task runs, states and logs.
 */
export const FlowRunDeletion = z.strictObject({
  before: Timestamp,
  stateType: CsvList(z.enum(TERMINAL_STATE_TYPES as [StateType, ...StateType[]])).optional(),
});
export type FlowRunDeletion = z.input<typeof FlowRunDeletion>;
export const FlowRunsDeleted = z.object({ deleted: z.number().int() });
export type FlowRunsDeleted = z.infer<typeof FlowRunsDeleted>;

/** A run's result as the server read it: the JSON value, and how it was written. */
export const RunResult = z.object({
  value: z.json(),
  serializer: z.string(),
  typeName: z.string().optional(),
});
export type RunResult = z.infer<typeof RunResult>;

/** The longest history answered at once, in buckets. */
export const MAX_HISTORY_BUCKETS = 1000;

/**
 * Flow runs counted by the time they were created (buckets of `bucketSeconds` from `since`, the
 * last one ending at `until`, now when left out) and the type of the state each is in now.
 */
export const FlowRunHistoryQuery = z.strictObject({
  since: Timestamp,
  until: Timestamp.optional(),
  bucketSeconds: z.coerce
    .number()
    .int()
    .min(1)
    .max(86_400 * 366)
    .default(3600),
});
export type FlowRunHistoryQuery = z.input<typeof FlowRunHistoryQuery>;

export const FlowRunHistoryBucket = z.object({
  /** The bucket's start; it ends where the next one starts (the last one at `until`). */
  start: Timestamp,
  /** Runs created in the bucket, by the type of their current state (every type, zeros too). */
  counts: z.record(z.enum(STATE_TYPES), z.number().int()),
});
export type FlowRunHistoryBucket = z.infer<typeof FlowRunHistoryBucket>;

/** The attempt a process holds (a flow run's `attempt` when it was claimed): stale ones are refused. */
const Attempt = z.number().int().min(0);
export const SetState = z.strictObject({
  state: StateInputSchema,
  force: z.boolean().optional(),
  /** The flow run's attempt this process carries out (for a task run: its flow run's). */
  attempt: Attempt.optional(),
});
export const Heartbeat = z.strictObject({
  attempt: Attempt.optional(),
  /**
   * A worker speaking for a run whose process is still starting: it counts only while the run is
   * PENDING. From RUNNING on the flow sends its own, and the worker's is refused (409), so a hung flow
   * process is not kept alive by its healthy worker.
   */
  whileStarting: z.boolean().optional(),
});
export type Heartbeat = z.infer<typeof Heartbeat>;
export type SetState = z.infer<typeof SetState>;
export const SetStateResult = z.object({
  status: z.enum(["ACCEPT", "REJECT", "WAIT", "ABORT"]),
  reason: z.string(),
  /** The run's state after the verdict. */
  state: StateSchema.nullable(),
  delaySeconds: z.number().optional(),
});
export type SetStateResult = z.infer<typeof SetStateResult>;

/** The most proposals one request may carry (`setFlowRunStates`). */
export const MAX_PROPOSALS = 100;
export const SetStates = z.strictObject({
  proposals: z
    .array(z.strictObject({ id: Id, ...SetState.shape }))
    .min(1)
    .max(MAX_PROPOSALS),
});
export type SetStates = z.infer<typeof SetStates>;
/** A proposal that could not be decided (its run does not exist, say): what the single call would throw. */
export const ProposalError = z.strictObject({
  error: z.strictObject({ code: z.enum(Object.values(ErrorCode)), message: z.string() }),
});
/** One answer per proposal, in their order: a verdict, or an error. */
export const SetStatesResult = z.object({ results: z.array(z.union([SetStateResult, ProposalError])) });
export type SetStatesResult = z.infer<typeof SetStatesResult>;

export const StateHistoryEntry = StateSchema.extend({ id: Id });
export type StateHistoryEntry = z.infer<typeof StateHistoryEntry>;

// ── Task runs ────────────────────────────────────────────────────────────────
/** What a task's result is cached under (its `cacheKey` function's answer). */
export const CacheKey = z.string().min(1).max(500);
export const TaskRun = z.object({
  id: Id,
  flowRunId: Id.nullable(),
  name: z.string(),
  taskKey: z.string(),
  dynamicKey: z.string(),
  tags: Tags,
  cacheKey: z.string().nullable(),
  cacheExpiration: Timestamp.nullable(),
  taskInputs: JsonObject,
  /** A background task run's arguments (`task.delay()`): `{ args: [...] }`, as its caller encoded them. */
  parameters: JsonObject,
  /** A background task run's task worker, and its attempt (raised by every claim, as a flow run's). */
  workerName: z.string().nullable(),
  attempt: z.number().int(),
  state: StateSchema.nullable(),
  runCount: z.number().int(),
  retries: z.number().int(),
  retryDelaySeconds: z.array(z.number()),
  timeoutSeconds: z.number().nullable(),
  startTime: Timestamp.nullable(),
  endTime: Timestamp.nullable(),
  ...Timestamps,
});
export type TaskRun = z.infer<typeof TaskRun>;
export const TaskRunCreate = z.strictObject({
  ...RunOptions,
  id: Id.optional(),
  flowRunId: Id.optional(),
  name: z.string().min(1).max(200),
  taskKey: z.string().min(1).max(500),
  dynamicKey: z.string().max(200).optional(),
  cacheKey: CacheKey.optional(),
  cacheExpiration: Timestamp.optional(),
  taskInputs: JsonObject.optional(),
  /**
   * A background task run's arguments: with no flowRunId and a SCHEDULED first state, a task worker
   * serving its taskKey claims and runs it (`task.delay()`).
   */
  parameters: JsonObject.optional(),
  /**
   * Propose RUNNING right after the first state, in the same transaction: one round trip to start a
   * task whose start the server decides (a cache key, a limited tag). The answer's state tells how it
   * went: RUNNING (started), COMPLETED (a valid cached result), or the first state still (the rules
   * said to wait: propose RUNNING again later).
   */
  start: z.boolean().optional(),
  /** With start: the attempt of the flow run that proposes it. */
  attempt: Attempt.optional(),
});
export type TaskRunCreate = z.infer<typeof TaskRunCreate>;
/**
 * A task run orchestrated by the client (same rules, applied in its process) and recorded afterwards:
 * the states it went through since it was last recorded. Recording the same id again appends.
 */
export const TaskRunRecord = z.strictObject({
  id: Id,
  flowRunId: Id,
  name: z.string().min(1).max(200),
  taskKey: z.string().min(1).max(500),
  dynamicKey: z.string().max(200),
  tags: Tags,
  retries: Retries,
  retryDelaySeconds: RetryDelays,
  timeoutSeconds: Seconds.nullable(),
  /** A task with a cache key whose cached result the client looked up itself (`readCachedTaskRunState`). */
  cacheKey: CacheKey.optional(),
  cacheExpiration: Timestamp.optional(),
  runCount: z.number().int().min(0),
  states: z.array(StateSchema).min(1).max(1000),
});
export type TaskRunRecord = z.infer<typeof TaskRunRecord>;
export const TaskRunRecordBatch = z.array(TaskRunRecord).min(1).max(5000);

export const CachedStateQuery = z.strictObject({ cacheKey: CacheKey });
/**
 * The valid cached result of a cache key: the newest COMPLETED state stored under it that has not
 * expired, with the key and its expiration; null when there is none.
 */
export const CachedState = z.object({ state: StateSchema.nullable() });

export const TaskRunQuery = z.strictObject({
  flowRunId: Id.optional(),
  /** Only background task runs (`task.delay()`, no flow run). */
  background: QueryBoolean.optional(),
  taskKey: z.string().optional(),
  /** Newest first; oldest first (a flow run's timeline) otherwise. */
  newestFirst: QueryBoolean.optional(),
  stateType: CsvList(z.enum(STATE_TYPES)).optional(),
  tag: z.string().optional(),
  limit: Limit,
  offset: Offset,
});
export type TaskRunQuery = z.input<typeof TaskRunQuery>;

// ── Logs ─────────────────────────────────────────────────────────────────────
export const Log = z.object({
  id: Id,
  flowRunId: Id.nullable(),
  taskRunId: Id.nullable(),
  name: z.string(),
  level: z.number().int(),
  message: z.string(),
  timestamp: Timestamp,
});
export type Log = z.infer<typeof Log>;
export const LogCreate = z.strictObject({
  /** Chosen by the sender, so that a batch sent again after a lost answer is stored once. */
  id: Id.optional(),
  flowRunId: Id.nullish(),
  taskRunId: Id.nullish(),
  name: z.string().max(200).default("baton"),
  level: z.number().int().min(0).max(100),
  message: z.string().max(1_000_000),
  timestamp: Timestamp,
});
export type LogCreate = z.input<typeof LogCreate>;
export const LogBatch = z.array(LogCreate).min(1).max(5000);
export const LogQuery = z.strictObject({
  flowRunId: Id.optional(),
  taskRunId: Id.optional(),
  minLevel: z.coerce.number().int().min(0).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(5000).default(200),
  offset: Offset,
});
export type LogQuery = z.input<typeof LogQuery>;

// ── Deployments ──────────────────────────────────────────────────────────────
export const ScheduleSpec = z.union([
  z.strictObject({ cron: z.string().min(1), timezone: z.string().default("UTC") }),
  z.strictObject({
    interval: z.number().positive(),
    anchorDate: Timestamp.optional(),
    timezone: z.string().default("UTC"),
  }),
  z.strictObject({ rrule: z.string().min(1), timezone: z.string().default("UTC") }),
]);
export type ScheduleSpec = z.infer<typeof ScheduleSpec>;

/** A schedule in a few words, for messages and listings: `cron '0 9 * * *' Asia/Seoul`, `every 60 s UTC`. */
export function describeSchedule(schedule: ScheduleSpec): string {
  const what =
    "cron" in schedule
      ? `cron '${schedule.cron}'`
      : "interval" in schedule
        ? `every ${schedule.interval} s`
        : `rrule '${schedule.rrule}'`;
  return `${what} ${schedule.timezone}`;
}
/** A schedule of a deployment; its runs get `parameters` over the deployment's default parameters. */
export const DeploymentSchedule = z.object({
  id: Id,
  schedule: ScheduleSpec,
  active: z.boolean(),
  parameters: JsonObject,
});
export type DeploymentSchedule = z.infer<typeof DeploymentSchedule>;
export const ScheduleCreate = z.strictObject({
  schedule: ScheduleSpec,
  active: z.boolean().default(true),
  parameters: JsonObject.default({}),
});
export type ScheduleCreate = z.input<typeof ScheduleCreate>;
export const ScheduleUpdate = z.strictObject({
  schedule: ScheduleSpec.optional(),
  active: z.boolean().optional(),
  parameters: JsonObject.optional(),
});
export type ScheduleUpdate = z.input<typeof ScheduleUpdate>;

/** A folder inside the run's working directory: relative, never climbing out of it. */
const InsidePath = z
  .string()
  .min(1)
  .max(2000)
  .refine(
    (path) => !/^([/\\]|[A-Za-z]:)/.test(path) && !path.split(/[/\\]/).includes(".."),
    "must be a relative path that stays inside the working directory (no leading '/', no '..')",
  );

/**
 * What a worker does before each run of a deployment, in a fresh working directory of the run's own
 * (removed after it): clone the code (cached by commit), step into a folder of it, run a script such
 * as `npm ci`. The flow's entrypoint is then found in the working directory the steps leave.
 */
export const PullStep = z.discriminatedUnion("step", [
  z
    .strictObject({
      step: z.literal("git_clone"),
      /** Cloned into a folder named after it, which becomes the working directory. */
      repository: z
        .string()
        .min(1)
        .max(2000)
        // git would read a leading '-' as one of its options, and its ext:: transport runs a command.
        .refine(
          (url) => !url.startsWith("-") && !/^ext::/i.test(url),
          "must be a repository's URL or path (not starting with '-' nor using git's ext:: transport)",
        )
        .refine(
          (url) => !/^[a-z][a-z0-9+.-]*:\/\/[^/@]*:[^/@]*@/i.test(url),
          "must not hold a password: keep it in a secret and name that secret in credentialsSecret",
        ),
      /** @default the repository's default branch */
      branch: z.string().min(1).max(500).optional(),
      commit: z
        .string()
        .regex(/^[0-9a-f]{7,64}$/i, "must be a commit's hash (7 to 64 hexadecimal digits)")
        .optional(),
      /** A secret holding `user:token`, or a token alone (sent as GitHub's x-access-token), for HTTPS. */
      credentialsSecret: Name.optional(),
    })
    .refine((step) => step.branch === undefined || step.commit === undefined, {
      message: "give branch or commit, not both",
      path: ["commit"],
    }),
  z.strictObject({ step: z.literal("set_working_directory"), directory: InsidePath }),
  z.strictObject({
    step: z.literal("run_shell_script"),
    /** Run by `sh -c` in the working directory, with the worker's environment and `env`. */
    script: z.string().min(1).max(100_000),
    env: z.record(z.string(), z.string()).optional(),
  }),
]);
export type PullStep = z.infer<typeof PullStep>;
export const PullSteps = z.array(PullStep).max(50);

/** A pull step in a few words, for messages and listings: `git_clone <url> at main`, `run_shell_script 'npm ci'`. */
export function describePullStep(step: PullStep): string {
  switch (step.step) {
    case "git_clone": {
      const at = step.commit ?? step.branch;
      return `git_clone ${step.repository}${at ? ` at ${at}` : ""}`;
    }
    case "set_working_directory":
      return `set_working_directory ${step.directory}`;
    case "run_shell_script": {
      const [first = ""] = step.script.trim().split("\n");
      const more = first.length > 60 || step.script.trim().includes("\n");
      return `run_shell_script '${first.slice(0, 60)}${more ? " …" : ""}'`;
    }
  }
}

/**
 * What becomes of a deployment run that is due while the deployment has all its concurrency slots
 * in use: it waits its turn (ENQUEUE), or it is cancelled at once (CANCEL_NEW), as Prefect's.
 */
export const COLLISION_STRATEGIES = ["ENQUEUE", "CANCEL_NEW"] as const;
export type CollisionStrategy = (typeof COLLISION_STRATEGIES)[number];

export const Deployment = z.object({
  id: Id,
  name: Name,
  flowId: Id,
  flowName: z.string(),
  description: z.string().nullable(),
  version: z.string().nullable(),
  entrypoint: z.string().nullable(),
  path: z.string().nullable(),
  parameters: JsonObject,
  parameterSchema: JsonObject,
  tags: Tags,
  workPoolName: z.string().nullable(),
  workQueueName: z.string().nullable(),
  jobVariables: JsonObject,
  concurrencyLimit: z.number().int().nullable(),
  collisionStrategy: z.enum(COLLISION_STRATEGIES),
  /** Its finished runs are deleted this many days after they end; null: the server's setting. */
  runRetentionDays: z.number().nullable(),
  /** What a worker does before each run to get the code (empty: it runs from `path`). */
  pullSteps: PullSteps,
  paused: z.boolean(),
  schedules: z.array(DeploymentSchedule),
  lastPolled: Timestamp.nullable(),
  ...Timestamps,
});
export type Deployment = z.infer<typeof Deployment>;

const DeploymentFields = {
  description: Description,
  version: z.string().max(200).nullish(),
  entrypoint: z.string().max(2000).nullish(),
  path: z.string().max(2000).nullish(),
  parameters: JsonObject.optional(),
  parameterSchema: JsonObject.optional(),
  tags: Tags.optional(),
  workPoolName: Name.nullish(),
  workQueueName: Name.nullish(),
  jobVariables: JsonObject.optional(),
  concurrencyLimit: z.number().int().min(0).nullish(),
  collisionStrategy: z.enum(COLLISION_STRATEGIES).optional(),
  runRetentionDays: z.number().positive().max(36_500).nullish(),
  pullSteps: PullSteps.optional(),
  paused: z.boolean().optional(),
};
/** Creating a deployment that exists (same flow and name) updates it, as `serve()` and `deploy()` rely on. */
export const DeploymentCreate = z
  .strictObject({
    name: Name,
    flowId: Id.optional(),
    flowName: Name.optional(),
    schedules: z.array(ScheduleCreate).optional(),
    ...DeploymentFields,
  })
  .refine((body) => body.flowId !== undefined || body.flowName !== undefined, {
    message: "give flowId or flowName",
    path: ["flowId"],
  });
export type DeploymentCreate = z.input<typeof DeploymentCreate>;
export const DeploymentUpdate = z.strictObject({
  ...DeploymentFields,
  schedules: z.array(ScheduleCreate).optional(),
});
export type DeploymentUpdate = z.input<typeof DeploymentUpdate>;
export const DeploymentQuery = z.strictObject({
  flowName: z.string().optional(),
  workPoolName: z.string().optional(),
  limit: Limit,
  offset: Offset,
});

// ── Work pools, queues, workers ──────────────────────────────────────────────
export const WorkPool = z.object({
  id: Id,
  name: Name,
  type: z.string(),
  description: z.string().nullable(),
  baseJobTemplate: JsonObject,
  concurrencyLimit: z.number().int().nullable(),
  paused: z.boolean(),
  /** Whether deployments and runs may set the job variable `command`: the right to run any command on the pool's workers. */
  allowCommandOverride: z.boolean(),
  ...Timestamps,
});
export type WorkPool = z.infer<typeof WorkPool>;
export const WorkPoolCreate = z.strictObject({
  name: Name,
  type: z.string().min(1).max(100).default("process"),
  description: Description,
  baseJobTemplate: JsonObject.optional(),
  concurrencyLimit: z.number().int().min(0).nullish(),
  paused: z.boolean().optional(),
  /** @default false: only the pool's own base job template may set `command`. */
  allowCommandOverride: z.boolean().optional(),
});
export type WorkPoolCreate = z.input<typeof WorkPoolCreate>;
export const WorkPoolUpdate = WorkPoolCreate.omit({ name: true, type: true }).partial();
export type WorkPoolUpdate = z.input<typeof WorkPoolUpdate>;

export const WorkQueue = z.object({
  id: Id,
  workPoolId: Id,
  workPoolName: z.string(),
  name: Name,
  description: z.string().nullable(),
  priority: z.number().int(),
  concurrencyLimit: z.number().int().nullable(),
  paused: z.boolean(),
  lastPolled: Timestamp.nullable(),
  ...Timestamps,
});
export type WorkQueue = z.infer<typeof WorkQueue>;
export const WorkQueueCreate = z.strictObject({
  name: Name,
  description: Description,
  priority: z.number().int().min(1).max(1_000_000).optional(),
  concurrencyLimit: z.number().int().min(0).nullish(),
  paused: z.boolean().optional(),
});
export type WorkQueueCreate = z.input<typeof WorkQueueCreate>;
export const WorkQueueUpdate = WorkQueueCreate.omit({ name: true }).partial();
export type WorkQueueUpdate = z.input<typeof WorkQueueUpdate>;

export const Worker = z.object({
  id: Id,
  workPoolId: Id,
  name: z.string(),
  status: z.enum(["ONLINE", "OFFLINE"]),
  lastHeartbeat: Timestamp,
  heartbeatIntervalSeconds: z.number(),
  ...Timestamps,
});
export type Worker = z.infer<typeof Worker>;
export const WorkerHeartbeat = z.strictObject({
  name: z.string().min(1).max(200),
  heartbeatIntervalSeconds: z.number().positive().max(3600).default(10),
});
export type WorkerHeartbeat = z.input<typeof WorkerHeartbeat>;

/**
 * A worker (work pool) or a serve process (its deployments) asks for runs to start. The claim is one
 * atomic step: the runs it returns are PENDING and count against every limit at once.
 */
export const ClaimRequest = z.strictObject({
  workerName: z.string().min(1).max(200),
  workPoolName: Name.optional(),
  /** Only these queues of the pool; all of them when left out. */
  workQueueNames: z.array(Name).max(100).optional(),
  /** Runs of these deployments that belong to no work pool (serve). Give this or workPoolName. */
  deploymentIds: z.array(Id).max(1000).optional(),
  /** How many runs the caller can start now. */
  limit: z.number().int().min(1).max(100).default(1),
  /** Wait up to this long for a run when none is ready (long poll). */
  waitSeconds: z.number().min(0).max(60).default(0),
  /**
   * The caller runs each run in its own process at once (serve): the claim moves it on to RUNNING in
   * the same transaction, after PENDING, and the caller does not propose RUNNING again. A run the
   * rules keep from starting is answered PENDING, and its caller proposes RUNNING as usual.
   */
  start: z.boolean().default(false),
  /**
   * Answer each run's deployment (a worker needs its entrypoint and pull steps). A serve process knows
   * its own and asks without them: two reads fewer between the claim and the flow's first line.
   */
  withDeployments: z.boolean().default(true),
  /**
   * Names this claim (any unique string, a UUID say). A claim sent again with the same claimId and
   * `resent` after its answer was lost (the server died or the connection dropped) is answered with
   * the runs the first one took, while they are still the same worker's, instead of taking others.
   */
  claimId: z.string().min(1).max(200).optional(),
  /** This claim was sent before under its claimId and got no answer (see claimId). */
  resent: z.boolean().default(false),
});
export type ClaimRequest = z.input<typeof ClaimRequest>;
export const ClaimedRun = z.object({
  flowRun: FlowRun,
  /** null when the claim asked without deployments, or the deployment was deleted since. */
  deployment: Deployment.nullable(),
  /** The pool's base job template values, under the deployment's, under the run's. */
  jobVariables: JsonObject,
});
export type ClaimedRun = z.infer<typeof ClaimedRun>;
export const ClaimResult = z.object({ runs: z.array(ClaimedRun) });
export type ClaimResult = z.infer<typeof ClaimResult>;
/** A task worker's claim: background task runs (no flow run) of these tasks, by task key. */
export const TaskRunClaimRequest = z.strictObject({
  workerName: z.string().min(1).max(200),
  taskKeys: z.array(z.string().min(1).max(500)).min(1).max(1000),
  limit: z.number().int().min(1).max(100).default(1),
  waitSeconds: z.number().min(0).max(60).default(0),
  /** As a flow run claim's. */
  claimId: z.string().min(1).max(200).optional(),
  resent: z.boolean().default(false),
});
export type TaskRunClaimRequest = z.input<typeof TaskRunClaimRequest>;
/** Claimed task runs, RUNNING (or PENDING when the rules kept them from starting). */
export const TaskRunClaimResult = z.object({ runs: z.array(TaskRun) });
export type TaskRunClaimResult = z.infer<typeof TaskRunClaimResult>;

// ── Tag concurrency limits ───────────────────────────────────────────────────
export const ConcurrencyLimit = z.object({
  id: Id,
  tag: z.string(),
  limit: z.number().int(),
  /** Task runs holding a slot now. */
  activeSlots: z.array(Id),
  ...Timestamps,
});
export type ConcurrencyLimit = z.infer<typeof ConcurrencyLimit>;
export const ConcurrencyLimitCreate = z.strictObject({
  tag: z.string().min(1).max(200),
  limit: z.number().int().min(0).max(1_000_000),
});
export type ConcurrencyLimitCreate = z.infer<typeof ConcurrencyLimitCreate>;

// ── Variables and secrets ────────────────────────────────────────────────────
export const Variable = z.object({ id: Id, name: Name, value: z.json(), tags: Tags, ...Timestamps });
export type Variable = z.infer<typeof Variable>;
export const VariableCreate = z.strictObject({ name: Name, value: z.json(), tags: Tags.optional() });
export type VariableCreate = z.infer<typeof VariableCreate>;

/** A secret's value is write-only: answers show only that it is set and its length. */
export const Secret = z.object({ id: Id, name: Name, valueLength: z.number().int(), ...Timestamps });
export type Secret = z.infer<typeof Secret>;
export const SecretCreate = z.strictObject({ name: Name, value: z.string().min(1).max(100_000) });
export type SecretCreate = z.infer<typeof SecretCreate>;
/** A secret's value, answered only by its own route (with the API key, when the server has one). */
export const SecretValue = z.object({ name: Name, value: z.string() });
export type SecretValue = z.infer<typeof SecretValue>;

// Automations, their triggers and actions: automations.ts.

export const NameQuery = z.strictObject({ limit: Limit, offset: Offset });

// ── Events and health ────────────────────────────────────────────────────────
export const BatonEvent = z.object({
  id: Id,
  name: z.string(),
  occurred: Timestamp,
  resource: z.object({ kind: z.string(), id: z.string() }),
  /** The flow run this event concerns, when it concerns one: lets clients follow one run. */
  flowRunId: Id.nullable(),
  payload: JsonObject,
});
export type BatonEvent = z.infer<typeof BatonEvent>;
export const EventStreamQuery = z.strictObject({
  flowRunId: Id.optional(),
  name: CsvList(z.string()).optional(),
  /** Only the run state changes into these types (a run's cancel, say); other events are left out. */
  stateType: CsvList(z.enum(STATE_TYPES)).optional(),
});

export const Health = z.object({ status: z.literal("ok"), version: z.string(), database: z.string() });
export type Health = z.infer<typeof Health>;

export { QueryBoolean };
