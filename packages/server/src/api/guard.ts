/**
 * The guard at the HTTP edge, on every request: which Host names the server answers to (against DNS
 * rebinding), which browser origins may use it (against cross-site requests), that a state change
 * cannot come from an HTML form, and the API key. The key is decided on the route the router
 * matched, never on the raw URL: however a path is spelled (percent-encoded, absolute-form, other
 * case or slashes), it reaches either the same route, and so the same decision, or no route at all.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { isIP } from "node:net";
import fastifyCors from "@fastify/cors";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { BatonError, WEBHOOK_PATH_PREFIX } from "@baton/core";

export interface GuardOptions {
  /** When set, every API route but the public ones below needs `Authorization: Bearer <key>`. */
  apiKey: string | undefined;
  /** When set, `/api/metrics` also answers `Authorization: Bearer <token>` (BATON_METRICS_TOKEN). */
  metricsToken?: string | undefined;
  /** The address the server listens on: its name is accepted as a Host. */
  boundHost: string;
  /** More Host names to answer to (BATON_ALLOWED_HOSTS); "*" answers to any. */
  allowedHosts: readonly string[];
  /** Origins of dashboards on other sites that may call the API (BATON_CORS_ORIGINS); none: CORS is off. */
  corsOrigins: readonly string[];
}

/**
 * The one allow-list of API routes that need no key, by the route's pattern: each answers nothing
 * secret (health and readiness, the OpenAPI document and its docs). Every other route under /api,
 * including any added later, needs the key.
 */
const PUBLIC_ROUTES = new Set(["/api/health", "/api/ready", "/api/openapi.json", "/api/docs"]);
const PUBLIC_ROUTE_PREFIXES = ["/api/docs/"];

/**
 * Prometheus' route: it takes the API key, or the metrics token, which opens nothing else (so that a
 * scraper's configuration holds no key to the whole API). With a token and no key it needs the token.
 */
export const METRICS_ROUTE = "/api/metrics";

/**
 * Incoming webhooks' one route, outside /api, by its pattern: it needs no API key (the systems that
 * call it have none) and takes forms and text as well as JSON; the webhook's own token guards it
 * (api/hooks.ts). A request the router matched to no route is judged by `isApiPath`, so no spelling
 * of an /api path (`/hooks/../api/…`, `/%68ooks/…`) reaches an API route without the key.
 */
export const WEBHOOK_ROUTE = `${WEBHOOK_PATH_PREFIX}:slug`;

/** The methods that change something; a browser can send them cross-site from a form or a no-cors fetch. */
const STATE_CHANGING = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The header BatonClient sends: a page on another site cannot send it without a CORS preflight. */
export const CLIENT_HEADER = "x-baton-client";

const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Whether a request target names something under /api, however it is spelled: absolute-form,
 * percent-encoded, any case, doubled slashes or backslashes, dot segments, trailing dots. Used for
 * the requests no route matched, so that none of them is answered as the dashboard or without the key.
 */
export function isApiPath(target: string): boolean {
  let path = (target.split("?")[0] ?? "").replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, "");
  for (let round = 0; round < 3; round++) {
    try {
      const decoded = decodeURIComponent(path);
      if (decoded === path) break;
      path = decoded;
    } catch {
      break;
    }
  }
  const segments: string[] = [];
  for (const raw of path.split(/[\\/]+/)) {
    const segment = raw.split(";")[0]?.trim() ?? "";
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment.replace(/[.\s]+$/, "").toLowerCase());
  }
  return segments[0] === "api";
}

/** The bare name of a Host (`[::1]:4200` → `::1`, `Example.COM.:80` → `example.com`). */
function hostnameOf(host: string): string {
  const bracketed = /^\[([^\]]*)\](?::\d*)?$/.exec(host);
  const name = bracketed ? (bracketed[1] ?? "") : host.replace(/:\d*$/, "");
  return name.toLowerCase().replace(/\.$/, "");
}

function refuse(reply: FastifyReply, status: number, error: BatonError): FastifyReply {
  return reply
    .code(status)
    .type("application/problem+json")
    .send({ ...error.toProblem(), status });
}

/** 401 with the Bearer challenge: no credentials, or not the right ones. */
function unauthenticated(reply: FastifyReply, message: string): FastifyReply {
  reply.header("www-authenticate", "Bearer");
  return refuse(reply, 401, new BatonError("unauthenticated", message));
}

const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

/** Installs the guard's hooks (and CORS, when origins are allowed) on the whole app. */
export async function installGuard(app: FastifyInstance, options: GuardOptions): Promise<void> {
  const anyHost = options.allowedHosts.includes("*");
  const namedHosts = new Set([options.boundHost, ...options.allowedHosts].map(hostnameOf));
  const corsOrigins = new Set(options.corsOrigins.map(originOf));
  // Digests of equal length, compared in constant time: neither the key nor its length leaks.
  const expectedKey = options.apiKey ? digest(options.apiKey) : undefined;
  const expectedMetricsToken = options.metricsToken ? digest(options.metricsToken) : undefined;

  /**
   * A name a DNS rebinding attack cannot use: an IP address (the page's origin is then that address,
   * not the attacker's name), a loopback name, the bound host, or a configured name.
   */
  const hostAccepted = (host: string): boolean => {
    const name = hostnameOf(host);
    return (
      anyHost ||
      isIP(name) !== 0 ||
      name === "localhost" ||
      name.endsWith(".localhost") ||
      namedHosts.has(name)
    );
  };

  /** Our own origin (the page was served by this server under this Host), or an allowed one. */
  const originAccepted = (origin: string, host: string): boolean => {
    if (corsOrigins.has(origin)) return true;
    try {
      const url = new URL(origin);
      return (url.protocol === "http:" || url.protocol === "https:") && url.host === host.toLowerCase();
    } catch {
      return false;
    }
  };

  const needsKey = (request: FastifyRequest): boolean => {
    const route = request.routeOptions.url;
    if (route === undefined) return isApiPath(request.url);
    if (route !== "/api" && !route.startsWith("/api/")) return false;
    return !PUBLIC_ROUTES.has(route) && !PUBLIC_ROUTE_PREFIXES.some((prefix) => route.startsWith(prefix));
  };

  const keyGiven = (request: FastifyRequest): string | undefined =>
    /^bearer[ \t]+(.+)$/i.exec(request.headers.authorization ?? "")?.[1]?.trim() || undefined;

  if (corsOrigins.size > 0) {
    // Registered before the guard's hook, so that the guard's refusals carry CORS headers too and an
    // allowed dashboard can read why it was refused.
    await app.register(fastifyCors, {
      origin: [...corsOrigins],
      methods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
      allowedHeaders: ["authorization", "content-type", "accept", "last-event-id", CLIENT_HEADER],
      maxAge: 600,
    });
  }

  app.addHook("onRequest", async (request, reply) => {
    const host = request.headers.host ?? "";
    // An absolute-form target names a host of its own, which HTTP says wins over the Host header.
    const targetHost = ABSOLUTE_FORM.test(request.url) ? hostOfTarget(request.url) : undefined;
    for (const name of targetHost === undefined ? [host] : [host, targetHost]) {
      if (!hostAccepted(name)) {
        return refuse(
          reply,
          400,
          new BatonError(
            "invalid_argument",
            `this server does not answer to the host '${name}' (a guard against DNS rebinding): add the name it is reached by to BATON_ALLOWED_HOSTS (comma-separated), or set BATON_ALLOWED_HOSTS=* behind a proxy that checks it`,
          ),
        );
      }
    }

    const origin = request.headers.origin;
    if (origin !== undefined && !originAccepted(origin, host)) {
      return refuse(
        reply,
        403,
        new BatonError(
          "permission_denied",
          `a page from '${origin}' may not use this server: it is not the server's own origin nor in BATON_CORS_ORIGINS. To let a dashboard served from another origin call the API, add that origin (scheme://host:port) to BATON_CORS_ORIGINS`,
        ),
      );
    }

    if (request.routeOptions.url === METRICS_ROUTE) {
      if (expectedKey || expectedMetricsToken) {
        const given = keyGiven(request);
        const sent = given === undefined ? undefined : digest(given);
        // Both compared whatever the first answers, in constant time.
        const asKey = sent !== undefined && expectedKey !== undefined && timingSafeEqual(sent, expectedKey);
        const asToken =
          sent !== undefined &&
          expectedMetricsToken !== undefined &&
          timingSafeEqual(sent, expectedMetricsToken);
        if (!asKey && !asToken) {
          const accepted = [
            expectedKey ? "the API key" : "",
            expectedMetricsToken ? "BATON_METRICS_TOKEN" : "",
          ]
            .filter(Boolean)
            .join(" or ");
          return unauthenticated(
            reply,
            given === undefined
              ? `the metrics need ${accepted}, sent as 'Authorization: Bearer <token>' (in Prometheus: authorization.credentials of the scrape job)`
              : `the token sent for the metrics is not ${accepted} of this server`,
          );
        }
      }
    } else if (expectedKey && needsKey(request)) {
      const given = keyGiven(request);
      if (given === undefined || !timingSafeEqual(digest(given), expectedKey)) {
        return unauthenticated(
          reply,
          given === undefined
            ? "this server requires an API key: set BATON_API_KEY to the server's key (sent as 'Authorization: Bearer <key>')"
            : "the API key sent is not this server's: set BATON_API_KEY to the server's key",
        );
      }
    }

    // Only a route can change anything: an unknown one is left to answer 404.
    const matched = request.routeOptions.url !== undefined;
    if (
      matched &&
      request.routeOptions.url !== WEBHOOK_ROUTE &&
      STATE_CHANGING.has(request.method) &&
      !isJson(request) &&
      !request.headers[CLIENT_HEADER]
    ) {
      return refuse(
        reply,
        415,
        new BatonError(
          "invalid_argument",
          `${request.method} requests must send 'content-type: application/json', or an '${CLIENT_HEADER}' header when they have no body, so that no HTML form or simple cross-site request can change anything`,
        ),
      );
    }
  });
}

function isJson(request: FastifyRequest): boolean {
  const type = request.headers["content-type"] ?? "";
  return type.split(";")[0]?.trim().toLowerCase() === "application/json";
}

function hostOfTarget(target: string): string {
  try {
    return new URL(target).host;
  } catch {
    return "";
  }
}

/** An allowed origin as a browser sends it (`scheme://host[:port]`, default port left out). */
function originOf(entry: string): string {
  let url: URL | undefined;
  try {
    url = new URL(entry);
  } catch {
    url = undefined;
  }
  const bare = url && url.pathname === "/" && !url.search && !url.hash && !url.username && !url.password;
  if (!url || !bare || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new BatonError(
      "invalid_argument",
      `BATON_CORS_ORIGINS has '${entry}', which is not an origin: write each as scheme://host[:port], e.g. https://dashboard.example.com, comma-separated`,
    );
  }
  return url.origin;
}
