import { Command } from "commander";
import { allPages, print, printJson, table, time } from "../format.js";
import { apiClient } from "../settings.js";

export function flowCommand(): Command {
  const group = new Command("flow").description("List flows");
  group
    .command("ls")
    .description("List flows")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const client = apiClient();
      const flows = await allPages((offset) => client.api.listFlows({ query: { limit: 200, offset } }));
      if (options.json) return printJson(flows);
      print(
        table(
          ["NAME", "ID", "TAGS", "CREATED"],
          flows.map((flow) => [flow.name, flow.id, flow.tags.join(", "), time(flow.created)]),
          "No flows yet; they appear when a flow first runs.",
        ),
      );
    });
  return group;
}
