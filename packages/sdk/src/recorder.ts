import type { BatonClient } from "@baton/client";
import type { SetStateResult, State, StateInput, TaskRunRecord } from "@baton/core";
import { LocalOrchestrator, type Orchestrator } from "./orchestrator.js";

/**
 * Records task runs that were orchestrated in this process, in batches: a flush is scheduled when
 * the first change of a batch arrives, so a burst of tasks costs one request, and `flush()` is
 * awaited before the flow run reports its final state.
 */
export class TaskRunRecorder {
  #pending = new Map<string, TaskRunRecord>();
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: BatonClient,
    private readonly intervalMs = 20,
    private readonly maxBatch = 2000,
  ) {}

  record(run: Omit<TaskRunRecord, "states" | "runCount">, state: State, runCount: number): void {
    let entry = this.#pending.get(run.id);
    if (!entry) this.#pending.set(run.id, (entry = { ...run, states: [], runCount }));
    entry.states.push(state);
    entry.runCount = runCount;
    if (this.#pending.size >= this.maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = [...this.#pending.values()];
    this.#pending = new Map();
    this.#inFlight = this.#inFlight.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.client.api.recordTaskRuns({ body: batch });
      } catch (error) {
        process.stderr.write(
          `baton: could not record ${batch.length} task run(s): ${(error as Error).message}\n`,
        );
      }
    });
    return this.#inFlight;
  }
}

const recorders = new WeakMap<BatonClient, TaskRunRecorder>();
export function recorderFor(client: BatonClient): TaskRunRecorder {
  let recorder = recorders.get(client);
  if (!recorder) recorders.set(client, (recorder = new TaskRunRecorder(client)));
  return recorder;
}

/** The rules applied in this process, every resulting state recorded to the server afterwards. */
export class RecordingOrchestrator implements Orchestrator {
  readonly #local: LocalOrchestrator;

  constructor(
    private readonly recorder: TaskRunRecorder,
    private readonly run: Omit<TaskRunRecord, "states" | "runCount">,
    first: StateInput,
  ) {
    this.#local = new LocalOrchestrator("task", run.retries, run.retryDelaySeconds, first);
    this.recorder.record(run, this.#local.state!, 0);
  }

  async propose(state: StateInput): Promise<SetStateResult> {
    const before = this.#local.state;
    const result = await this.#local.propose(state);
    if (result.state && result.state !== before)
      this.recorder.record(this.run, result.state, this.#local.runCount);
    return result;
  }
}

const LIMITS_TTL_MS = 2000;
const limitedTags = new WeakMap<BatonClient, { at: number; tags: Promise<Set<string>> }>();

/** Whether any of these tags has a concurrency limit (then the server must decide when the task runs). */
export async function hasLimitedTag(
  client: BatonClient,
  tags: readonly string[] | undefined,
): Promise<boolean> {
  if (!tags?.length) return false;
  let cached = limitedTags.get(client);
  if (!cached || Date.now() - cached.at > LIMITS_TTL_MS) {
    const tagsPromise = client.api
      .listConcurrencyLimits({ query: { limit: 1000 } })
      .then((page) => new Set(page.items.map((limit) => limit.tag)));
    limitedTags.set(client, (cached = { at: Date.now(), tags: tagsPromise }));
  }
  const limited = await cached.tags;
  return tags.some((tag) => limited.has(tag));
}
