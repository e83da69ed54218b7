import type { BatonClient } from "@baton/client";
import { BatonError, type FlowRunInput, type Pause, type State } from "@baton/core";
import { currentRun, type RunContext } from "./context.js";
import { followFlowRun } from "./follow-run.js";
import { SuspendedError } from "./engine.js";
import { z } from "zod";
import {
  ParametersCodec,
  type ParameterCodec,
  type ParametersOf,
  type ParametersSchema,
} from "./parameters.js";
import { untilReachable } from "./reachable.js";

/** What a pause waits for: fields as a flow's parameters are declared, or one codec for the whole input. */
export type PauseInputSpec = ParametersSchema | ParameterCodec;
/** The typed input a pause returns. */
export type PauseInputOf<S> = S extends ParameterCodec<infer T> ? T : ParametersOf<S>;

export interface PauseOptions<S extends PauseInputSpec | undefined> {
  /**
   * The input to wait for: a zod object, or a map of field name to zod schema or codec, as a flow's
   * parameters; or one codec for the whole input, such as a protobuf message's from @baton/grpc
   * (`input: message(ApprovalSchema)`). The dashboard shows a form made from it; `baton flow-run
   * resume ID --input field=json` answers from the CLI. Left out: a go-ahead only.
   */
  input?: S;
  /** How long to wait before the run fails. @default 3600 */
  timeoutSeconds?: number;
  /** What the person is asked, shown beside the form. */
  description?: string;
  /** Names this pause in the run; by default `pause-1`, `pause-2`… in the order the flow pauses. */
  key?: string;
}

/** A flow run's pauses so far, counted for their default keys (the same each time the flow runs). */
export interface PauseCounter {
  count: number;
}

/**
 * Pauses the flow run until a person (or an automation) resumes it, and returns the input given,
 * decoded into its type. The run is PAUSED meanwhile and its process waits, holding its place in its
 * work queue's and deployment's limits. The run fails if nobody resumes it within the timeout.
 */
export function pause<S extends PauseInputSpec | undefined = undefined>(
  options: PauseOptions<S> = {},
): Promise<PauseInputOf<S>> {
  return waitForInput(options, false);
}

/**
 * Suspends the flow run until it is resumed: as pause(), but the run's process ends (giving back its
 * worker's and its limits' slots) and the resumed run starts again from its deployment. There the
 * flow runs from the start, its completed task calls not run again but answered with their recorded
 * results (JSON, or kept by a serializer), and this call returns the input at once.
 * Only a deployment's runs can be suspended: nothing else would start them again.
 */
export function suspend<S extends PauseInputSpec | undefined = undefined>(
  options: PauseOptions<S> = {},
): Promise<PauseInputOf<S>> {
  return waitForInput(options, true);
}

interface PausingRun {
  client: BatonClient;
  flowRunId: string;
  context: RunContext & { pauses: PauseCounter };
}

function pausingRun(what: string): PausingRun {
  const context = currentRun();
  if (!context || !("pauses" in context) || context.taskRunId !== null) {
    throw new BatonError(
      "invalid_argument",
      `${what}() was called ${context ? "in a task" : "outside a flow run"}: call it in a flow's own code`,
    );
  }
  if (!context.client || !context.flowRunId) {
    throw new BatonError("invalid_argument", `${what}() needs a tracked flow run: set BATON_API_URL`);
  }
  return {
    client: context.client,
    flowRunId: context.flowRunId,
    context: context as PausingRun["context"],
  };
}

/** Whether a pause's input is one codec (a protobuf message's, say) rather than fields. */
const isCodec = (spec: PauseInputSpec | undefined): spec is ParameterCodec =>
  !(spec instanceof z.ZodType) &&
  typeof (spec as Partial<ParameterCodec> | undefined)?.decode === "function" &&
  typeof (spec as Partial<ParameterCodec> | undefined)?.jsonSchema === "function";

/** The input's JSON Schema and how its JSON becomes the typed value, for fields or for one codec. */
function inputCodec(spec: PauseInputSpec | undefined, what: string) {
  if (isCodec(spec)) {
    return { jsonSchema: () => spec.jsonSchema(), decode: (json: unknown) => spec.decode(json, "input") };
  }
  const codec = new ParametersCodec(spec, what);
  return { jsonSchema: () => codec.jsonSchema(), decode: (json: unknown) => codec.decode(json) };
}

async function waitForInput<S extends PauseInputSpec | undefined>(
  options: PauseOptions<S>,
  reschedule: boolean,
): Promise<PauseInputOf<S>> {
  const what = reschedule ? "suspend" : "pause";
  const timeoutSeconds = options.timeoutSeconds ?? 3600;
  const timeout = new Date(Date.now() + timeoutSeconds * 1000);
  if (!(timeoutSeconds > 0) || Number.isNaN(timeout.getTime())) {
    throw new BatonError(
      "invalid_argument",
      `${what}()'s timeoutSeconds is ${timeoutSeconds}: give a positive, finite number of seconds`,
    );
  }
  const { client, flowRunId, context } = pausingRun(what);
  context.pauses.count += 1;
  const key = options.key ?? `pause-${context.pauses.count}`;
  const codec = inputCodec(options.input, `the input of pause '${key}'`);
  const decode = (input: FlowRunInput) => codec.decode(input.value ?? {}) as PauseInputOf<S>;

  // Resumed already: a suspended run started again, or this pause's process started again.
  const given = await readInput(client, flowRunId, key);
  if (given) return decode(given);

  const details: Pause = {
    key,
    timeout: timeout.toISOString(),
    reschedule,
    inputSchema: options.input ? codec.jsonSchema() : null,
    description: options.description ?? null,
  };
  const verdict = await untilReachable(`the pause of flow run ${flowRunId}`, () =>
    client.api.setFlowRunState({
      params: { id: flowRunId },
      body: {
        state: { type: "PAUSED", name: reschedule ? "Suspended" : "Paused", pause: details },
        ...(context.attempt !== undefined ? { attempt: context.attempt } : {}),
      },
    }),
  );
  if (verdict.status !== "ACCEPT") {
    throw new BatonError("aborted", `flow run ${flowRunId} cannot ${what}: ${verdict.reason}`);
  }
  context.logger.info(
    `${reschedule ? "suspended" : "paused"} (${key}) until resumed, at most ${timeoutSeconds}s`,
  );
  if (reschedule) throw new SuspendedError(`flow run '${context.flowRunName}'`, key);
  const state = await awaitResume(client, flowRunId, context.signal, verdict.state!.timestamp);
  if (state.type !== "RUNNING") {
    throw new BatonError(
      "aborted",
      `flow run ${flowRunId} was not resumed: it is ${state.name}${state.message ? `: ${state.message}` : ""}`,
    );
  }
  const input = await readInput(client, flowRunId, key);
  return decode(input ?? { flowRunId, key, value: null, created: state.timestamp });
}

async function readInput(client: BatonClient, flowRunId: string, key: string): Promise<FlowRunInput | null> {
  try {
    return await untilReachable(`the input of flow run ${flowRunId}`, () =>
      client.api.readFlowRunInput({ params: { id: flowRunId, key } }),
    );
  } catch (error) {
    if (error instanceof BatonError && error.code === "not_found") return null;
    throw error;
  }
}

/**
 * The run's state once it leaves the pause it entered at `pausedAt` (RUNNING when resumed; FAILED
 * when the pause timed out): a state from before (an event replayed after a reconnection) is not
 * taken for its end. Cancelling the run aborts `signal`, which ends the wait.
 */
function awaitResume(
  client: BatonClient,
  flowRunId: string,
  signal: AbortSignal,
  pausedAt: string,
): Promise<State> {
  const stop = new AbortController();
  return new Promise<State>((resolve, reject) => {
    const settle = (state: State | null) =>
      state && state.type !== "PAUSED" && state.timestamp >= pausedAt && resolve(state);
    const onAbort = () => reject(signal.reason as Error);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    followFlowRun(client, flowRunId, stop.signal, settle).catch((error: unknown) =>
      reject(BatonError.from(error)),
    );
    stop.signal.addEventListener("abort", () => signal.removeEventListener("abort", onAbort), { once: true });
  }).finally(() => stop.abort());
}
