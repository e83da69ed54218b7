import { Command } from "commander";
import { loadTask, parseEntrypoint, serveTasks } from "@baton/sdk";
import { parsePositive } from "../options.js";
import { apiClient } from "../settings.js";
import { registerTypeScript } from "./deploy.js";

export function taskCommand(): Command {
  const group = new Command("task").description("Run tasks in the background");

  group
    .command("serve")
    .description(
      "Be a task worker: run the background runs (task.delay()) of these tasks until stopped (Ctrl-C)",
    )
    .argument("<entrypoints...>", "each task as path/to/module.ts:exportName")
    .option("-l, --limit <n>", "task runs carried out at once, at most", parsePositive, 10)
    .option("-n, --name <name>", "the name the runs record as their task worker")
    .action(async (entrypoints: string[], options: { limit: number; name?: string }) => {
      const tasks = [];
      for (const entrypoint of entrypoints) {
        await registerTypeScript(parseEntrypoint(entrypoint).file);
        tasks.push(await loadTask(entrypoint));
      }
      await serveTasks(tasks, {
        client: apiClient(),
        limit: options.limit,
        ...(options.name ? { name: options.name } : {}),
      });
    });
  return group;
}
