import type { ClaimedRun, JsonObject } from "@baton/core";

/** What a worker knows to start a run's job: where to report and how to name its output. */
export interface JobContext {
  /** The worker's name: container adapters label their jobs with it, to find them after a restart. */
  workerName: string;
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

/** A job a worker of the same name started before it stopped, found again when it starts. */
export interface RecoveredJob {
  flowRunId: string;
  job: JobHandle;
  /** Whether it was still running when found (its `exited` resolves at once otherwise). */
  running: boolean;
  /** The run's attempt the job was started for: a run claimed again since has moved on from it. */
  attempt?: number;
  /** The job variables the worker needs to go on (stopGracePeriodSeconds), as far as the job records them. */
  jobVariables: JsonObject;
}

/** Starts jobs for one work-pool type. Container and Kubernetes types implement the same interface. */
export interface JobAdapter {
  type: string;
  /** Throws, with what to do, when jobs cannot start at all (no engine): the worker stops at once. */
  check?(): Promise<void>;
  start(run: ClaimedRun, context: JobContext): Promise<JobHandle>;
  /**
   * Jobs that outlive their worker (containers) are found again when a worker of the same name starts:
   * those still running are followed again, those that ended are settled from their exit.
   */
  recover?(workerName: string, contextFor: (flowRunId: string) => JobContext): Promise<RecoveredJob[]>;
  /** Lets go of what the adapter keeps for its worker (runner processes started ahead), when it stops. */
  close?(): void;
}
