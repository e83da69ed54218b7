import { Command } from "commander";
import type { WorkQueue, WorkQueueUpdate } from "@baton/core";
import { allPages, details, flag, limitText, print, printJson, table, time } from "../format.js";
import { parseCount, parsePositive } from "../options.js";
import { apiClient } from "../settings.js";

interface PoolOption {
  pool: string;
  json?: boolean;
}

export function workQueueCommand(): Command {
  const group = new Command("work-queue").description("Manage the work queues of a pool");

  group
    .command("create")
    .description("Create a work queue in a pool")
    .argument("<name>", "queue name")
    .requiredOption("-p, --pool <pool>", "work pool")
    .option("-q, --priority <p>", "1 is served first", parsePositive)
    .option("-l, --limit <n>", "most runs of the queue running at once", parseCount)
    .action(async (name: string, options: { pool: string; priority?: number; limit?: number }) => {
      const queue = await apiClient().api.createWorkQueue({
        params: { pool: options.pool },
        body: {
          name,
          ...(options.priority !== undefined ? { priority: options.priority } : {}),
          ...(options.limit !== undefined ? { concurrencyLimit: options.limit } : {}),
        },
      });
      print(
        `Created work queue '${queue.name}' in pool '${queue.workPoolName}' (priority ${queue.priority}, limit ${limitText(queue.concurrencyLimit)}).`,
      );
    });

  group
    .command("ls")
    .description("List a pool's queues, by priority")
    .requiredOption("-p, --pool <pool>", "work pool")
    .option("--json", "print JSON")
    .action(async (options: PoolOption) => {
      const client = apiClient();
      const queues = await allPages((offset) =>
        client.api.listWorkQueues({ params: { pool: options.pool }, query: { limit: 200, offset } }),
      );
      if (options.json) return printJson(queues);
      print(
        table(
          ["NAME", "PRIORITY", "CONCURRENCY LIMIT", "STATUS", "LAST POLLED"],
          queues.map((queue) => [
            queue.name,
            queue.priority,
            limitText(queue.concurrencyLimit),
            queue.paused ? flag(true, "paused") : "ready",
            time(queue.lastPolled),
          ]),
          `Work pool '${options.pool}' has no queues.`,
        ),
      );
    });

  group
    .command("inspect")
    .description("Show a work queue")
    .argument("<name>", "queue name")
    .requiredOption("-p, --pool <pool>", "work pool")
    .option("--json", "print JSON")
    .action(async (name: string, options: PoolOption) => {
      const queue = await apiClient().api.readWorkQueue({ params: { pool: options.pool, name } });
      if (options.json) return printJson(queue);
      print(
        details([
          ["Name", queue.name],
          ["Id", queue.id],
          ["Pool", queue.workPoolName],
          ["Priority", queue.priority],
          ["Concurrency limit", limitText(queue.concurrencyLimit)],
          ["Status", queue.paused ? "paused" : "ready"],
          ["Description", queue.description ?? "-"],
          ["Last polled", time(queue.lastPolled)],
          ["Created", time(queue.created)],
        ]),
      );
    });

  const update = (
    command: string,
    description: string,
    body: (args: string[]) => WorkQueueUpdate,
    done: (queue: WorkQueue) => string,
    extraArgs: [string, string][] = [],
  ) => {
    const sub = group.command(command).description(description).argument("<name>", "queue name");
    for (const [arg, help] of extraArgs) sub.argument(arg, help);
    sub.requiredOption("-p, --pool <pool>", "work pool").action(async (name: string, ...rest: unknown[]) => {
      const args = rest.slice(0, extraArgs.length) as string[];
      const { pool } = rest[extraArgs.length] as PoolOption;
      const queue = await apiClient().api.updateWorkQueue({ params: { pool, name }, body: body(args) });
      print(`${done(queue)} work queue '${queue.name}' in pool '${queue.workPoolName}'.`);
    });
  };
  update(
    "pause",
    "Pause a work queue",
    () => ({ paused: true }),
    () => "Paused",
  );
  update(
    "resume",
    "Resume a paused work queue",
    () => ({ paused: false }),
    () => "Resumed",
  );
  update(
    "set-concurrency-limit",
    "Limit how many runs of the queue run at once",
    ([limit]) => ({ concurrencyLimit: parseCount(limit!) }),
    (queue) => `Set the concurrency limit to ${limitText(queue.concurrencyLimit)} of`,
    [["<limit>", "most runs at once"]],
  );
  update(
    "clear-concurrency-limit",
    "Remove the queue's concurrency limit",
    () => ({ concurrencyLimit: null }),
    () => "Cleared the concurrency limit of",
  );

  group
    .command("delete")
    .description("Delete a work queue")
    .argument("<name>", "queue name")
    .requiredOption("-p, --pool <pool>", "work pool")
    .action(async (name: string, options: PoolOption) => {
      await apiClient().api.deleteWorkQueue({ params: { pool: options.pool, name } });
      print(`Deleted work queue '${name}' from pool '${options.pool}'.`);
    });
  return group;
}
