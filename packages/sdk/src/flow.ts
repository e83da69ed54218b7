import { setMaxListeners } from "node:events";
import type { BatonClient } from "@baton/client";
import { dirname, isAbsolute, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { BatonError, newId, type Deployment, type FlowRun, type JsonObject, type State } from "@baton/core";
import {
  deploy,
  toDeployment,
  type DeploymentOptions,
  type DeploymentSpec,
  type DeployOptions,
} from "./deployments.js";
import { serve, type ServeOptions } from "./serve.js";
import { refuseRunsWhileImporting } from "./entrypoint.js";
import { currentRun, settleChildren, taskCallKey, type RunContext } from "./context.js";
import { drive, type StateHooks } from "./driver.js";
import { CancelledError, SuspendedError, TimeoutError } from "./engine.js";
import { RunLogger, shipperFor } from "./logger.js";
import { runStopsOf } from "./follow-run.js";
import { sendHeartbeats } from "./heartbeats.js";
import { untilReachable } from "./reachable.js";
export type { StateHook, StateHooks } from "./driver.js";
import { recorderFor } from "./recorder.js";
import {
  LocalOrchestrator,
  RemoteOrchestrator,
  StartedOrchestrator,
  type Orchestrator,
} from "./orchestrator.js";
import {
  ParametersCodec,
  type ParametersInput,
  type ParametersOf,
  type ParametersSchema,
} from "./parameters.js";
import type { ResultOptions } from "./results.js";
import { captureConsoleOfRuns } from "./prints.js";
import type { PauseCounter } from "./pause.js";
import { defaultClient } from "./settings.js";

export interface FlowOptions<S extends ParametersSchema | undefined> extends ResultOptions, StateHooks {
  /** The flow's name, shared by its runs and deployments. */
  name: string;
  description?: string;
  version?: string;
  /** A zod object, or a map of parameter name to zod schema or parameter codec. */
  parameters?: S;
  /** @default 0 */
  retries?: number;
  /** Seconds before each retry; a list gives one delay per retry, the last repeating. @default 0 */
  retryDelaySeconds?: number | number[];
  timeoutSeconds?: number;
  tags?: string[];
  /** Send console.log and friends inside the run (and its tasks) to the run's logs. @default false */
  logPrints?: boolean;
}

export interface RunOptions {
  /** Aborting it cancels the run (it ends CANCELLED). */
  signal?: AbortSignal;
  /** Overrides the flow's timeout for this run. */
  timeoutSeconds?: number;
  /** Added to the flow's tags. */
  tags?: string[];
  labels?: Record<string, string>;
}

export interface RunFromJsonOptions {
  flowRunId?: string;
  flowRun?: FlowRun;
  /** The attempt this process was started for (a worker's job): used instead of the run's current one. */
  attempt?: number;
  /** The claim that handed `flowRun` over started it (serve): it begins without proposing RUNNING. */
  startedByClaim?: boolean;
  /** The process's stream of stops as marked when the run was claimed (`runStopsOf(client).mark()`). */
  stopsMark?: number;
  /** Aborting it cancels the run, as RunOptions' signal does. */
  signal?: AbortSignal;
}

export interface FlowRunContext extends RunContext {
  parameters: JsonObject;
  /** The run's pauses so far, for their default keys. */
  pauses: PauseCounter;
}

/** Parameters may be left out when none is required. */
type CallArguments<P> = Record<string, never> extends P ? [parameters?: P] : [parameters: P];

export interface Flow<S extends ParametersSchema | undefined, R> {
  (...args: CallArguments<ParametersInput<S>>): Promise<R>;
  readonly flowName: string;
  readonly options: FlowOptions<S>;
  readonly codec: ParametersCodec<S>;
  /** JSON Schema of the parameters, as deployments store it. */
  parameterSchema(): JsonObject;
  /**
   * Runs the flow from JSON parameters (API, CLI, dashboard), decoding them into their types first.
   * With a flowRunId, carries out that existing run (a deployment run); its stored parameters are used
   * when `parameters` is undefined, and parameters that do not decode fail the run with the reason.
   * `flowRun`: the run as its claim returned it, which saves reading it again.
   */
  runFromJson(parameters: unknown, options?: RunFromJsonOptions): Promise<R>;
  /**
   * One run with options of its own: a signal whose abort cancels the run, a timeout, tags and
   * labels (a gRPC call's cancellation, deadline and metadata, say).
   */
  runWith(parameters: ParametersInput<S>, options: RunOptions): Promise<R>;
  /** The module file that declared the flow, from which deploy() derives the entrypoint. */
  readonly definedIn: string | undefined;
  /** Describes a deployment of this flow for serve(...) to serve with others in one process. */
  toDeployment(options: DeploymentOptions): DeploymentSpec;
  /** Registers a deployment and runs its runs in this process until stopped (SIGINT, SIGTERM or the signal). */
  serve(options: DeploymentOptions & ServeOptions): Promise<void>;
  /** Registers a deployment whose runs the workers of a work pool carry out. */
  deploy(options: DeployOptions): Promise<Deployment>;
}

/**
 * Follows the run's stops while it runs: when someone cancels it, its signal aborts, so its tasks and
 * subflows stop and it ends CANCELLED; when it is suspended (from outside, or by suspend()), it stops
 * proposing anything and its process ends. `open` starts following (once), on the process's one
 * stream of stops (runStopsOf); `close` stops it, or keeps it from opening.
 */
function watchForStop(
  client: BatonClient,
  flowRunId: string,
  controller: AbortController,
  what: string,
  since: number | undefined,
): { open: () => void; close: () => void } {
  const react = (state: State | null) => {
    if (state?.type === "CANCELLING" || state?.type === "CANCELLED")
      controller.abort(new CancelledError(what));
    else if (state?.type === "PAUSED" && state.pause?.reschedule) {
      controller.abort(new SuspendedError(what, state.pause.key));
    }
  };
  let unwatch: (() => void) | undefined;
  let closed = false;
  return {
    open: () => {
      if (unwatch || closed) return;
      unwatch = runStopsOf(client).watch(flowRunId, react, since);
    },
    close: () => {
      closed = true;
      unwatch?.();
    },
  };
}

const delays = (value: number | number[] | undefined): number[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/** Declares a flow: an async function whose every call is a run, tracked when BATON_API_URL is set. */
export function flow<S extends ParametersSchema | undefined = undefined, R = unknown>(
  options: FlowOptions<S>,
  fn: (parameters: ParametersOf<S>, context: FlowRunContext) => Promise<R>,
): Flow<S, R> {
  const codec = new ParametersCodec(options.parameters as S, `flow '${options.name}'`);
  const definedIn = callerFile();

  if (options.logPrints) captureConsoleOfRuns();

  /** Reads a run made elsewhere (a deployment run) and decodes its JSON parameters; bad ones fail the run. */
  async function takeExistingRun(client: BatonClient, flowRunId: string, json: unknown, known?: FlowRun) {
    // A process started while the server restarts waits for it rather than failing the run.
    const flowRun =
      known?.id === flowRunId
        ? known
        : await untilReachable(`a read of flow run ${flowRunId}`, () =>
            client.api.readFlowRun({ params: { id: flowRunId } }),
          );
    let typed: ParametersOf<S>;
    try {
      typed = codec.decode(json ?? flowRun.parameters);
    } catch (error) {
      const message = (error as Error).message;
      await untilReachable(`the failure of flow run ${flowRunId}`, () =>
        client.api.setFlowRunState({
          params: { id: flowRunId },
          body: { state: { type: "FAILED", name: "InvalidParameters", message } },
        }),
      );
      throw error;
    }
    const timeoutSeconds = options.timeoutSeconds ?? null;
    const retryDelaySeconds = delays(options.retryDelaySeconds);
    if (
      flowRun.retries !== (options.retries ?? 0) ||
      flowRun.timeoutSeconds !== timeoutSeconds ||
      flowRun.retryDelaySeconds.join() !== retryDelaySeconds.join()
    ) {
      // The server retries and times the run out by these, so it must know them before it runs.
      await untilReachable(`the retries of flow run ${flowRunId}`, () =>
        client.api.updateFlowRun({
          params: { id: flowRunId },
          body: { retries: options.retries ?? 0, retryDelaySeconds, timeoutSeconds },
        }),
      );
    }
    return { flowRun, typed };
  }

  async function run(
    input:
      | { typed: ParametersOf<S> }
      | {
          json: unknown;
          flowRunId: string;
          flowRun?: FlowRun;
          attempt?: number;
          startedByClaim?: boolean;
          stopsMark?: number;
        },
    call: RunOptions = {},
  ): Promise<R> {
    const timeoutSeconds = call.timeoutSeconds ?? options.timeoutSeconds;
    const tags = [...new Set([...(options.tags ?? []), ...(call.tags ?? [])])];
    const parent = currentRun();
    const client = parent ? parent.client : defaultClient();
    const retries = options.retries ?? 0;
    const retryDelaySeconds = delays(options.retryDelaySeconds);
    let flowRun: Pick<FlowRun, "id" | "name" | "attempt"> | null = null;
    let typed: ParametersOf<S>;
    let completedTasks: Map<string, State> | undefined;
    if ("flowRunId" in input) {
      if (!client) throw new BatonError("invalid_argument", "set BATON_API_URL to run an existing flow run");
      const existing = await takeExistingRun(client, input.flowRunId, input.json, input.flowRun);
      ({ flowRun, typed } = existing);
      if (input.attempt !== undefined) flowRun = { ...flowRun, attempt: input.attempt };
      // Resumed after suspend(): the flow starts again, and its tasks that completed are not run again.
      if (existing.flowRun.resumeCount > 0) completedTasks = await completedTaskStates(client, flowRun.id);
    } else {
      typed = input.typed;
      if (client) {
        flowRun = await client.api.createFlowRun({
          body: {
            id: newId(),
            flowName: options.name,
            parameters: codec.encode(typed),
            state: { type: "PENDING" },
            retries,
            retryDelaySeconds,
            ...(timeoutSeconds ? { timeoutSeconds } : {}),
            ...(tags.length > 0 ? { tags } : {}),
            ...(call.labels ? { labels: call.labels } : {}),
            ...(parent?.flowRunId ? { parentFlowRunId: parent.flowRunId } : {}),
            ...(parent?.taskRunId ? { parentTaskRunId: parent.taskRunId } : {}),
          },
        });
      }
    }
    const parameters = codec.encode(typed);
    const label = flowRun ? `flow run '${flowRun.name}'` : `flow '${options.name}'`;
    const shipper = client ? shipperFor(client) : null;
    const logger = new RunLogger(label, shipper, { flowRunId: flowRun?.id ?? null, taskRunId: null });
    const controller = new AbortController();
    // Every running task of the flow listens to its signal: no listener limit applies.
    setMaxListeners(0, controller.signal);
    const parentSignal = parent?.signal;
    parentSignal?.addEventListener("abort", () => controller.abort(parentSignal.reason), { once: true });
    const callSignal = call.signal;
    // A caller may say why (a TimeoutError for a deadline); anything else cancels the run.
    const cancelByCaller = () =>
      controller.abort(
        callSignal?.reason instanceof TimeoutError || callSignal?.reason instanceof CancelledError
          ? callSignal.reason
          : new CancelledError(label, "its caller went away"),
      );
    if (callSignal?.aborted) cancelByCaller();
    callSignal?.addEventListener("abort", cancelByCaller, { once: true });
    const context: FlowRunContext = {
      client,
      flowRunId: flowRun?.id ?? null,
      flowRunName: flowRun?.name ?? options.name,
      ...(flowRun ? { attempt: flowRun.attempt } : {}),
      taskRunId: null,
      logger,
      signal: controller.signal,
      taskCalls: new Map(),
      children: new Set(),
      logPrints: options.logPrints ?? parent?.logPrints ?? false,
      ...(completedTasks ? { completedTasks } : {}),
      parameters,
      pauses: { count: 0 },
    };
    const stopsMark = "stopsMark" in input ? input.stopsMark : undefined;
    const watch =
      client && flowRun ? watchForStop(client, flowRun.id, controller, label, stopsMark) : undefined;
    const stopHeartbeats =
      client && flowRun
        ? sendHeartbeats(
            () =>
              client.api.heartbeatFlowRun({
                params: { id: flowRun.id },
                body: { attempt: flowRun.attempt },
              }),
            controller,
            label,
          )
        : () => undefined;
    const remote =
      client && flowRun ? new RemoteOrchestrator(client, "flow", flowRun.id, flowRun.attempt) : null;
    const proposer = !remote
      ? new LocalOrchestrator("flow", retries, retryDelaySeconds, { type: "PENDING" })
      : "startedByClaim" in input && input.startedByClaim
        ? new StartedOrchestrator(remote, input.flowRun?.state ?? null)
        : remote;
    // The run's event stream opens once its start has been answered: opened (a request, then a read of
    // the run) while RUNNING was on its way, it took the server's time from it, 3–10 ms on PostgreSQL.
    const orchestrator: Orchestrator = watch
      ? { propose: (state) => proposer.propose(state).finally(watch.open) }
      : proposer;
    try {
      const outcome = await drive({
        name: options.name,
        runId: flowRun?.id ?? null,
        what: label,
        orchestrator,
        context,
        timeoutSeconds,
        signal: controller.signal,
        body: (signal) => fn(typed, { ...context, signal }),
        results: options,
        hooks: options,
        logger,
        beforeFinalState: async () => {
          await settleChildren(context);
          if (client) await Promise.all([recorderFor(client).flush(), shipperFor(client).flush()]);
        },
      });
      if (outcome.ok) return outcome.value;
      await shipper?.flush();
      throw outcome.error;
    } finally {
      watch?.close();
      stopHeartbeats();
      callSignal?.removeEventListener("abort", cancelByCaller);
    }
  }

  /** A call from code: a stray one, made while the module is imported as an entrypoint, is refused. */
  const fromCode = (parameters: ParametersInput<S> | undefined) => {
    refuseRunsWhileImporting(codec.what);
    return codec.fromCode(parameters);
  };
  const callable = (async (parameters?: ParametersInput<S>) =>
    run({ typed: fromCode(parameters) })) as unknown as Flow<S, R>;
  Object.defineProperties(callable, {
    flowName: { value: options.name },
    options: { value: options },
    codec: { value: codec },
    definedIn: { value: definedIn },
    parameterSchema: { value: () => codec.jsonSchema() },
    runFromJson: {
      value: async (json: unknown, runOptions: RunFromJsonOptions = {}) => {
        const call = runOptions.signal ? { signal: runOptions.signal } : {};
        return runOptions.flowRunId
          ? run(
              {
                json,
                flowRunId: runOptions.flowRunId,
                ...(runOptions.flowRun ? { flowRun: runOptions.flowRun } : {}),
                ...(runOptions.attempt !== undefined ? { attempt: runOptions.attempt } : {}),
                ...(runOptions.startedByClaim ? { startedByClaim: true } : {}),
                ...(runOptions.stopsMark !== undefined ? { stopsMark: runOptions.stopsMark } : {}),
              },
              call,
            )
          : run({ typed: codec.decode(json) }, call);
      },
    },
    runWith: {
      value: async (parameters: ParametersInput<S>, runOptions: RunOptions) =>
        run({ typed: fromCode(parameters) }, runOptions),
    },
    toDeployment: { value: (deployment: DeploymentOptions) => toDeployment(callable, deployment) },
    serve: {
      value: (deployment: DeploymentOptions & ServeOptions) =>
        serve([toDeployment(callable, deployment)], deployment),
    },
    deploy: { value: (deployment: DeployOptions) => deploy(callable, deployment) },
  });
  return callable;
}

/** A flow run's completed task runs by task key and call number: what a resumed run reuses. */
async function completedTaskStates(client: BatonClient, flowRunId: string): Promise<Map<string, State>> {
  const states = new Map<string, State>();
  for (let offset: number | null = 0; offset !== null;) {
    const page = await untilReachable(`the task runs of flow run ${flowRunId}`, () =>
      client.api.listTaskRuns({ query: { flowRunId, stateType: ["COMPLETED"], limit: 1000, offset } }),
    );
    for (const run of page.items)
      if (run.state) states.set(taskCallKey(run.taskKey, run.dynamicKey), run.state);
    offset = page.nextOffset;
  }
  return states;
}

/** The SDK's own code, in src or dist (a source map may name either in a stack trace). */
const sdkRoot = dirname(dirname(fileURLToPath(import.meta.url)));
const sdkCode = [join(sdkRoot, "src") + sep, join(sdkRoot, "dist") + sep];

/**
 * The file that called flow(): the module a worker imports to find the flow again. Read from V8's call
 * sites, not from a formatted stack: formatting one maps every frame through its source map when they
 * are enabled (tsx enables them), which cost a runner 10–15 ms per flow defined; and the module to
 * import is the file that ran, not the source it was compiled from.
 */
function callerFile(): string | undefined {
  // Put back as it was (Node's or a tool's), never called here.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const original = Error.prepareStackTrace;
  let sites: NodeJS.CallSite[] = [];
  Error.prepareStackTrace = (_, callSites) => callSites;
  try {
    const holder: { stack?: NodeJS.CallSite[] } = {};
    Error.captureStackTrace(holder, callerFile);
    sites = holder.stack ?? [];
  } finally {
    Error.prepareStackTrace = original;
  }
  for (const site of sites) {
    const name = site.getFileName();
    if (!name || name.startsWith("node:")) continue;
    const file = name.startsWith("file://") ? fileURLToPath(name) : name;
    if (isAbsolute(file) && !sdkCode.some((folder) => file.startsWith(folder))) return file;
  }
  return undefined;
}
