import type { BatonClient } from "@baton/client";
import type { SetStateResult, State, StateInput, TaskRunRecord } from "@baton/core";
import { Batcher, perClient } from "./batcher.js";
import { LocalOrchestrator, type Orchestrator } from "./orchestrator.js";
import { untilReachable } from "./reachable.js";

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

/**
 * Cached results of this process not sent yet, by cache key: the server does not know them until their
 * batch is recorded, and a task of this process asking for the key meanwhile must find them.
 */
const unsentCache = perClient((_client: BatonClient) => new Map<string, State>());

const stillValid = (state: State | undefined): state is State =>
  state !== undefined && (!state.cacheExpiration || Date.parse(state.cacheExpiration) > Date.now());

/**
 * The valid cached result of a cache key, for a task orchestrated in this process: the rules use it
 * as the server's would (the task takes it instead of running). One read, nothing written.
 */
export async function cachedState(client: BatonClient, cacheKey: string): Promise<State | null> {
  const unsent = unsentCache(client).get(cacheKey);
  if (stillValid(unsent)) return unsent;
  const found = await untilReachable(`the cached result of '${cacheKey}'`, () =>
    client.api.readCachedTaskRunState({ query: { cacheKey } }),
  );
  return found.state;
}

/** The rules applied in this process, every resulting state recorded to the server afterwards. */
export class RecordingOrchestrator implements Orchestrator {
  readonly #local: LocalOrchestrator;

  constructor(
    private readonly client: BatonClient,
    private readonly run: Omit<TaskRunRecord, "states" | "runCount">,
    first: StateInput,
    cached: State | null = null,
  ) {
    this.#local = new LocalOrchestrator("task", run.retries, run.retryDelaySeconds, first, cached);
    recorderFor(client).push({ run, state: this.#local.state!, runCount: 0 });
  }

  async propose(state: StateInput): Promise<SetStateResult> {
    const before = this.#local.state;
    const result = await this.#local.propose(state);
    const after = result.state;
    if (after && after !== before) {
      const recorder = recorderFor(this.client);
      recorder.push({ run: this.run, state: after, runCount: this.#local.runCount });
      const { cacheKey } = this.run;
      if (cacheKey && after.type === "COMPLETED") this.#keepUntilSent(recorder, cacheKey, after);
    }
    return result;
  }

  #keepUntilSent(recorder: Batcher<RecordedState>, cacheKey: string, completed: State): void {
    const unsent = unsentCache(this.client);
    const entry = { ...completed, cacheKey, cacheExpiration: this.run.cacheExpiration ?? null };
    unsent.set(cacheKey, entry);
    void recorder.sent().then(() => {
      if (unsent.get(cacheKey) === entry) unsent.delete(cacheKey);
    });
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
