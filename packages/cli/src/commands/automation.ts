import { Command } from "commander";
import {
  BatonError,
  Id,
  type ActionRun,
  type Automation,
  type AutomationCreate,
  type AutomationTrigger,
  type EventTrigger,
  type MetricTrigger,
  isCombinedTrigger,
  isMetricTrigger,
} from "@baton/core";
import type { BatonClient } from "@baton/client";
import { allPages, details, flag, print, printJson, table, time } from "../format.js";
import { readJsonObjectFile } from "../options.js";
import { apiClient } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

const FILTERS = ["flows", "deployments", "workPools", "tags", "stateTypes", "stateNames"] as const;

/**
 * "flow-run.state-changed flows=etl stateTypes=FAILED 3 within 600 s"; a compound trigger
 * "all of [order.paid; order.shipped] within 3600 s", a sequence "order.paid then order.shipped within 3600 s".
 */
export function triggerText(trigger: AutomationTrigger): string {
  if (isMetricTrigger(trigger)) return metricTriggerText(trigger);
  if (!isCombinedTrigger(trigger)) return eventTriggerText(trigger);
  const within = `within ${trigger.within} s`;
  if (trigger.type === "sequence") {
    return `${trigger.triggers.map(eventTriggerText).join(" then ")} ${within}`;
  }
  const require = typeof trigger.require === "number" ? `${trigger.require}` : trigger.require;
  return `${require} of [${trigger.triggers.map(eventTriggerText).join("; ")}] ${within}`;
}

/** "failure-ratio > 0.5 over 3600 s deployments=etl/prod for 300 s" */
function metricTriggerText(trigger: MetricTrigger): string {
  const filters = (["flows", "deployments"] as const).flatMap((key) =>
    trigger[key] ? [`${key}=${trigger[key].join(",")}`] : [],
  );
  const more = [
    trigger.firingForSeconds > 0 ? `for ${trigger.firingForSeconds} s` : "",
    trigger.minRuns > 1 ? `minRuns=${trigger.minRuns}` : "",
  ];
  return [
    `${trigger.metric} ${trigger.operator} ${trigger.threshold} over ${trigger.rangeSeconds} s`,
    ...filters,
    ...more,
  ]
    .filter(Boolean)
    .join(" ");
}

function eventTriggerText(trigger: EventTrigger): string {
  const filters = FILTERS.flatMap((key) => (trigger[key] ? [`${key}=${trigger[key].join(",")}`] : []));
  const when =
    trigger.posture === "proactive"
      ? `none within ${trigger.withinSeconds} s`
      : trigger.threshold > 1
        ? `${trigger.threshold} within ${trigger.withinSeconds} s`
        : "";
  return [trigger.events.join(","), ...filters, when].filter(Boolean).join(" ");
}

const status = (automation: Automation) => (automation.enabled ? "enabled" : flag(true, "paused"));

/** What an action run's last attempt got: the answer's status and body, or the error. */
function lastAnswer(run: ActionRun): string {
  const last = run.attempts.at(-1);
  if (!last) return "-";
  const answer = [last.statusCode, last.error ?? last.response].filter((part) => part !== null).join(" ");
  return answer.length > 80 ? `${answer.slice(0, 79)}…` : answer;
}

/** "1 slack", "2 send-notification → webhook pager-hook": a notification's action run names its destination. */
function actionText(run: ActionRun): string {
  const head = `${run.actionIndex + 1} ${run.action.type}`;
  const { type, secret } = run.resolved;
  return run.action.type === "send-notification" && typeof type === "string" && typeof secret === "string"
    ? `${head} → ${type} ${secret}`
    : head;
}

/** An automation by id, or by name when exactly one has that name. */
async function findAutomation(client: BatonClient, idOrName: string): Promise<Automation> {
  if (Id.safeParse(idOrName).success) return client.api.readAutomation({ params: { id: idOrName } });
  const all = await allPages((offset) => client.api.listAutomations({ query: { limit: 200, offset } }));
  const named = all.filter((automation) => automation.name === idOrName);
  if (named.length === 1) return named[0]!;
  if (named.length === 0) throw new BatonError("not_found", `automation '${idOrName}' does not exist`);
  throw new BatonError(
    "invalid_argument",
    `${named.length} automations are named '${idOrName}': give one's id (${named.map((a) => a.id).join(", ")})`,
  );
}

export function automationCommand(): Command {
  const group = new Command("automation").description(
    "Manage automations: actions (notifications, runs, pauses) triggered by events",
  );

  group
    .command("ls")
    .description("List automations")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const automations = await allPages((offset) =>
        client.api.listAutomations({ query: { limit: 200, offset } }),
      );
      if (options.json) return printJson(automations);
      print(
        table(
          ["NAME", "ID", "STATUS", "TRIGGER", "ACTIONS", "CREATED"],
          automations.map((automation) => [
            automation.name,
            automation.id,
            status(automation),
            triggerText(automation.trigger),
            automation.actions.map((action) => action.type).join(", "),
            time(automation.created),
          ]),
          "No automations; create one with 'baton automation create --file automation.json'.",
        ),
      );
    });

  group
    .command("inspect")
    .description("Show an automation and what its latest actions did")
    .argument("<automation>", "automation id or name")
    .option("--json", "print JSON (with the latest action runs)")
    .action(async (idOrName: string, options: JsonOption) => {
      const client = apiClient();
      const automation = await findAutomation(client, idOrName);
      const { items: actionRuns } = await client.api.listActionRuns({
        query: { automationId: automation.id, limit: 20 },
      });
      if (options.json) return printJson({ ...automation, actionRuns });
      print(
        details([
          ["Name", automation.name],
          ["Id", automation.id],
          ["Status", status(automation)],
          ["Description", automation.description ?? "-"],
          ...(automation.deploymentId
            ? [
                [
                  "Deployment",
                  `${automation.deploymentId} (its trigger: deploying it again replaces this)`,
                ] as [string, string],
              ]
            : []),
          ["Trigger", triggerText(automation.trigger)],
          ...automation.actions.map((action, i): [string, string] => [
            `Action ${i + 1}`,
            JSON.stringify(action),
          ]),
          ["Created", time(automation.created)],
          ["Updated", time(automation.updated)],
        ]),
      );
      print("");
      print(
        table(
          ["FIRED", "ACTION", "STATUS", "ATTEMPTS", "LAST ANSWER"],
          actionRuns.map((run) => [
            time(run.created),
            actionText(run),
            run.status,
            run.attempts.length,
            lastAnswer(run),
          ]),
          "It has not fired yet.",
        ),
      );
    });

  group
    .command("create")
    .description("Create an automation from a JSON file (see docs/automations.md)")
    .requiredOption("-f, --file <path>", "JSON file: name, trigger, actions")
    .action(async (options: { file: string }) => {
      const body = readJsonObjectFile(options.file, "an automation") as AutomationCreate;
      const automation = await apiClient()
        .api.createAutomation({ body })
        .catch((error: unknown) => {
          if (!(error instanceof BatonError) || error.code !== "invalid_argument") throw error;
          // Name the file, and the fields as they are written in it.
          const reason = error.message.replace(/^invalid body: /, "").replace(/\bbody\./g, "");
          throw new BatonError("invalid_argument", `'${options.file}' is not a valid automation: ${reason}`);
        });
      print(`Created automation '${automation.name}' (id ${automation.id}).`);
    });

  const setEnabled = (command: string, description: string, enabled: boolean, done: string) =>
    group
      .command(command)
      .description(description)
      .argument("<automation>", "automation id or name")
      .action(async (idOrName: string) => {
        const client = apiClient();
        const { id } = await findAutomation(client, idOrName);
        const automation = await client.api.updateAutomation({ params: { id }, body: { enabled } });
        print(`${done} automation '${automation.name}'.`);
      });
  setEnabled("pause", "Pause an automation: it ignores events until resumed", false, "Paused");
  setEnabled("resume", "Resume a paused automation (it counts events from now)", true, "Resumed");

  group
    .command("delete")
    .description("Delete an automation and the record of its actions")
    .argument("<automation>", "automation id or name")
    .action(async (idOrName: string) => {
      const client = apiClient();
      const automation = await findAutomation(client, idOrName);
      await client.api.deleteAutomation({ params: { id: automation.id } });
      print(`Deleted automation '${automation.name}'.`);
    });
  return group;
}
