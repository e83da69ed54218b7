import { Command } from "commander";
import type { TaskRun } from "@baton/core";
import { details, print, printJson, stateCell, table, time } from "../format.js";
import { parseId, parsePositive } from "../options.js";
import { apiClient } from "../settings.js";
import { parseState, runId, type StateFilter } from "./flow-run.js";

/** Whether a task run is in one of the states asked for (a type, or a name on its type). */
const inStates = (run: TaskRun, states: StateFilter[]) =>
  states.some((s) => run.state?.type === s.type && (!s.name || run.state.name === s.name));

export function taskRunCommand(): Command {
  const group = new Command("task-run").description("Inspect task runs");

  group
    .command("ls")
    .description("List task runs, newest first")
    .option("-r, --flow-run <id>", "only the task runs of this flow run", runId)
    .option(
      "-s, --state <state>",
      "only task runs in this state type or named state, any case: failed, cached, … (repeatable)",
      (value, previous: StateFilter[] = []) => [...previous, parseState(value)],
    )
    .option("-t, --tag <tag>", "only task runs with this tag")
    .option("-k, --task <name>", "only the runs of this task (its name, the task key)")
    .option("-b, --background", "only background task runs (task.delay(), no flow run)")
    .option("-l, --limit <n>", "how many task runs", parsePositive, 15)
    .option("--json", "print JSON")
    .action(
      async (options: {
        flowRun?: string;
        state?: StateFilter[];
        tag?: string;
        task?: string;
        background?: boolean;
        limit: number;
        json?: boolean;
      }) => {
        const states = options.state ?? [];
        const page = await apiClient().api.listTaskRuns({
          query: {
            ...(options.flowRun ? { flowRunId: options.flowRun } : {}),
            ...(states.length > 0 ? { stateType: [...new Set(states.map((s) => s.type))] } : {}),
            ...(options.tag ? { tag: options.tag } : {}),
            ...(options.task ? { taskKey: options.task } : {}),
            ...(options.background ? { background: "true" } : {}),
            newestFirst: "true",
            limit: Math.min(options.limit, 1000),
          },
        });
        const runs = states.length > 0 ? page.items.filter((run) => inStates(run, states)) : page.items;
        if (options.json) return printJson(runs);
        print(
          table(
            ["ID", "NAME", "FLOW RUN", "STATE", "STARTED", "ENDED"],
            runs.map((run) => [
              run.id,
              run.name,
              // A background run (task.delay()) has no flow run.
              run.flowRunId ?? "- (background)",
              stateCell(run.state),
              time(run.startTime),
              time(run.endTime),
            ]),
            "No task runs match.",
          ),
        );
      },
    );

  group
    .command("inspect")
    .description("Show a task run")
    .argument("<id>", "task run id", parseId("task run"))
    .option("--json", "print JSON")
    .action(async (id: string, options: { json?: boolean }) => {
      const run = await apiClient().api.readTaskRun({ params: { id } });
      if (options.json) return printJson(run);
      print(
        details([
          ["Name", run.name],
          ["Id", run.id],
          ["Flow run", run.flowRunId ?? "- (background)"],
          ...(run.workerName ? [["Task worker", run.workerName] as [string, string]] : []),
          ["Task key", run.taskKey],
          ["State", stateCell(run.state)],
          ["Message", run.state?.message ?? "-"],
          ["Tags", run.tags.join(", ") || "-"],
          ["Cache key", run.cacheKey ?? "-"],
          ["Run count", run.runCount],
          ["Retries", run.retries],
          ["Started", time(run.startTime)],
          ["Ended", time(run.endTime)],
          ["Created", time(run.created)],
        ]),
      );
    });
  return group;
}
