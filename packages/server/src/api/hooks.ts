/**
 * Incoming webhooks: `/hooks/<slug>`, outside /api, answers any request by storing an event made by
 * the webhook's template from the request's body, headers, query and method. External systems call
 * it without the API key (the guard lets this one route through, guard.ts): the unguessable slug and
 * the webhook's own token, when it has one, guard it instead. A disabled or unknown webhook is a 404,
 * the same answer, so that neither can be told from the other.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyRequest } from "fastify";
import {
  BatonError,
  DEFAULT_WEBHOOK_PAYLOAD,
  EventCreate,
  renderTemplate,
  renderTyped,
  WEBHOOK_PATH_PREFIX,
  type JsonObject,
  type Webhook,
} from "@baton/core";
import type { StoreContext } from "../store/context.js";
import { createEvent } from "../store/events.js";
import { webhookBySlug } from "../store/webhooks.js";
import { WEBHOOK_ROUTE } from "./guard.js";

/** The header a caller may send the token in, instead of `Authorization: Bearer`. */
export const WEBHOOK_TOKEN_HEADER = "x-baton-webhook-token";
/** A webhook's request body, at most (the event's payload is held to its own limit after). */
export const WEBHOOK_BODY_LIMIT = 1024 * 1024;

type Json = JsonObject[string];

/** A problem answered with an HTTP status of its own. */
class HookError extends BatonError {
  constructor(
    private readonly status: number,
    code: ConstructorParameters<typeof BatonError>[0],
    message: string,
  ) {
    super(code, message);
  }
  override get httpStatus(): number {
    return this.status;
  }
}

const sha256 = (text: string): Buffer => createHash("sha256").update(text).digest();

function tokenGiven(request: FastifyRequest): string | undefined {
  const header = request.headers[WEBHOOK_TOKEN_HEADER];
  const fromHeader = Array.isArray(header) ? header[0] : header;
  const bearer = /^bearer[ \t]+(.+)$/i.exec(request.headers.authorization ?? "")?.[1]?.trim();
  return fromHeader?.trim() || bearer || undefined;
}

/** Form fields: a name given more than once is a list of its values. */
function formFields(text: string): JsonObject {
  const fields: Record<string, string | string[]> = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const seen = fields[key];
    fields[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return fields;
}

/** What a template sees: the body as parsed, headers lower-cased (no credentials), the query, the method. */
function requestValues(request: FastifyRequest): JsonObject {
  const headers: JsonObject = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value === undefined || name === "authorization" || name === WEBHOOK_TOKEN_HEADER) continue;
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return {
    body: (request.body ?? null) as Json,
    headers,
    query: (request.query ?? {}) as JsonObject,
    method: request.method,
  };
}

/** The event a request makes by the webhook's template, validated as any custom event is. */
function eventOf(webhook: Webhook, values: JsonObject, maxPayloadBytes: number) {
  const { template } = webhook;
  const payload = renderTyped(template.payload ?? DEFAULT_WEBHOOK_PAYLOAD, values);
  const draft = {
    event: renderTemplate(template.event, values),
    resource: template.resource
      ? {
          kind: renderTemplate(template.resource.kind, values),
          id: renderTemplate(template.resource.id, values),
        }
      : { kind: "webhook", id: webhook.name },
    payload,
  };
  const parsed = EventCreate.safeParse(draft);
  if (!parsed.success) {
    const why = parsed.error.issues.map((issue) => `${issue.path.join(".") || "event"}: ${issue.message}`);
    throw new HookError(
      400,
      "invalid_argument",
      `webhook '${webhook.name}' made no valid event of this request by its template (${why.join("; ")}): send what the template expects, or change it with 'baton webhook update ${webhook.name} --template …'`,
    );
  }
  const size = Buffer.byteLength(JSON.stringify(parsed.data.payload ?? {}));
  if (size > maxPayloadBytes) {
    throw new HookError(
      413,
      "invalid_argument",
      `the event's payload would be ${size} bytes, over the server's limit of ${maxPayloadBytes} bytes (BATON_MAX_EVENT_PAYLOAD_BYTES): send less`,
    );
  }
  return parsed.data;
}

/** Registers `/hooks/:slug` for every method, with the body parsers webhooks take (JSON, forms, text). */
export async function registerHooks(
  app: FastifyInstance,
  ctx: StoreContext,
  limits: { maxEventPayloadBytes: number },
): Promise<void> {
  await app.register(async (hooks) => {
    // JSON goes through the app's parser (depth and NUL checks); text/plain has Fastify's own.
    hooks.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string" },
      (_request, body, done) => done(null, formFields(body as string)),
    );
    hooks.addContentTypeParser(/^text\/.+/, { parseAs: "string" }, (_request, body, done) =>
      done(null, body),
    );

    hooks.route({
      method: ["GET", "POST", "PUT", "PATCH", "DELETE"],
      url: WEBHOOK_ROUTE,
      // A HEAD (a link checker, a monitor) makes no event.
      exposeHeadRoute: false,
      bodyLimit: WEBHOOK_BODY_LIMIT,
      schema: { hide: true },
      handler: async (request, reply) => {
        const { slug } = request.params as { slug: string };
        const found = await webhookBySlug(ctx, slug);
        if (!found || !found.webhook.enabled) {
          throw new HookError(404, "not_found", `no webhook at ${WEBHOOK_PATH_PREFIX}${slug}`);
        }
        const { webhook, tokenHash } = found;
        if (tokenHash !== null) {
          const given = tokenGiven(request);
          if (given === undefined) {
            reply.header("www-authenticate", "Bearer");
            throw new HookError(
              401,
              "unauthenticated",
              `webhook '${webhook.name}' needs its token: send it as 'Authorization: Bearer <token>' or in an '${WEBHOOK_TOKEN_HEADER}' header`,
            );
          }
          // Digests of equal length, compared in constant time.
          if (!timingSafeEqual(sha256(given), Buffer.from(tokenHash, "hex"))) {
            throw new HookError(
              403,
              "permission_denied",
              `the token sent is not webhook '${webhook.name}''s`,
            );
          }
        }
        const event = await createEvent(
          ctx,
          eventOf(webhook, requestValues(request), limits.maxEventPayloadBytes),
        );
        return reply.code(202).send({ id: event.id, event: event.name });
      },
    });
  });
}
