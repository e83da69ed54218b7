import type { BatonClient } from "@baton/client";
import type { SetStateResult, State, StateInput, TaskRunRecord } from "@baton/core";
import { Batcher, perClient } from "./batcher.js";
import { LocalOrchestrator, type Orchestrator } from "./orchestrator.js";

interface RecordedState {
  run: Omit<TaskRunRecord, "states" | "runCount">;
  state: State;
  runCount: number;
}

/** One record per run of a batch, its states in order: a fast task's states usually share a batch. */
function recordsOf(batch: RecordedState[]): TaskRunRecord[] {
  const records = new Map<string, TaskRunRecord>();
  for (const { run, state, runCount } of batch) {
    let record = records.get(run.id);
    if (!record) records.set(run.id, (record = { ...run, states: [], runCount }));
    record.states.push(state);
    record.runCount = runCount;
  }
  return [...records.values()];
}

/** Task runs orchestrated in this process are recorded to the API in batches. */
export const recorderFor = perClient(
  (client: BatonClient) =>
    new Batcher<RecordedState>(
      "task run state(s)",
      (batch) => client.api.recordTaskRuns({ body: recordsOf(batch) }),
      20,
      5000,
    ),
);

/** The rules applied in this process, every resulting state recorded to the server afterwards. */
export class RecordingOrchestrator implements Orchestrator {
  readonly #local: LocalOrchestrator;

  constructor(
    private readonly recorder: Batcher<RecordedState>,
    private readonly run: Omit<TaskRunRecord, "states" | "runCount">,
    first: StateInput,
  ) {
    this.#local = new LocalOrchestrator("task", run.retries, run.retryDelaySeconds, first);
    this.recorder.push({ run, state: this.#local.state!, runCount: 0 });
  }

  async propose(state: StateInput): Promise<SetStateResult> {
    const before = this.#local.state;
    const result = await this.#local.propose(state);
    if (result.state && result.state !== before) {
      this.recorder.push({ run: this.run, state: result.state, runCount: this.#local.runCount });
    }
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
