import { Command, InvalidArgumentError } from "commander";
import type { GlobalConcurrencyLimit, GlobalConcurrencyLimitUpdate } from "@baton/core";
import { allPages, details, flag, print, printJson, table, time } from "../format.js";
import { parseCount } from "../options.js";
import { apiClient } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

interface ChangeOptions {
  limit?: number;
  slotDecayPerSecond?: number;
  /** Commander's --no-slot-decay. */
  slotDecay?: boolean;
  enable?: boolean;
  disable?: boolean;
}

/** Slots a second, fractions allowed, more than 0. */
function parseRate(value: string): number {
  const rate = Number(value);
  if (value.trim() === "" || !Number.isFinite(rate) || rate <= 0) {
    throw new InvalidArgumentError(`'${value}' is not a number of slots per second greater than 0`);
  }
  return rate;
}

const slots = (limit: GlobalConcurrencyLimit) => `${limit.activeSlots}/${limit.limit}`;
const decay = (limit: GlobalConcurrencyLimit) =>
  limit.slotDecayPerSecond === null ? "-" : `${limit.slotDecayPerSecond}/s`;
const status = (limit: GlobalConcurrencyLimit) => (limit.active ? "active" : flag(true, "inactive"));

export function globalConcurrencyLimitCommand(): Command {
  const group = new Command("global-concurrency-limit")
    .alias("gcl")
    .description(
      "Manage global concurrency and rate limits, which flows take with concurrency() and rateLimit()",
    );

  group
    .command("create")
    .description("Create a global concurrency limit; with --slot-decay-per-second, a rate limit")
    .argument("<name>", "the limit's name, as concurrency() and rateLimit() give it")
    .requiredOption("--limit <n>", "most slots in use at once", parseCount)
    .option(
      "--slot-decay-per-second <rate>",
      "slots that free themselves each second (a rate limit)",
      parseRate,
    )
    .option("--disable", "create it inactive (it admits everyone until enabled)")
    .action(async (name: string, options: ChangeOptions) => {
      const limit = await apiClient().api.createGlobalConcurrencyLimit({
        body: {
          name,
          limit: options.limit!,
          active: !options.disable,
          ...(options.slotDecayPerSecond !== undefined
            ? { slotDecayPerSecond: options.slotDecayPerSecond }
            : {}),
        },
      });
      const rate = limit.slotDecayPerSecond === null ? "" : `, freeing ${decay(limit)}`;
      print(
        `Created global concurrency limit '${limit.name}' of ${limit.limit} slot(s)${rate}${limit.active ? "" : " (inactive)"}.`,
      );
    });

  group
    .command("ls")
    .description("List global concurrency limits with their slots in use")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const limits = await allPages((offset) =>
        client.api.listGlobalConcurrencyLimits({ query: { limit: 200, offset } }),
      );
      if (options.json) return printJson(limits);
      print(
        table(
          ["NAME", "SLOTS IN USE", "DECAY", "STATUS", "CREATED"],
          limits.map((limit) => [limit.name, slots(limit), decay(limit), status(limit), time(limit.created)]),
          "No global concurrency limits; create one with 'baton global-concurrency-limit create NAME --limit N'.",
        ),
      );
    });

  group
    .command("inspect")
    .description("Show a global concurrency limit and its slots in use")
    .argument("<name>", "the limit's name")
    .option("--json", "print JSON")
    .action(async (name: string, options: JsonOption) => {
      const limit = await apiClient().api.readGlobalConcurrencyLimit({ params: { name } });
      if (options.json) return printJson(limit);
      print(
        details([
          ["Name", limit.name],
          ["Id", limit.id],
          ["Limit", limit.limit],
          ["Slots in use", slots(limit)],
          ["Leases", limit.leases],
          ["Slot decay", decay(limit)],
          ["Status", status(limit)],
          ["Created", time(limit.created)],
          ["Updated", time(limit.updated)],
        ]),
      );
    });

  group
    .command("update")
    .description("Change a global concurrency limit; slots held are kept")
    .argument("<name>", "the limit's name")
    .option("--limit <n>", "most slots in use at once", parseCount)
    .option(
      "--slot-decay-per-second <rate>",
      "slots that free themselves each second (a rate limit)",
      parseRate,
    )
    .option("--no-slot-decay", "no decay: a plain concurrency limit again")
    .option("--enable", "count slots again")
    .option("--disable", "admit everyone and count nothing until enabled")
    .action(async (name: string, options: ChangeOptions) => {
      if (options.enable && options.disable) {
        throw new InvalidArgumentError("give --enable or --disable, not both");
      }
      const body: GlobalConcurrencyLimitUpdate = {
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
        ...(options.slotDecayPerSecond !== undefined
          ? { slotDecayPerSecond: options.slotDecayPerSecond }
          : {}),
        ...(options.slotDecay === false ? { slotDecayPerSecond: null } : {}),
        ...(options.enable ? { active: true } : options.disable ? { active: false } : {}),
      };
      if (Object.keys(body).length === 0) {
        throw new InvalidArgumentError(
          "nothing to change: give --limit, --slot-decay-per-second, --no-slot-decay, --enable or --disable",
        );
      }
      await update(name, body);
    });

  for (const [command, active] of [
    ["enable", true],
    ["disable", false],
  ] as const) {
    group
      .command(command)
      .description(active ? "Count slots again" : "Admit everyone and count nothing until enabled")
      .argument("<name>", "the limit's name")
      .action((name: string) => update(name, { active }));
  }

  group
    .command("reset")
    .description("Free every slot of a global concurrency limit (its leases end)")
    .argument("<name>", "the limit's name")
    .action(async (name: string) => {
      const limit = await apiClient().api.resetGlobalConcurrencyLimit({ params: { name } });
      print(`Freed every slot of global concurrency limit '${limit.name}' (${slots(limit)}).`);
    });

  group
    .command("delete")
    .description("Delete a global concurrency limit")
    .argument("<name>", "the limit's name")
    .action(async (name: string) => {
      await apiClient().api.deleteGlobalConcurrencyLimit({ params: { name } });
      print(`Deleted global concurrency limit '${name}'.`);
    });
  return group;
}

async function update(name: string, body: GlobalConcurrencyLimitUpdate): Promise<void> {
  const limit = await apiClient().api.updateGlobalConcurrencyLimit({ params: { name }, body });
  print(
    `Global concurrency limit '${limit.name}': ${slots(limit)} slot(s) in use, decay ${decay(limit)}, ${limit.active ? "active" : "inactive"}.`,
  );
}
