export {
  flow,
  type Flow,
  type FlowOptions,
  type FlowRunContext,
  type RunOptions,
  type StateHook,
} from "./flow.js";
export { task, exponentialBackoff, TaskFuture, type Task, type TaskOptions } from "./task.js";
export {
  getTaskRunResult,
  TaskRunFailedError,
  TaskRunFuture,
  type TaskRunResultOptions,
} from "./background.js";
export { serveTasks, type ServeTasksOptions } from "./task-worker.js";
export {
  ParametersCodec,
  type ParameterCodec,
  type ParametersInput,
  type ParametersOf,
  type ParametersSchema,
} from "./parameters.js";
export { currentRun, getRunLogger, type RunContext } from "./context.js";
export { TimeoutError, CancelledError, StaleAttemptError, SuspendedError } from "./engine.js";
export { pause, suspend, type PauseOptions, type PauseInputOf, type PauseInputSpec } from "./pause.js";
export { RunLogger, LogLevel } from "./logger.js";
export { defaultClient } from "./settings.js";
export {
  getFlowRunResult,
  loadResult,
  jsonSerializer,
  LocalFileStorage,
  registerSerializer,
  registerResultStorage,
  type Serializer,
  type ResultStorage,
  type ResultOptions,
} from "./results.js";
export {
  runDeployment,
  waitForFlowRun,
  type DeploymentOptions,
  type DeployOptions,
  type DeploymentSpec,
  type RunDeploymentOptions,
  type Schedule,
} from "./deployments.js";
export { serve, type ServeOptions } from "./serve.js";
export { claimLoop, type ClaimLoopOptions } from "./claim-loop.js";
export { isMainModule, loadFlow, loadTask, parseEntrypoint } from "./entrypoint.js";
export { shipperFor } from "./logger.js";
export { untilReachable } from "./reachable.js";
export {
  variables,
  variablesOf,
  type SetVariableOptions,
  type VariableValue,
  type Variables,
} from "./variables.js";
export { secret } from "./secrets.js";
export { emitEvent, type EmitEventOptions } from "./events.js";
export {
  acquireConcurrency,
  concurrency,
  rateLimit,
  type ConcurrencyOptions,
  type ConcurrencySlots,
  type RateLimitOptions,
} from "./concurrency.js";
export {
  createMarkdownArtifact,
  createTableArtifact,
  createLinkArtifact,
  createProgressArtifact,
  updateProgressArtifact,
  type ArtifactOptions,
  type MarkdownArtifactOptions,
  type TableArtifactOptions,
  type LinkArtifactOptions,
  type ProgressArtifactOptions,
} from "./artifacts.js";
