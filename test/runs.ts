import type { BatonClient } from "@baton/client";
import {
  EventName,
  isEvent,
  type ActionRun,
  type BatonError,
  type BatonEvent,
  type FlowRun,
  type State,
} from "@baton/core";

/**
 * Resolves with the run once its state matches, following the event stream (and reading the run
 * once the stream is open, so a state reached before is seen too).
 */
export async function waitForRunState(
  client: BatonClient,
  flowRunId: string,
  matches: (state: State) => boolean,
): Promise<FlowRun> {
  const stop = new AbortController();
  let found: FlowRun | undefined;
  let failure: Error | undefined;
  // When an event matched, the run is taken as read next, even if it has moved on since.
  const check = async (matched = false) => {
    const run = await client.api.readFlowRun({ params: { id: flowRunId } });
    if (matched || (run.state && matches(run.state))) {
      found ??= run;
      stop.abort();
    }
  };
  await client
    .events(
      {
        flowRunId,
        names: [EventName.FlowRunStateChanged],
        signal: stop.signal,
        onOpen: () => void check().catch((error: unknown) => ((failure = error as Error), stop.abort())),
      },
      (event) => {
        if (isEvent(event, EventName.FlowRunStateChanged) && matches(event.payload.state)) {
          void check(true).catch(() => undefined);
        }
      },
    )
    .catch((error: unknown) => {
      if (!stop.signal.aborted) throw error;
    });
  if (failure) throw failure;
  if (!found) throw new Error(`the event stream ended before flow run ${flowRunId} reached the state`);
  return found;
}

export const isType =
  (...types: State["type"][]) =>
  (state: State): boolean =>
    types.includes(state.type);

/** Resolves once the run has a log line containing `text` (already written, or arriving on the stream). */
export async function waitForLog(client: BatonClient, flowRunId: string, text: string): Promise<void> {
  const stop = new AbortController();
  const check = async () => {
    const logs = await client.api.listLogs({ query: { flowRunId, limit: 1000 } });
    if (logs.items.some((log) => log.message.includes(text))) stop.abort();
  };
  await client
    .events(
      { flowRunId, names: [EventName.Log], signal: stop.signal, onOpen: () => void check() },
      (event) => {
        if (isEvent(event, EventName.Log) && event.payload.logs.some((log) => log.message.includes(text))) {
          stop.abort();
        }
      },
    )
    .catch((error: unknown) => {
      if (!stop.signal.aborted) throw error;
    });
  if (!stop.signal.aborted) throw new Error(`the event stream ended before the log line '${text}'`);
}

/** Resolves with the first event (of these names, on the live stream) that `matches`, which may read the API. */
export async function waitForEvent(
  client: BatonClient,
  names: string[],
  matches: (event: BatonEvent) => boolean | Promise<boolean>,
  /** Called once the stream is open: start what should cause the event then. */
  onOpen?: () => void,
): Promise<BatonEvent> {
  const stop = new AbortController();
  let found: BatonEvent | undefined;
  await client
    .events({ names, signal: stop.signal, ...(onOpen ? { onOpen } : {}) }, (event) => {
      void Promise.resolve(matches(event)).then((yes) => {
        if (yes && !found) {
          found = event;
          stop.abort();
        }
      });
    })
    .catch((error: unknown) => {
      if (!stop.signal.aborted) throw error;
    });
  if (!found) throw new Error(`the event stream ended before a matching ${names.join("/")} event`);
  return found;
}

/** When each finished run held its limits: from its PENDING state to its end, by the server's clock. */
export async function limitSpans(client: BatonClient, runs: FlowRun[]): Promise<[number, number][]> {
  return Promise.all(
    runs.map(async (run) => {
      const states = await client.api.listFlowRunStates({ params: { id: run.id } });
      const pending = states.find((state) => state.type === "PENDING");
      if (!pending || !run.endTime) throw new Error(`flow run ${run.id} has not been PENDING and ended`);
      return [Date.parse(pending.timestamp), Date.parse(run.endTime)] as [number, number];
    }),
  );
}

/** The most spans open at one instant; an end and a start at the same millisecond count the end first. */
export function mostAtOnce(spans: [number, number][]): number {
  const edges = spans.flatMap(([start, end]) => [[start, 1] as const, [end, -1] as const]);
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let most = 0;
  for (const [, change] of edges) most = Math.max(most, (open += change));
  return most;
}

/** A run's state history as one line ("Pending; Running; Crashed: why; …"), for assertion messages. */
export async function historyLine(client: BatonClient, flowRunId: string): Promise<string> {
  const states = await client.api.listFlowRunStates({ params: { id: flowRunId } });
  return states.map((state) => (state.message ? `${state.name}: ${state.message}` : state.name)).join("; ");
}

/** What `promise` rejects with; a test fails when it resolves instead. */
export async function failure<E extends Error = BatonError>(promise: Promise<unknown>): Promise<E> {
  try {
    await promise;
  } catch (error) {
    return error as E;
  }
  throw new Error("expected a failure");
}

/**
 * The action runs of an automation, oldest first, once `done` holds: read again whenever an
 * automation fires or an action run moves (the stream is open before the first read).
 */
export async function actionRunsOf(
  client: BatonClient,
  automationId: string,
  done: (runs: ActionRun[]) => boolean,
): Promise<ActionRun[]> {
  const controller = new AbortController();
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  let moved = () => {};
  const stream = client.events(
    { names: ["automation.triggered", "action-run.updated"], signal: controller.signal, onOpen: opened },
    () => moved(),
  );
  await Promise.race([open, stream]);
  try {
    for (;;) {
      // Listen before reading, so that nothing that happens in between is missed.
      const next = new Promise<void>((resolve) => (moved = resolve));
      const runs = (await client.api.listActionRuns({ query: { automationId, limit: 1000 } })).items;
      if (done(runs)) return runs.reverse();
      await next;
    }
  } finally {
    controller.abort();
    await stream;
  }
}

/** For actionRunsOf: at least `count` action runs, none of them still pending. */
export const finishedActionRuns = (count: number) => (runs: ActionRun[]) =>
  runs.length >= count && runs.every((run) => run.status !== "PENDING");
