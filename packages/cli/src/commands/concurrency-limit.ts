import { Command } from "commander";
import type { ConcurrencyLimit } from "@baton/core";
import { allPages, details, print, printJson, table, time } from "../format.js";
import { parseCount } from "../options.js";
import { apiClient } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

const slots = (limit: ConcurrencyLimit) => `${limit.activeSlots.length}/${limit.limit}`;

export function concurrencyLimitCommand(): Command {
  const group = new Command("concurrency-limit").description("Manage tag concurrency limits of task runs");

  group
    .command("create")
    .description("Create or change the limit of a tag")
    .argument("<tag>", "task run tag")
    .argument("<limit>", "most task runs with this tag running at once", parseCount)
    .action(async (tag: string, limit: number) => {
      const created = await apiClient().api.createConcurrencyLimit({ body: { tag, limit } });
      print(`Limited tag '${created.tag}' to ${created.limit} running task run(s).`);
    });

  group
    .command("ls")
    .description("List tag limits")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const limits = await allPages((offset) =>
        client.api.listConcurrencyLimits({ query: { limit: 200, offset } }),
      );
      if (options.json) return printJson(limits);
      print(
        table(
          ["TAG", "LIMIT", "ACTIVE SLOTS", "CREATED"],
          limits.map((limit) => [limit.tag, limit.limit, slots(limit), time(limit.created)]),
          "No concurrency limits; create one with 'baton concurrency-limit create TAG N'.",
        ),
      );
    });

  group
    .command("inspect")
    .description("Show a tag limit and the task runs holding its slots")
    .argument("<tag>", "task run tag")
    .option("--json", "print JSON")
    .action(async (tag: string, options: JsonOption) => {
      const limit = await apiClient().api.readConcurrencyLimit({ params: { tag } });
      if (options.json) return printJson(limit);
      print(
        details([
          ["Tag", limit.tag],
          ["Id", limit.id],
          ["Limit", limit.limit],
          ["Active slots", slots(limit)],
          ["Held by", limit.activeSlots.join(", ") || "-"],
          ["Created", time(limit.created)],
        ]),
      );
    });

  group
    .command("reset")
    .description("Release every slot of a tag")
    .argument("<tag>", "task run tag")
    .action(async (tag: string) => {
      const limit = await apiClient().api.resetConcurrencyLimit({ params: { tag } });
      print(`Released every slot of tag '${limit.tag}' (${slots(limit)}).`);
    });

  group
    .command("delete")
    .description("Delete a tag limit")
    .argument("<tag>", "task run tag")
    .action(async (tag: string) => {
      await apiClient().api.deleteConcurrencyLimit({ params: { tag } });
      print(`Deleted the concurrency limit of tag '${tag}'.`);
    });
  return group;
}
