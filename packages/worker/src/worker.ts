import { hostname } from "node:os";
import type { BatonClient } from "@baton/client";
import {
  BatonError,
  EventName,
  isEvent,
  isTerminal,
  stopGracePeriodOf,
  type ClaimedRun,
  type State,
} from "@baton/core";
import { claimLoop, defaultClient, LogLevel, shipperFor } from "@baton/sdk";
import type { JobAdapter, JobContext, JobExit, JobHandle, RecoveredJob } from "./adapters.js";
import { dockerAdapter } from "./docker-adapter.js";
import { ProcessAdapter } from "./process-adapter.js";

/** The job adapters a worker knows, by work-pool type: each worker makes its own. */
const ADAPTERS = new Map<string, (options: WorkerOptions) => JobAdapter>([
  ["process", (options) => new ProcessAdapter(options.warmRunners ?? 1)],
  [dockerAdapter.type, () => dockerAdapter],
]);

export function registerJobAdapter(adapter: JobAdapter): void {
  ADAPTERS.set(adapter.type, () => adapter);
}

export interface WorkerOptions {
  pool: string;
  /** Only these queues of the pool. @default all of them */
  queues?: string[];
  /** @default worker-<host>-<pid> */
  name?: string;
  /** Runs carried out at once, at most. @default 10 */
  limit?: number;
  /** @default 10 */
  heartbeatIntervalSeconds?: number;
  /**
   * Process pools: runner processes kept started ahead, so a claimed run starts without waiting for
   * Node to start. @default 1 (0: each run's process starts when the run is claimed)
   */
  warmRunners?: number;
  client?: BatonClient;
  /** Stops the worker: it takes no new runs and waits for those in flight. */
  signal?: AbortSignal;
  /** Where the worker's own lines go. @default stderr */
  log?: (line: string) => void;
}

interface InFlight {
  run: ClaimedRun;
  job: JobHandle;
  cancelling: boolean;
}

/** Proposals of a job's run carry the attempt it was started for, so a stale job changes nothing. */
const attemptOf = (run: { attempt: number }) => ({ attempt: run.attempt });

/**
 * Serves a work pool: claims its runs (a long poll, so a new run starts at once), starts each as a job
 * (a child process for the process type), turns the job's output into the run's logs, stops the job
 * when the run is cancelled, and settles a run whose job ended without reporting.
 */
export class Worker {
  readonly name: string;
  readonly #options: WorkerOptions;
  readonly #client: BatonClient;
  readonly #inFlight = new Map<string, InFlight>();
  /**
   * Runs claimed whose flow has not said RUNNING yet (a container or process still starting), with
   * the attempt each was claimed for: the worker sends their heartbeats until the server answers that
   * the run has left PENDING (its flow sends its own) or moved on to another attempt.
   */
  readonly #starting = new Map<string, number>();
  /** Runs cancelled while their job was being started (pull steps, a runner's import): stopped once it is. */
  readonly #cancelledWhileStarting = new Set<string>();
  readonly #log: (line: string) => void;

  constructor(options: WorkerOptions) {
    const client = options.client ?? defaultClient();
    if (!client) {
      throw new BatonError("invalid_argument", "a worker needs a Baton server: set BATON_API_URL");
    }
    this.#client = client;
    this.#options = options;
    this.name = options.name ?? `worker-${hostname()}-${process.pid}`;
    this.#log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
  }

  /** Runs until the signal aborts, then waits for the runs in flight. */
  async run(): Promise<void> {
    const { pool } = this.#options;
    const workPool = await this.#client.api.readWorkPool({ params: { name: pool } });
    const adapter = ADAPTERS.get(workPool.type)?.(this.#options);
    if (!adapter) {
      throw new BatonError(
        "invalid_argument",
        `work pool '${pool}' has type '${workPool.type}'; this worker knows ${[...ADAPTERS.keys()].join(", ")}`,
      );
    }
    const stop = new AbortController();
    this.#options.signal?.addEventListener("abort", () => stop.abort(), { once: true });
    if (this.#options.signal?.aborted) stop.abort();

    await adapter.check?.();
    await this.#heartbeat();
    const heartbeats = setInterval(() => {
      void this.#heartbeat().catch((error: unknown) => this.#log(`heartbeat failed: ${String(error)}`));
      void this.#heartbeatStartingRuns();
    }, this.#heartbeatSeconds() * 1000);
    const watching = this.#watchCancellations(stop.signal);
    const queues = this.#options.queues?.length ? ` (queues ${this.#options.queues.join(", ")})` : "";
    this.#log(`Worker '${this.name}' started on ${workPool.type} pool '${pool}'${queues}`);
    // Before the first claim, so that the jobs found are only those of an earlier worker of this name.
    const recovered = await this.#recover(adapter);
    try {
      await claimLoop({
        client: this.#client,
        signal: stop.signal,
        capacity: this.#options.limit ?? 10,
        request: {
          workerName: this.name,
          workPoolName: pool,
          ...(this.#options.queues?.length ? { workQueueNames: this.#options.queues } : {}),
        },
        start: (run) => this.#carryOut(adapter, run),
        onError: (error) => this.#log(`worker: ${BatonError.from(error).message}`),
      });
    } finally {
      await Promise.all(recovered);
      clearInterval(heartbeats);
      await watching;
      adapter.close?.();
    }
    this.#log(`Worker '${this.name}' stopped`);
  }

  #heartbeatSeconds(): number {
    return this.#options.heartbeatIntervalSeconds ?? 10;
  }

  async #heartbeat(): Promise<void> {
    await this.#client.api.heartbeatWorker({
      params: { pool: this.#options.pool },
      body: { name: this.name, heartbeatIntervalSeconds: this.#heartbeatSeconds() },
    });
  }

  /** Heartbeats for the runs whose jobs are still starting; a failed one is tried again at the next beat. */
  async #heartbeatStartingRuns(): Promise<void> {
    await Promise.all(
      [...this.#starting].map(([id, attempt]) =>
        this.#client.api
          .heartbeatFlowRun({ params: { id }, body: { attempt, whileStarting: true } })
          .catch((error: unknown) => {
            const problem = BatonError.from(error);
            // Running, stale or gone: the worker stops speaking for this attempt of the run.
            if (problem.code === "conflict" || problem.code === "not_found")
              this.#stopSpeakingFor(id, attempt);
            else this.#log(`heartbeat of a starting run failed: ${problem.message}`);
          }),
      ),
    );
  }

  /**
   * Forgets one attempt of a starting run. Keyed by run and checked by attempt: an older attempt's job
   * (ending late, or a late answer about it) must not silence the attempt claimed since.
   */
  #stopSpeakingFor(id: string, attempt: number): void {
    if (this.#starting.get(id) === attempt) this.#starting.delete(id);
  }

  /** Ships a run's lines as its logs, under the name "worker" (and prints them when `echo`); the context a job reports through. */
  #jobLogs(flowRunId: string, runName: () => string, attempt?: number, echo = true) {
    const shipper = shipperFor(this.#client);
    const ship = (level: number, message: string) =>
      shipper.push({
        flowRunId,
        taskRunId: null,
        name: "worker",
        level,
        message,
        timestamp: new Date().toISOString(),
      });
    const context: JobContext = {
      workerName: this.name,
      env: this.#jobEnv(flowRunId, attempt),
      onOutput: (stream, line) => {
        if (echo) this.#log(`${runName()} | ${line}`);
        ship(stream === "stdout" ? LogLevel.info : LogLevel.error, line);
      },
    };
    return { shipper, ship, context };
  }

  async #carryOut(adapter: JobAdapter, run: ClaimedRun): Promise<void> {
    const { flowRun } = run;
    const label = `flow run '${flowRun.name}'`;
    // A process pool's streamOutput: false keeps the run's lines out of the worker's own output.
    const echo = run.jobVariables.streamOutput !== false;
    const { shipper, ship, context } = this.#jobLogs(flowRun.id, () => flowRun.name, flowRun.attempt, echo);
    this.#starting.set(flowRun.id, flowRun.attempt);
    try {
      let job: JobHandle;
      try {
        job = await adapter.start(run, context);
      } catch (error) {
        const message = `the worker could not start the job: ${BatonError.from(error).message}`;
        this.#log(`${label}: ${message}`);
        await this.#propose(flowRun, { type: "FAILED", name: "JobError", message });
        return;
      }
      this.#log(`${label} started (${job.id})`);
      ship(LogLevel.info, `worker '${this.name}' started the job (${job.id})`);
      await this.#follow({ run, job, cancelling: false }, shipper);
    } finally {
      this.#stopSpeakingFor(flowRun.id, flowRun.attempt);
      this.#cancelledWhileStarting.delete(flowRun.id);
    }
  }

  /** Waits for a job to end, then settles its run. */
  async #follow(entry: InFlight, shipper: { flush(): Promise<void> }): Promise<void> {
    const { flowRun } = entry.run;
    this.#inFlight.set(flowRun.id, entry);
    if (this.#cancelledWhileStarting.delete(flowRun.id) && !entry.cancelling) {
      entry.cancelling = true;
      this.#stopCancelled(entry);
    }
    try {
      const exit = await entry.job.exited;
      await shipper.flush();
      await this.#settle(entry, exit);
    } finally {
      // Only its own entry: the run may have been claimed again, for a later attempt, meanwhile.
      if (this.#inFlight.get(flowRun.id) === entry) this.#inFlight.delete(flowRun.id);
    }
  }

  /**
   * Jobs a worker of this name left when it stopped (containers outlive their worker): follows those
   * still running as its own and settles those that ended meanwhile. Resolves with their ends.
   */
  async #recover(adapter: JobAdapter): Promise<Promise<void>[]> {
    if (!adapter.recover) return [];
    const names = new Map<string, string>();
    let found;
    try {
      found = await adapter.recover(
        this.name,
        (flowRunId) => this.#jobLogs(flowRunId, () => names.get(flowRunId) ?? flowRunId).context,
      );
    } catch (error) {
      this.#log(
        `worker: cannot look for the jobs of a previous worker '${this.name}': ${BatonError.from(error).message}`,
      );
      return [];
    }
    const follow = async ({
      flowRunId,
      job,
      running,
      jobVariables,
      attempt,
    }: RecoveredJob): Promise<void> => {
      let flowRun;
      try {
        flowRun = await this.#client.api.readFlowRun({ params: { id: flowRunId } });
      } catch (error) {
        const problem = BatonError.from(error);
        if (problem.code !== "not_found") throw problem; // the job is left for the next start
        this.#log(`worker: job ${job.id} belongs to flow run ${flowRunId}, which is gone: stopping it`);
        job.stop(0);
        await job.exited;
        return;
      }
      names.set(flowRunId, flowRun.name);
      // Claimed again since (by another worker, or by this name for a later attempt): not this job's to settle.
      if (flowRun.workerName !== this.name || (attempt !== undefined && flowRun.attempt !== attempt)) {
        this.#log(
          `flow run '${flowRun.name}': found a job of an attempt it has moved on from (${job.id}); ${running ? "stopping" : "removing"} it`,
        );
        job.stop(0);
        await job.exited;
        return;
      }
      const { shipper, ship } = this.#jobLogs(flowRunId, () => flowRun.name);
      const what = running ? "still running: following it again" : "ended while no worker watched it";
      this.#log(`flow run '${flowRun.name}': found its job (${job.id}), ${what}`);
      ship(LogLevel.info, `worker '${this.name}' found the job (${job.id}) ${what}`);
      // The attempt it was started for (containers of older workers carry none: the run's own).
      const started = { ...flowRun, attempt: attempt ?? flowRun.attempt };
      const entry: InFlight = {
        run: { flowRun: started, deployment: null, jobVariables },
        job,
        cancelling: false,
      };
      this.#inFlight.set(flowRunId, entry); // from here on, a cancel stops it
      if (running && flowRun.state?.type === "CANCELLING") {
        entry.cancelling = true;
        this.#stopCancelled(entry);
      }
      await this.#follow(entry, shipper);
    };
    return found.map((job) =>
      follow(job).catch((error: unknown) => this.#log(`worker: ${BatonError.from(error).message}`)),
    );
  }

  #jobEnv(flowRunId: string, attempt: number | undefined): Record<string, string> {
    const { url } = this.#client;
    const apiKey = process.env.BATON_API_KEY;
    return {
      BATON_API_URL: url,
      ...(apiKey ? { BATON_API_KEY: apiKey } : {}),
      BATON_FLOW_RUN_ID: flowRunId,
      ...(attempt !== undefined ? { BATON_FLOW_RUN_ATTEMPT: String(attempt) } : {}),
      // The worker ships the job's output as the run's logs; the logger's own lines are shipped already.
      BATON_LOGS_TO_CONSOLE: "false",
    };
  }

  /** A job that ended without its run reaching a final state crashed (or was cancelled). */
  async #settle(entry: InFlight, exit: JobExit): Promise<void> {
    const { flowRun } = entry.run;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code ?? "unknown"}`;
    this.#log(`flow run '${flowRun.name}' job ${how}`);
    const current = await this.#client.api.readFlowRun({ params: { id: flowRun.id } });
    if (isTerminal(current.state?.type) || current.attempt !== flowRun.attempt) return;
    // Suspended (or resumed since): its process was meant to end, and the run waits or is due again.
    if (current.state?.pause?.reschedule || current.state?.name === "Resuming") return;
    const type = current.state?.type;
    await this.#propose(
      flowRun,
      entry.cancelling || type === "CANCELLING"
        ? { type: "CANCELLED", message: `cancelled; the job ${how}` }
        : type === "SCHEDULED" // it awaited a retry its process was to carry out: someone else will
          ? {
              type: "SCHEDULED",
              name: "Rescheduled",
              message: `the job ${how} while the run awaited its retry`,
            }
          : { type: "CRASHED", message: `the job ${how} before the run reported a final state` },
    );
  }

  async #propose(
    flowRun: { id: string; attempt: number },
    state: Pick<State, "type"> & Partial<State>,
  ): Promise<void> {
    await this.#client.api
      .setFlowRunState({ params: { id: flowRun.id }, body: { state, ...attemptOf(flowRun) } })
      .catch((error: unknown) => this.#log(`cannot record ${state.type}: ${BatonError.from(error).message}`));
  }

  /**
   * A cancelled run's flow stops by itself (it follows its run's events: its signal aborts, its hooks
   * run, its task runs end CANCELLED). Only a job still there after the grace period is told to stop
   * (SIGTERM, or the engine's stop), and forced after the grace period again.
   */
  #stopCancelled(entry: InFlight): void {
    const grace = stopGracePeriodOf(entry.run.jobVariables);
    this.#log(`flow run '${entry.run.flowRun.name}' is being cancelled: its job has ${grace} s to stop`);
    const timer = setTimeout(() => {
      this.#log(`flow run '${entry.run.flowRun.name}': its job is still there, stopping it`);
      entry.job.stop(grace);
    }, grace * 1000);
    void entry.job.exited.then(() => clearTimeout(timer));
  }

  /**
   * Follows state changes on the event stream: a run of this worker that is being cancelled has its
   * job stopped (the flow also stops itself; the job is forced after the grace period).
   */
  async #watchCancellations(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#client
        .events({ names: [EventName.FlowRunStateChanged], signal, resume: true }, (event) => {
          if (!isEvent(event, EventName.FlowRunStateChanged)) return;
          const { type } = event.payload.state;
          if (type !== "CANCELLING" && type !== "CANCELLED") return;
          const id = event.resource.id;
          const entry = this.#inFlight.get(id);
          if (!entry && this.#starting.has(id)) this.#cancelledWhileStarting.add(id);
          if (!entry || entry.cancelling) return;
          entry.cancelling = true;
          this.#stopCancelled(entry);
        })
        .catch((error: unknown) => {
          if (!signal.aborted) this.#log(`event stream lost: ${BatonError.from(error).message}`);
        });
      if (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}
