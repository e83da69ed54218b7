import { Command, InvalidArgumentError } from "commander";
import { type JsonObject } from "@baton/core";
import { print, printJson, table, time } from "../format.js";
import { parseId, parsePositive } from "../options.js";
import { apiClient } from "../settings.js";

/** `kind:id`, what an event is about. */
function parseResource(value: string): { kind: string; id: string } {
  const colon = value.indexOf(":");
  if (colon <= 0 || colon === value.length - 1) {
    throw new InvalidArgumentError(`--resource '${value}' is not kind:id (such as order:o-7)`);
  }
  return { kind: value.slice(0, colon), id: value.slice(colon + 1) };
}

function parsePayload(value: string): JsonObject {
  let payload: unknown;
  try {
    payload = JSON.parse(value);
  } catch (error) {
    throw new InvalidArgumentError(`--payload is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) {
    throw new InvalidArgumentError(`--payload must be a JSON object, like '{"order_id": 7}'`);
  }
  return payload as JsonObject;
}

const PAYLOAD_CHARS = 60;
const preview = (payload: JsonObject): string => {
  const text = JSON.stringify(payload);
  return text.length > PAYLOAD_CHARS ? `${text.slice(0, PAYLOAD_CHARS - 1)}…` : text;
};

export function eventCommand(): Command {
  const group = new Command("event").description(
    "Stored events (Baton's own and custom ones): list them, or send a custom event",
  );

  group
    .command("ls")
    .description("List stored events, newest first")
    .option("--name <prefix>", "events whose name starts with this ('flow-run.', 'github.push')")
    .option("--resource <id>", "events about this resource id")
    .option("--limit <n>", "how many, at most (1000 at most)", parsePositive, 50)
    .option("--json", "print JSON")
    .action(async (options: { name?: string; resource?: string; limit: number; json?: boolean }) => {
      const { items } = await apiClient().api.listEvents({
        query: {
          limit: Math.min(options.limit, 1000),
          ...(options.name ? { name: options.name } : {}),
          ...(options.resource ? { resourceId: options.resource } : {}),
        },
      });
      if (options.json) return printJson(items);
      print(
        table(
          ["OCCURRED", "EVENT", "RESOURCE", "FLOW RUN", "PAYLOAD"],
          items.map((event) => [
            time(event.occurred),
            event.name,
            `${event.resource.kind}:${event.resource.id}`,
            event.related.flowRunName ?? "",
            preview(event.payload),
          ]),
          "No events.",
        ),
      );
    });

  group
    .command("emit")
    .description("Send a custom event (automations can trigger on its name)")
    .argument("<event>", "its name: lowercase words joined by dots, such as 'shop.order-paid'")
    .option("--payload <json>", "a JSON object", parsePayload)
    .option("--resource <kind:id>", "what it is about, such as order:o-7", parseResource)
    .option("--flow-run <id>", "the flow run it relates to", parseId("flow run"))
    .action(
      async (
        name: string,
        options: { payload?: JsonObject; resource?: { kind: string; id: string }; flowRun?: string },
      ) => {
        const event = await apiClient().api.createEvent({
          body: {
            event: name,
            ...(options.payload ? { payload: options.payload } : {}),
            ...(options.resource ? { resource: options.resource } : {}),
            ...(options.flowRun ? { flowRunId: options.flowRun } : {}),
          },
        });
        print(`Sent event '${event.name}' (id ${event.id}).`);
      },
    );
  return group;
}
