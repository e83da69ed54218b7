import { Command, InvalidArgumentError } from "commander";
import {
  BatonError,
  defaultBaseJobTemplate,
  jobVariableDefaults,
  jobVariablesSchema,
  withJobVariableDefaults,
  WORK_POOL_TYPES,
  type JsonObject,
  type WorkPool,
  type WorkQueue,
} from "@baton/core";
import {
  allPages,
  details,
  escapeControl,
  flag,
  limitText,
  print,
  printJson,
  table,
  time,
} from "../format.js";
import { collect, parseCount, parseParam, readJsonObjectFile } from "../options.js";
import { apiClient } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

interface CreateOptions {
  type: string;
  concurrencyLimit?: number;
  paused?: boolean;
  allowCommandOverride?: boolean;
  baseJobTemplate?: string;
  jobVariable: string[];
}

interface VariableSchema {
  type?: unknown;
  default?: unknown;
}

/** The pool's job variables, one a row: its type in the schema and its default. */
function jobVariablesTable(template: JsonObject): string {
  const { properties = {}, required = [] } = (template.variables ?? {}) as {
    properties?: Record<string, VariableSchema>;
    required?: string[];
  };
  const typeOf = (schema: VariableSchema) =>
    Array.isArray(schema.type)
      ? schema.type.join("|")
      : typeof schema.type === "string"
        ? schema.type
        : "any";
  return table(
    ["JOB VARIABLE", "TYPE", "DEFAULT"],
    Object.entries(properties).map(([name, schema]) => [
      name,
      typeOf(schema),
      schema.default !== undefined
        ? JSON.stringify(schema.default)
        : required.includes(name)
          ? "- (required)"
          : "-",
    ]),
    "No job variables in the pool's base job template.",
  );
}

/**
 * The base job template a new pool is created with: the file's (else the server fills in the type's
 * default), with the defaults given by --job-variable set in it.
 */
function templateOf(type: string, options: CreateOptions): JsonObject | undefined {
  const file = options.baseJobTemplate;
  const template = file ? readJsonObjectFile(file, "a base job template") : undefined;
  const defaults = options.jobVariable.map(parseParam);
  if (defaults.length === 0) return template;
  const base = template ?? defaultBaseJobTemplate(type);
  return withJobVariableDefaults(base, { ...jobVariableDefaults(base), ...Object.fromEntries(defaults) });
}

const ALLOW_COMMAND_HELP =
  "let deployments and runs set the job variable 'command' (anyone who may deploy may then run any command on the pool's workers)";

function poolDetails(pool: WorkPool, queues: WorkQueue[]): string {
  return details([
    ["Name", pool.name],
    ["Id", pool.id],
    ["Type", pool.type],
    ["Status", pool.paused ? "paused" : "ready"],
    ["Concurrency limit", limitText(pool.concurrencyLimit)],
    [
      "Command override",
      pool.allowCommandOverride
        ? flag(true, "allowed: deployments and runs may set 'command'")
        : "not allowed (only the pool's own default 'command')",
    ],
    ["Description", pool.description ?? "-"],
    ["Created", time(pool.created)],
    ["Queues", queues.map((queue) => `${queue.name} (priority ${queue.priority})`).join(", ") || "-"],
  ]);
}

export function workPoolCommand(): Command {
  const group = new Command("work-pool").description("Manage work pools");

  group
    .command("create")
    .description("Create a work pool (with a 'default' queue)")
    .argument("<name>", "pool name")
    .option("-t, --type <type>", "worker type", "process")
    .option("--concurrency-limit <n>", "most runs of the pool running at once", parseCount)
    .option("--paused", "create it paused")
    .option("--allow-command-override", ALLOW_COMMAND_HELP)
    .option(
      "--base-job-template <file>",
      "JSON file: the pool's job variables as a JSON Schema with defaults (default: its type's, see get-default-base-job-template)",
    )
    .option(
      "--job-variable <key=value>",
      "a default job variable of the pool's runs, the value as JSON or a bare string (repeatable)",
      collect,
      [],
    )
    .action(async (name: string, options: CreateOptions) => {
      const baseJobTemplate = templateOf(options.type, options);
      const pool = await apiClient().api.createWorkPool({
        body: {
          name,
          type: options.type,
          ...(baseJobTemplate ? { baseJobTemplate } : {}),
          ...(options.concurrencyLimit !== undefined ? { concurrencyLimit: options.concurrencyLimit } : {}),
          ...(options.paused ? { paused: true } : {}),
          ...(options.allowCommandOverride ? { allowCommandOverride: true } : {}),
        },
      });
      print(
        `Created work pool '${escapeControl(pool.name)}' (type ${escapeControl(pool.type)}, id ${pool.id}).`,
      );
    });

  group
    .command("ls")
    .description("List work pools")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const pools = await allPages((offset) => client.api.listWorkPools({ query: { limit: 200, offset } }));
      if (options.json) return printJson(pools);
      print(
        table(
          ["NAME", "TYPE", "CONCURRENCY LIMIT", "STATUS", "CREATED"],
          pools.map((pool) => [
            pool.name,
            pool.type,
            limitText(pool.concurrencyLimit),
            pool.paused ? flag(true, "paused") : "ready",
            time(pool.created),
          ]),
          "No work pools; create one with 'baton work-pool create NAME'.",
        ),
      );
    });

  group
    .command("inspect")
    .description("Show a work pool and its queues")
    .argument("<name>", "pool name")
    .option("--json", "print JSON")
    .action(async (name: string, options: JsonOption) => {
      const client = apiClient();
      const pool = await client.api.readWorkPool({ params: { name } });
      const queues = await allPages((offset) =>
        client.api.listWorkQueues({ params: { pool: name }, query: { limit: 200, offset } }),
      );
      if (options.json) return printJson({ ...pool, queues });
      print(poolDetails(pool, queues));
      print("");
      print(jobVariablesTable(pool.baseJobTemplate));
    });

  group
    .command("get-default-base-job-template")
    .description(
      "Print a pool type's default base job template (JSON): its job variables with their defaults",
    )
    .option("-t, --type <type>", "worker type", "process")
    .action((options: { type: string }) => {
      if (!jobVariablesSchema(options.type)) {
        throw new BatonError(
          "invalid_argument",
          `Baton knows the job variables of ${WORK_POOL_TYPES.join(" and ")} pools, not of '${options.type}' pools`,
        );
      }
      printJson(defaultBaseJobTemplate(options.type));
    });

  group
    .command("update")
    .description("Change a work pool's settings")
    .argument("<name>", "pool name")
    .option("--allow-command-override", ALLOW_COMMAND_HELP)
    .option("--no-allow-command-override", "only the pool's own default 'command' applies (the default)")
    .option("--description <text>", "what the pool is for")
    .action(async (name: string, options: { allowCommandOverride?: boolean; description?: string }) => {
      const body = {
        ...(options.allowCommandOverride !== undefined
          ? { allowCommandOverride: options.allowCommandOverride }
          : {}),
        ...(options.description !== undefined ? { description: options.description } : {}),
      };
      if (Object.keys(body).length === 0) {
        throw new InvalidArgumentError(
          "nothing to change: give --allow-command-override, --no-allow-command-override or --description",
        );
      }
      const pool = await apiClient().api.updateWorkPool({ params: { name }, body });
      print(
        `Updated work pool '${escapeControl(pool.name)}': deployments and runs ${pool.allowCommandOverride ? "may" : "may not"} set 'command'.`,
      );
    });

  const update = (
    command: string,
    description: string,
    body: (args: string[]) => { paused?: boolean; concurrencyLimit?: number | null },
    done: (pool: WorkPool) => string,
    extraArgs: [string, string][] = [],
  ) => {
    const sub = group.command(command).description(description).argument("<name>", "pool name");
    for (const [arg, help] of extraArgs) sub.argument(arg, help);
    sub.action(async (name: string, ...rest: unknown[]) => {
      const args = rest.slice(0, extraArgs.length) as string[];
      const pool = await apiClient().api.updateWorkPool({ params: { name }, body: body(args) });
      print(done(pool));
    });
  };
  update(
    "pause",
    "Pause a work pool: workers get no runs from it",
    () => ({ paused: true }),
    (pool) => `Paused work pool '${pool.name}'.`,
  );
  update(
    "resume",
    "Resume a paused work pool",
    () => ({ paused: false }),
    (pool) => `Resumed work pool '${pool.name}'.`,
  );
  update(
    "set-concurrency-limit",
    "Limit how many runs of the pool run at once",
    ([limit]) => ({ concurrencyLimit: parseCount(limit!) }),
    (pool) => `Set the concurrency limit of work pool '${pool.name}' to ${limitText(pool.concurrencyLimit)}.`,
    [["<limit>", "most runs at once"]],
  );
  update(
    "clear-concurrency-limit",
    "Remove the pool's concurrency limit",
    () => ({ concurrencyLimit: null }),
    (pool) => `Cleared the concurrency limit of work pool '${pool.name}'.`,
  );

  group
    .command("delete")
    .description("Delete a work pool and its queues")
    .argument("<name>", "pool name")
    .action(async (name: string) => {
      await apiClient().api.deleteWorkPool({ params: { name } });
      print(`Deleted work pool '${name}'.`);
    });
  return group;
}
