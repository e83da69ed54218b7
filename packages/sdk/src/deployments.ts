import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import type { BatonClient } from "@baton/client";
import {
  BatonError,
  EventName,
  isEvent,
  isTerminal,
  parseDeploymentName,
  type CollisionStrategy,
  type Deployment,
  type DeploymentCreate,
  type DeploymentTriggerInput,
  type FlowRun,
  type JsonObject,
  type PullStep,
} from "@baton/core";
import type { Flow } from "./flow.js";
import { requiredClient } from "./settings.js";

/** A schedule as users write it; the time zone defaults to UTC. */
/**
 * When a deployment runs by itself: a cron expression, an interval or an RRULE, in a time zone (UTC
 * by default); its runs get `parameters` over the deployment's; `active: false` adds it paused.
 */
export type Schedule = (
  | { cron: string; timezone?: string }
  | { interval: number; anchorDate?: string; timezone?: string }
  | { rrule: string; timezone?: string }
) & { parameters?: JsonObject; active?: boolean };

export interface DeploymentOptions {
  /** The deployment's name; it is addressed as `<flow name>/<name>`. */
  name: string;
  description?: string;
  version?: string;
  /** Default parameters, merged under those given to each run. */
  parameters?: JsonObject;
  schedules?: Schedule[];
  tags?: string[];
  /** At most this many runs of the deployment at once. */
  concurrencyLimit?: number;
  /** A run due while the limit is full waits (ENQUEUE, the default) or is cancelled (CANCEL_NEW). */
  collisionStrategy?: CollisionStrategy;
  /** Its finished runs are deleted this many days after they end (default: the server's setting). */
  runRetentionDays?: number;
  paused?: boolean;
  /**
   * Events that start a run of the deployment, each with parameters taken from the event by
   * template. Given (an empty list too), they replace the deployment's triggers; left out, those it
   * has stay.
   */
  triggers?: DeploymentTriggerInput[];
  client?: BatonClient;
}

export interface DeployOptions extends DeploymentOptions {
  workPool: string;
  /** @default the pool's 'default' queue */
  workQueue?: string;
  /** Per-deployment values for the pool's job template: env, command, workingDir, … */
  jobVariables?: JsonObject;
  /**
   * `path/to/module.ts:exportName`, relative to `path`. Derived from where the flow was declared
   * and the name it is exported under when left out.
   */
  entrypoint?: string;
  /** The directory workers run the flow from. @default process.cwd() */
  path?: string;
  /**
   * What a worker does before each run to get the code (clone it, install its dependencies), in a
   * fresh directory of the run's own; the entrypoint is then relative to where the steps leave it,
   * and `path` is not used. @default none: workers run the flow from `path`
   */
  pullSteps?: PullStep[];
}

/** A deployment of a flow, ready to be registered. */
export interface DeploymentSpec {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  flow: Flow<any, unknown>;
  body: DeploymentCreate;
  /** Replace the deployment's triggers with these once it is registered; left out, they stay. */
  triggers?: DeploymentTriggerInput[];
  client: BatonClient;
}

const clientOf = (options: { client?: BatonClient }, what: string): BatonClient =>
  options.client ?? requiredClient(what);

/** A schedule as the API takes it. */
const scheduleCreate = ({ parameters, active, ...spec }: Schedule) => ({
  schedule: { ...spec, timezone: spec.timezone ?? "UTC" },
  active: active ?? true,
  parameters: parameters ?? {},
});

export function toDeployment(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  flow: Flow<any, unknown>,
  options: DeploymentOptions,
  extra: Partial<DeploymentCreate> = {},
): DeploymentSpec {
  const { options: flowOptions } = flow;
  return {
    flow,
    client: clientOf(options, `deployment '${flow.flowName}/${options.name}'`),
    ...(options.triggers !== undefined ? { triggers: options.triggers } : {}),
    body: {
      name: options.name,
      flowName: flow.flowName,
      description: options.description ?? flowOptions.description ?? null,
      version: options.version ?? flowOptions.version ?? null,
      parameters: options.parameters ?? {},
      parameterSchema: flow.parameterSchema(),
      tags: options.tags ?? flowOptions.tags ?? [],
      concurrencyLimit: options.concurrencyLimit ?? null,
      collisionStrategy: options.collisionStrategy ?? "ENQUEUE",
      runRetentionDays: options.runRetentionDays ?? null,
      ...(options.paused !== undefined ? { paused: options.paused } : {}),
      schedules: (options.schedules ?? []).map(scheduleCreate),
      ...extra,
    },
  };
}

/** Creates the deployment, or updates the one of the same flow and name, and replaces its triggers. */
export async function register(spec: DeploymentSpec): Promise<Deployment> {
  const deployment = await spec.client.api.createDeployment({ body: spec.body });
  if (spec.triggers !== undefined) {
    await spec.client.api.replaceDeploymentTriggers({
      params: { id: deployment.id },
      body: { triggers: spec.triggers },
    });
  }
  return deployment;
}

/**
 * Finds the name a module exports the flow under, so a worker can import it again. The module is
 * already loaded (it declared the flow), so importing it here returns the same instance.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function deriveEntrypoint(flow: Flow<any, unknown>, path: string): Promise<string> {
  const file = flow.definedIn;
  const what = `flow '${flow.flowName}'`;
  if (!file) {
    throw new BatonError("invalid_argument", `cannot tell which module declared ${what}; pass entrypoint`);
  }
  const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const exportName = Object.keys(module).find((key) => module[key] === flow);
  if (!exportName) {
    throw new BatonError(
      "invalid_argument",
      `${what} is not exported from ${file}: export it (a worker imports it from there) or pass entrypoint`,
    );
  }
  return `${relative(path, file)}:${exportName}`;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function deploy(flow: Flow<any, unknown>, options: DeployOptions): Promise<Deployment> {
  const path = resolve(options.path ?? process.cwd());
  const entrypoint = options.entrypoint ?? (await deriveEntrypoint(flow, path));
  return register(
    toDeployment(flow, options, {
      workPoolName: options.workPool,
      workQueueName: options.workQueue ?? null,
      jobVariables: options.jobVariables ?? {},
      entrypoint,
      path,
      pullSteps: options.pullSteps ?? [],
    }),
  );
}

export interface RunDeploymentOptions {
  parameters?: JsonObject;
  tags?: string[];
  idempotencyKey?: string;
  /** Wait for the run to finish. @default true */
  wait?: boolean;
  /** Stop waiting after this many seconds and return the run as it is then. */
  timeout?: number;
  client?: BatonClient;
}

/**
 * Creates a run of a deployment from anywhere (its parameters are checked by the server against
 * the deployment's schema first) and, unless told not to, waits for it to finish.
 */
export async function runDeployment(name: string, options: RunDeploymentOptions = {}): Promise<FlowRun> {
  const client = clientOf(options, `runDeployment('${name}')`);
  const deployment = await client.api.readDeploymentByName({ params: parseDeploymentName(name) });
  const run = await client.api.createDeploymentRun({
    params: { id: deployment.id },
    body: {
      ...(options.parameters ? { parameters: options.parameters } : {}),
      ...(options.tags ? { tags: options.tags } : {}),
      ...(options.idempotencyKey ? { idempotencyKey: options.idempotencyKey } : {}),
    },
  });
  if (options.wait === false) return run;
  return waitForFlowRun(client, run.id, options.timeout);
}

/**
 * Follows a run's state changes until it is finished, the timeout passes or `signal` aborts (only
 * the waiting stops), and returns the run as it is then.
 */
export async function waitForFlowRun(
  client: BatonClient,
  flowRunId: string,
  timeoutSeconds?: number,
  signal?: AbortSignal,
): Promise<FlowRun> {
  const stop = new AbortController();
  if (signal?.aborted) stop.abort();
  signal?.addEventListener("abort", () => stop.abort(), { once: true });
  const timer =
    timeoutSeconds === undefined ? undefined : setTimeout(() => stop.abort(), timeoutSeconds * 1000);
  const check = async () => {
    const run = await client.api.readFlowRun({ params: { id: flowRunId } });
    if (isTerminal(run.state?.type)) stop.abort();
  };
  let failure: BatonError | undefined;
  const fail = (error: unknown) => {
    failure = BatonError.from(error);
    stop.abort();
  };
  try {
    // The stream ends if the server restarts: open it again until the run is finished.
    while (!stop.signal.aborted) {
      await client
        .events(
          {
            flowRunId,
            names: [EventName.FlowRunStateChanged],
            signal: stop.signal,
            resume: true,
            // A run that ended before the stream opened is seen by reading it once it is open.
            onOpen: () => void check().catch(fail),
          },
          (event) => {
            if (isEvent(event, EventName.FlowRunStateChanged) && isTerminal(event.payload.state.type)) {
              stop.abort();
            }
          },
        )
        .catch((error: unknown) => {
          if (!stop.signal.aborted) throw error;
        });
    }
  } finally {
    clearTimeout(timer);
  }
  if (failure) throw failure;
  return client.api.readFlowRun({ params: { id: flowRunId } });
}
