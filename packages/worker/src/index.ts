export { Worker, registerJobAdapter, type WorkerOptions } from "./worker.js";
export type { JobAdapter, JobContext, JobExit, JobHandle, RecoveredJob } from "./adapters.js";
export {
  DockerAdapter,
  dockerAdapter,
  dockerJobVariables,
  LABELS as DOCKER_LABELS,
  type DockerJobVariables,
  type PullPolicy,
} from "./docker-adapter.js";
export { ProcessAdapter, processJobVariables, type ProcessJobVariables } from "./process-adapter.js";
