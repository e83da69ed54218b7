import { relative, resolve } from "node:path";
import { Command, Option } from "commander";
import type { CollisionStrategy, JsonObject } from "@baton/core";
import { loadFlow, parseEntrypoint } from "@baton/sdk";
import { print, printJson } from "../format.js";
import { collect, parseParam, parseParameters, parsePositive } from "../options.js";
import { requirePool } from "../pools.js";
import { apiClient } from "../settings.js";
import { scheduleOf, withScheduleOptions, type ScheduleOptions } from "../schedules.js";
import { schedulesText } from "./deployment.js";

interface DeployOptions extends ScheduleOptions {
  name: string;
  pool: string;
  workQueue?: string;
  param: string[];
  params?: string;
  jobVariable: string[];
  concurrencyLimit?: number;
  collisionStrategy?: CollisionStrategy;
  retentionDays?: number;
  tag: string[];
  description?: string;
  json?: boolean;
}

/** Loads TypeScript entrypoints the way the worker will run them: through tsx, without a build. */
async function registerTypeScript(file: string): Promise<void> {
  if (!/\.(ts|mts|cts|tsx)$/.test(file)) return;
  const { register } = await import("tsx/esm/api");
  register();
}

export function deployCommand(): Command {
  return withScheduleOptions(new Command("deploy"))
    .description("Register a deployment of a flow in a module, for a work pool's workers to run")
    .argument("<entrypoint>", "the module and the flow it exports, like src/flows.ts:myFlow")
    .requiredOption("-n, --name <name>", "the deployment's name")
    .requiredOption("-p, --pool <pool>", "the work pool whose workers run it")
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
    .option("--json", "print the deployment as JSON")
    .action(async (entrypointArgument: string, options: DeployOptions) => {
      const schedule = scheduleOf(options);
      const schedules = schedule ? [schedule] : [];
      const parameters = parseParameters(options.params, options.param);
      const jobVariables: JsonObject = Object.fromEntries(options.jobVariable.map(parseParam));
      const { file, exportName } = parseEntrypoint(entrypointArgument);
      const path = process.cwd();
      const entrypoint = `${relative(path, resolve(path, file))}:${exportName}`;
      await registerTypeScript(file);
      const flow = await loadFlow(entrypoint, path);
      const client = apiClient();
      // The server takes a deployment naming any pool; its runs would then wait for no worker.
      await requirePool(client, options.pool, options.workQueue ? [options.workQueue] : []);
      const deployment = await flow.deploy({
        client,
        name: options.name,
        workPool: options.pool,
        ...(options.workQueue ? { workQueue: options.workQueue } : {}),
        parameters,
        jobVariables,
        schedules,
        ...(options.concurrencyLimit ? { concurrencyLimit: options.concurrencyLimit } : {}),
        ...(options.collisionStrategy ? { collisionStrategy: options.collisionStrategy } : {}),
        ...(options.retentionDays ? { runRetentionDays: options.retentionDays } : {}),
        ...(options.tag.length > 0 ? { tags: options.tag } : {}),
        ...(options.description ? { description: options.description } : {}),
        entrypoint,
        path,
      });
      if (options.json) return printJson(deployment);
      const address = `${deployment.flowName}/${deployment.name}`;
      const queue = deployment.workQueueName ? `, queue '${deployment.workQueueName}'` : "";
      print(
        `Deployment '${address}' registered: ${entrypoint} in ${path}, pool '${options.pool}'${queue}.\n` +
          (schedules.length > 0 ? `Schedule:        ${schedulesText(deployment)}\n` : "") +
          `Start a worker:  baton worker start --pool ${options.pool}\n` +
          `Run it:          baton deployment run '${address}'`,
      );
    });
}
