import { relative, resolve } from "node:path";
import { Command, InvalidArgumentError, Option } from "commander";
import {
  BatonError,
  type CollisionStrategy,
  type Deployment,
  type DeploymentTriggerInput,
} from "@baton/core";
import { loadFlow, parseEntrypoint, type DeployOptions as SdkDeployOptions } from "@baton/sdk";
import { BATON_YAML, readProject, type Project } from "../baton-yaml.js";
import { parseTrigger } from "../deployment-triggers.js";
import { print, printJson } from "../format.js";
import { collect, parseParam, parseParameters, parsePositive } from "../options.js";
import { requirePool } from "../pools.js";
import { apiClient } from "../settings.js";
import { scheduleOf, withScheduleOptions, type ScheduleOptions } from "../schedules.js";
import { schedulesText } from "./deployment.js";

interface DeployOptions extends ScheduleOptions {
  name?: string;
  pool?: string;
  workQueue?: string;
  param: string[];
  params?: string;
  jobVariable: string[];
  concurrencyLimit?: number;
  collisionStrategy?: CollisionStrategy;
  retentionDays?: number;
  tag: string[];
  description?: string;
  trigger: DeploymentTriggerInput[];
  all?: boolean;
  file: string;
  json?: boolean;
}

/** What deploys one deployment, from flags or from baton.yaml: the SDK's deploy() options but where it runs. */
type DeploymentRequest = Omit<SdkDeployOptions, "client" | "entrypoint" | "path">;

/** Loads TypeScript entrypoints the way the worker will run them: through tsx, without a build. */
export async function registerTypeScript(file: string): Promise<void> {
  if (!/\.(ts|mts|cts|tsx)$/.test(file)) return;
  const { register } = await import("tsx/esm/api");
  register();
}

/**
 * Deploys the flow at `entrypointArgument` (relative to `dir`, which workers run it from), after
 * checking that its pool and queue exist: the one path of `baton deploy` with flags and of baton.yaml.
 */
async function deployEntrypoint(
  dir: string,
  entrypointArgument: string,
  request: DeploymentRequest,
): Promise<Deployment> {
  const { file, exportName } = parseEntrypoint(entrypointArgument);
  const entrypoint = `${relative(dir, resolve(dir, file))}:${exportName}`;
  await registerTypeScript(file);
  const flow = await loadFlow(entrypoint, dir);
  const client = apiClient();
  // The server takes a deployment naming any pool; its runs would then wait for no worker.
  await requirePool(client, request.workPool, request.workQueue ? [request.workQueue] : []);
  return flow.deploy({ ...request, client, entrypoint, path: dir });
}

/** The deployment `baton deploy ENTRYPOINT --name … --pool …` describes with its flags. */
function requestOf(options: DeployOptions): DeploymentRequest {
  if (!options.name) throw new InvalidArgumentError("required option '-n, --name <name>' not specified");
  if (!options.pool) throw new InvalidArgumentError("required option '-p, --pool <pool>' not specified");
  const schedule = scheduleOf(options);
  return {
    name: options.name,
    workPool: options.pool,
    ...(options.workQueue ? { workQueue: options.workQueue } : {}),
    parameters: parseParameters(options.params, options.param),
    jobVariables: Object.fromEntries(options.jobVariable.map(parseParam)),
    schedules: schedule ? [schedule] : [],
    ...(options.concurrencyLimit ? { concurrencyLimit: options.concurrencyLimit } : {}),
    ...(options.collisionStrategy ? { collisionStrategy: options.collisionStrategy } : {}),
    ...(options.retentionDays ? { runRetentionDays: options.retentionDays } : {}),
    ...(options.tag.length > 0 ? { tags: options.tag } : {}),
    ...(options.description ? { description: options.description } : {}),
    ...(options.trigger.length > 0 ? { triggers: options.trigger } : {}),
  };
}

/** The deployments of baton.yaml to deploy: all of them, or the one named. */
function fromProject(options: DeployOptions, name: string | undefined): Project {
  const flags = Object.entries(options).filter(
    ([key, value]) =>
      !["all", "file", "json"].includes(key) &&
      value !== undefined &&
      !(Array.isArray(value) && value.length === 0),
  );
  if (flags.length > 0) {
    throw new InvalidArgumentError(
      `baton.yaml gives the deployment's settings: ${flags.map(([key]) => `--${kebab(key)}`).join(", ")} only apply with an ENTRYPOINT`,
    );
  }
  const project = readProject(options.file);
  if (name === undefined) return project;
  const deployment = project.deployments.find((entry) => entry.name === name);
  if (!deployment) {
    throw new BatonError(
      "not_found",
      `${options.file} has no deployment '${name}'; it has ${project.deployments.map((entry) => `'${entry.name}'`).join(", ")}. To deploy an entrypoint instead, give --name and --pool`,
    );
  }
  return { ...project, deployments: [deployment] };
}

/** `baton deploy flows.ts:hello --name … --pool …` deploys an entrypoint; `baton deploy nightly`, one of baton.yaml. */
const isEntrypoint = (target: string, options: DeployOptions): boolean =>
  options.name !== undefined ||
  options.pool !== undefined ||
  target.includes(":") ||
  /\.[cm]?[jt]sx?$/.test(target);

const kebab = (key: string) => key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);

function printDeployed(deployment: Deployment): void {
  const address = `${deployment.flowName}/${deployment.name}`;
  const queue = deployment.workQueueName ? `, queue '${deployment.workQueueName}'` : "";
  const pool = deployment.workPoolName ?? "";
  print(
    `Deployment '${address}' registered: ${deployment.entrypoint} in ${deployment.path}, pool '${pool}'${queue}.\n` +
      (deployment.schedules.length > 0 ? `Schedule:        ${schedulesText(deployment)}\n` : "") +
      `Start a worker:  baton worker start --pool ${pool}\n` +
      `Run it:          baton deployment run '${address}'`,
  );
}

export function deployCommand(): Command {
  return withScheduleOptions(new Command("deploy"))
    .description(
      "Register a deployment of a flow in a module, for a work pool's workers to run: from flags, or from baton.yaml (--all, or NAME)",
    )
    .argument(
      "[target]",
      "the module and the flow it exports, like src/flows.ts:myFlow (with --name and --pool); or the name of a deployment in baton.yaml",
    )
    .option("-n, --name <name>", "the deployment's name")
    .option("-p, --pool <pool>", "the work pool whose workers run it")
    .option("-q, --work-queue <queue>", "the pool's queue (default: 'default')")
    .option(
      "--param <key=value>",
      "a default parameter, the value as JSON or a bare string (repeatable)",
      collect,
      [],
    )
    .option("--params <json>", "default parameters as one JSON object")
    .option("--job-variable <key=value>", "a job variable for the pool's template (repeatable)", collect, [])
    .option("--concurrency-limit <n>", "runs of this deployment at once, at most", parsePositive)
    .addOption(
      new Option(
        "--collision-strategy <strategy>",
        "a run due while the limit is full waits (enqueue, the default) or is cancelled (cancel-new)",
      )
        .choices(["enqueue", "cancel-new"])
        .argParser((value) => value.toUpperCase().replace("-", "_") as CollisionStrategy),
    )
    .option(
      "--retention-days <days>",
      "delete its finished runs this many days after they end (default: the server's BATON_RUN_RETENTION_DAYS)",
      parsePositive,
    )
    .option("-t, --tag <tag>", "a tag for its runs (repeatable)", collect, [])
    .option("-d, --description <text>", "what the deployment is for")
    .option(
      "--trigger <event or json>",
      "run it when an event matches: an event's name, or a deployment trigger as JSON with parameters from the event (repeatable; replaces its triggers)",
      (value: string, previous: DeploymentTriggerInput[]) => [...previous, parseTrigger(value)],
      [],
    )
    .option("--all", `deploy every deployment of ${BATON_YAML}`)
    .option("-f, --file <path>", "the project file --all and NAME read", BATON_YAML)
    .option("--json", "print the deployment as JSON (with --all, a list)")
    .action(async (target: string | undefined, options: DeployOptions) => {
      if (options.all && target !== undefined) {
        throw new InvalidArgumentError(`give --all or a NAME from ${options.file}, not both`);
      }
      if (!options.all && target === undefined) {
        throw new InvalidArgumentError(
          `give an ENTRYPOINT with --name and --pool, a deployment's NAME from ${options.file}, or --all`,
        );
      }
      if (target !== undefined && isEntrypoint(target, options)) {
        const deployment = await deployEntrypoint(process.cwd(), target, requestOf(options));
        return options.json ? printJson(deployment) : printDeployed(deployment);
      }
      const project = fromProject(options, target);
      const deployed: Deployment[] = [];
      // One after another, so that the first one refused stops the rest and is the error shown.
      for (const { entrypoint, ...request } of project.deployments) {
        deployed.push(await deployEntrypoint(project.dir, entrypoint, request));
      }
      if (options.json) return printJson(options.all ? deployed : deployed[0]);
      for (const deployment of deployed) printDeployed(deployment);
    });
}
