import { z } from "zod";
import { customEventNameProblem } from "../events.js";
import { Id, JsonObject, Name, Timestamps } from "./common.js";

/** The path incoming webhooks are served under, outside /api: `/hooks/<slug>`. */
export const WEBHOOK_PATH_PREFIX = "/hooks/";

const TemplateText = z.string().min(1).max(1000);

/**
 * How a webhook turns a request into an event. Its strings are templates over the request:
 * `{{ body.<field> }}`, `{{ headers.<lower-cased name> }}`, `{{ query.<name> }}`, `{{ method }}`
 * (looked up, never evaluated). In `payload`, a string that is one template and nothing else keeps
 * the value's type (`"{{ body }}"` is the whole body).
 */
export const WebhookTemplate = z.strictObject({
  /** The event's name, or a template that renders to one (`github.{{ headers.x-github-event }}`). */
  event: TemplateText.superRefine((event, context) => {
    if (event.includes("{{")) return;
    const problem = customEventNameProblem(event);
    if (problem) context.addIssue({ code: "custom", message: `'${event.slice(0, 120)}' ${problem}` });
  }),
  /** What the event is about; `{ kind: "webhook", id: <webhook name> }` when left out. */
  resource: z.strictObject({ kind: TemplateText, id: TemplateText }).optional(),
  /** The event's payload: a JSON object whose strings are templates, or one template (`"{{ body }}"`). */
  payload: z.union([JsonObject, TemplateText]).optional(),
});
export type WebhookTemplate = z.infer<typeof WebhookTemplate>;

/** The payload of a template that gives none: the request's body. */
export const DEFAULT_WEBHOOK_PAYLOAD = { body: "{{ body }}" } as const;

/** A secret a caller must send (`Authorization: Bearer <token>` or `X-Baton-Webhook-Token`). */
const WebhookToken = z
  .string()
  .min(16, "a webhook token must be 16 characters at least (baton webhook create --generate-token makes one)")
  .max(500);

export const Webhook = z.object({
  id: Id,
  name: Name,
  description: z.string().nullable(),
  enabled: z.boolean(),
  /** The unguessable last part of the webhook's URL. */
  slug: z.string(),
  /** Where it is served, under the server's address: `/hooks/<slug>`. */
  path: z.string(),
  template: WebhookTemplate,
  /** Whether callers must send the webhook's token (which is never shown again). */
  hasToken: z.boolean(),
  ...Timestamps,
});
export type Webhook = z.infer<typeof Webhook>;

export const WebhookCreate = z.strictObject({
  name: Name,
  description: z.string().max(10_000).nullish(),
  enabled: z.boolean().default(true),
  template: WebhookTemplate,
  token: WebhookToken.nullish(),
});
export type WebhookCreate = z.input<typeof WebhookCreate>;

/** `token: null` stops requiring one; `newSlug: true` gives the webhook a new URL (the old one stops). */
export const WebhookUpdate = z.strictObject({
  description: z.string().max(10_000).nullish(),
  enabled: z.boolean().optional(),
  template: WebhookTemplate.optional(),
  token: WebhookToken.nullish(),
  newSlug: z.boolean().optional(),
});
export type WebhookUpdate = z.input<typeof WebhookUpdate>;
