export { Worker, registerJobAdapter, type WorkerOptions } from "./worker.js";
export type { JobAdapter, JobContext, JobExit, JobHandle, RecoveredJob } from "./adapters.js";
export { DockerAdapter, dockerAdapter, LABELS as DOCKER_LABELS } from "./docker-adapter.js";
export { ProcessAdapter } from "./process-adapter.js";
