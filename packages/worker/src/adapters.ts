import type { ClaimedRun } from "@baton/core";

/** What a worker knows to start a run's job: where to report and how to name its output. */
export interface JobContext {
  /** Environment the job's process needs to report to the server (BATON_API_URL, …). */
  env: Record<string, string>;
  /** Each line the job prints, as it prints it. */
  onOutput(stream: "stdout" | "stderr", line: string): void;
}

export interface JobExit {
  code: number | null;
  /** The signal that ended it, when one did. */
  signal: string | null;
}

/** A run's job once started: a process, a container, a pod. */
export interface JobHandle {
  /** Something to recognize the job by in the worker's output and the run's logs (pid, container id). */
  id: string;
  exited: Promise<JobExit>;
  /** Asks the job to stop, and forces it after the grace period. */
  stop(graceSeconds: number): void;
}

/** Starts jobs for one work-pool type. Container and Kubernetes types implement the same interface. */
export interface JobAdapter {
  type: string;
  start(run: ClaimedRun, context: JobContext): Promise<JobHandle>;
}
