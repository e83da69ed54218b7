export { Worker, registerJobAdapter, type WorkerOptions } from "./worker.js";
export type { JobAdapter, JobContext, JobExit, JobHandle } from "./adapters.js";
export { processAdapter, processJobVariables, type ProcessJobVariables } from "./process-adapter.js";
