import { randomBytes } from "node:crypto";
import { Command } from "commander";
import { BatonError, type Webhook, type WebhookTemplate, type WebhookUpdate } from "@baton/core";
import { allPages, details, flag, print, printJson, table, time } from "../format.js";
import { apiClient, cliSettings } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

interface ChangeOptions {
  template?: string;
  description?: string;
  /** A value, or false for --no-token. */
  token?: string | false;
  generateToken?: boolean;
}

/** Where a webhook is reached: the server's address (BATON_API_URL without its /api) and the hook's path. */
export function webhookUrl(webhook: Pick<Webhook, "path">, apiUrl = cliSettings().apiUrl): string {
  const url = new URL(apiUrl);
  return `${url.origin}${url.pathname.replace(/\/+$/, "").replace(/\/api$/, "")}${webhook.path}`;
}

function parseTemplate(text: string): WebhookTemplate {
  let template: unknown;
  try {
    template = JSON.parse(text);
  } catch (error) {
    throw new BatonError(
      "invalid_argument",
      `--template is not JSON (${(error as Error).message}): write it as '{"event": "github.push", "payload": "{{ body }}"}'`,
    );
  }
  if (typeof template !== "object" || template === null || Array.isArray(template)) {
    throw new BatonError("invalid_argument", `--template must be a JSON object with an "event"`);
  }
  return template as WebhookTemplate;
}

/** The token to set: given, made here (and printed once), none (false), or left as it is (undefined). */
function tokenOf(options: ChangeOptions): { token?: string | null; generated?: string } {
  if (options.generateToken && typeof options.token === "string") {
    throw new BatonError("invalid_argument", "give --token or --generate-token, not both");
  }
  if (options.generateToken) {
    const generated = randomBytes(24).toString("base64url");
    return { token: generated, generated };
  }
  if (options.token === false) return { token: null };
  if (typeof options.token === "string") return { token: options.token };
  return {};
}

const status = (webhook: Webhook) => (webhook.enabled ? "enabled" : flag(true, "disabled"));

function printToken(generated: string | undefined): void {
  if (generated === undefined) return;
  print(
    `Token (shown once; callers send it as 'Authorization: Bearer <token>' or an 'X-Baton-Webhook-Token' header): ${generated}`,
  );
}

/** Options shared by create and update. */
function changeOptions(command: Command): Command {
  return command
    .option(
      "--template <json>",
      'how a request becomes an event: {"event": …, "resource"?: …, "payload"?: …}',
    )
    .option("--description <text>", "what the webhook is for")
    .option("--token <token>", "a token callers must send (16 characters at least)")
    .option("--generate-token", "make a random token callers must send, and print it once");
}

export function webhookCommand(): Command {
  const group = new Command("webhook").description(
    "Manage incoming webhooks: URLs (/hooks/<slug>) that turn HTTP requests into events",
  );

  group
    .command("ls")
    .description("List webhooks with their URLs")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const webhooks = await allPages((offset) => client.api.listWebhooks({ query: { limit: 200, offset } }));
      if (options.json)
        return printJson(webhooks.map((webhook) => ({ ...webhook, url: webhookUrl(webhook) })));
      print(
        table(
          ["NAME", "STATUS", "TOKEN", "EVENT", "URL"],
          webhooks.map((webhook) => [
            webhook.name,
            status(webhook),
            webhook.hasToken ? "yes" : "no",
            webhook.template.event,
            webhookUrl(webhook),
          ]),
          "No webhooks; create one with 'baton webhook create NAME --template …'.",
        ),
      );
    });

  group
    .command("inspect")
    .description("Show a webhook: its URL, template and whether it needs a token")
    .argument("<name>", "webhook name")
    .option("--json", "print JSON")
    .action(async (name: string, options: JsonOption) => {
      const webhook = await apiClient().api.readWebhook({ params: { name } });
      const url = webhookUrl(webhook);
      if (options.json) return printJson({ ...webhook, url });
      print(
        details([
          ["Name", webhook.name],
          ["Id", webhook.id],
          ["Status", status(webhook)],
          ["URL", url],
          ["Token", webhook.hasToken ? "required" : "none"],
          ["Description", webhook.description ?? "-"],
          ["Template", JSON.stringify(webhook.template)],
          ["Created", time(webhook.created)],
          ["Updated", time(webhook.updated)],
        ]),
      );
    });

  changeOptions(
    group
      .command("create")
      .description("Create a webhook and print its URL (see docs/automations.md#incoming-webhooks)")
      .argument("<name>", "webhook name"),
  )
    .option("--disabled", "create it disabled (it answers 404 until enabled)")
    .action(async (name: string, options: ChangeOptions & { disabled?: boolean }) => {
      if (options.template === undefined) {
        throw new BatonError(
          "invalid_argument",
          `a webhook needs --template, such as '{"event": "github.push", "payload": "{{ body }}"}'`,
        );
      }
      const template = parseTemplate(options.template);
      const { token, generated } = tokenOf(options);
      const webhook = await apiClient().api.createWebhook({
        body: {
          name,
          template,
          ...(options.description !== undefined ? { description: options.description } : {}),
          ...(options.disabled ? { enabled: false } : {}),
          ...(token ? { token } : {}),
        },
      });
      print(
        `Created webhook '${webhook.name}'${webhook.enabled ? "" : " (disabled)"}: ${webhookUrl(webhook)}`,
      );
      printToken(generated);
    });

  changeOptions(
    group
      .command("update")
      .description("Change a webhook: template, description, token, enabled, or a new URL")
      .argument("<name>", "webhook name"),
  )
    .option("--no-token", "stop requiring a token")
    .option("--enable", "answer requests again")
    .option("--disable", "answer 404 to every request until enabled")
    .option("--new-url", "give the webhook a new URL (the old one stops working)")
    .action(
      async (
        name: string,
        options: ChangeOptions & { enable?: boolean; disable?: boolean; newUrl?: boolean },
      ) => {
        if (options.enable && options.disable) {
          throw new BatonError("invalid_argument", "give --enable or --disable, not both");
        }
        const { token, generated } = tokenOf(options);
        const body: WebhookUpdate = {
          ...(options.template !== undefined ? { template: parseTemplate(options.template) } : {}),
          ...(options.description !== undefined ? { description: options.description } : {}),
          ...(options.enable ? { enabled: true } : options.disable ? { enabled: false } : {}),
          ...(token !== undefined ? { token } : {}),
          ...(options.newUrl ? { newSlug: true } : {}),
        };
        if (Object.keys(body).length === 0) {
          throw new BatonError(
            "invalid_argument",
            "nothing to change: give --template, --description, --token, --generate-token, --no-token, --enable, --disable or --new-url",
          );
        }
        const webhook = await apiClient().api.updateWebhook({ params: { name }, body });
        print(
          `Updated webhook '${webhook.name}' (${webhook.enabled ? "enabled" : "disabled"}): ${webhookUrl(webhook)}`,
        );
        printToken(generated);
      },
    );

  group
    .command("delete")
    .description("Delete a webhook (its URL answers 404 from then on)")
    .argument("<name>", "webhook name")
    .action(async (name: string) => {
      await apiClient().api.deleteWebhook({ params: { name } });
      print(`Deleted webhook '${name}'.`);
    });
  return group;
}
