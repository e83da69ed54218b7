import { existsSync } from "node:fs";
import { join } from "node:path";
import type { ServerResponse } from "node:http";
import fastifyStatic from "@fastify/static";
import fastifySwagger from "@fastify/swagger";
import fastifySwaggerUi from "@fastify/swagger-ui";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { validatorCompiler } from "fastify-type-provider-zod";
import { z } from "zod";
import { BatonError, routes, type FieldIssue, type RouteName, type RouteSpec } from "@baton/core";
import { ServerMetrics } from "../metrics.js";
import type { ServerTraces } from "../traces.js";
import type { StoreContext } from "../store/context.js";
import { installGuard, isApiPath } from "./guard.js";
import { answerClientError, DEFAULT_INPUT_LIMITS, guardInput, type InputLimits } from "./body.js";
import { registerEventStream } from "./event-stream.js";
import { registerHooks } from "./hooks.js";
import { makeHandlers } from "./handlers.js";
import { sharedDefinitionsTransforms } from "./openapi.js";

export interface AppOptions {
  ctx: StoreContext;
  version: string;
  /** When set, every API route but the few public ones (see guard.ts) needs `Authorization: Bearer <key>`. */
  apiKey?: string | undefined;
  /** When set, `/api/metrics` also answers this token (see guard.ts). */
  metricsToken?: string | undefined;
  /** The server's metrics (`/api/metrics`); made here over `ctx` when not given. */
  metrics?: ServerMetrics;
  /** The server's traces, when exported (OTEL_EXPORTER_OTLP_ENDPOINT); null or absent when off. */
  traces?: ServerTraces | null;
  /** The address listened on, and the other Host names and browser origins accepted (see guard.ts). */
  boundHost?: string;
  allowedHosts?: readonly string[];
  corsOrigins?: readonly string[];
  /** The built dashboard to serve at /; none when absent. */
  dashboardDir?: string | undefined;
  logLevel?: string;
  /** Where log lines go instead of stdout (tests read them). */
  logStream?: LogStream | undefined;
  /** JSON depth and stored-field sizes a request may have (see body.ts). */
  inputLimits?: InputLimits;
}

/** A destination for the server's log lines, one JSON object per line. */
export interface LogStream {
  write(line: string): void;
}

function sendProblem(reply: FastifyReply, error: BatonError): FastifyReply {
  return reply.code(error.httpStatus).type("application/problem+json").send(error.toProblem());
}

interface ZodIssueLike {
  instancePath: string;
  message: string;
  keyword: string;
  params: { keys?: string[] };
}

/** Turns a request that failed validation into one clear message naming each field. */
function validationProblem(error: FastifyError & { validationContext?: string }): BatonError {
  const where = error.validationContext ?? "request";
  const issues: FieldIssue[] = (error.validation as unknown as ZodIssueLike[]).map((issue) => {
    const path = [where, ...issue.instancePath.split("/").filter(Boolean)].join(".");
    if (issue.keyword === "unrecognized_keys" && issue.params.keys) {
      return {
        path,
        message: `unknown field(s) ${issue.params.keys.map((key) => `'${key}'`).join(", ")}: remove them`,
      };
    }
    return { path, message: issue.message };
  });
  const detail = issues.map((issue) => `${issue.path}: ${issue.message}`).join("; ");
  return new BatonError("invalid_argument", `invalid ${where}: ${detail}`, { issues });
}

/** Every error becomes a problem document; only unexpected ones are a 500, and they are logged. */
function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof BatonError) {
    if (error.code === "internal") request.log.error({ err: error }, "internal error");
    return sendProblem(reply, error);
  }
  if (error.validation) return sendProblem(reply, validationProblem(error));
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = status === 401 ? "unauthenticated" : status === 404 ? "not_found" : "invalid_argument";
    const problem = new BatonError(code, error.message).toProblem();
    return reply
      .code(status)
      .type("application/problem+json")
      .send({ ...problem, status });
  }
  request.log.error({ err: error }, "internal error");
  return sendProblem(
    reply,
    new BatonError("internal", "the server failed to handle this request; see its log"),
  );
}

/** Operations without a query take none: an unknown parameter is refused by name, not ignored. */
const NoQuery = z.strictObject({});

/** The HTTP server: the API under /api, its OpenAPI document and docs, the event stream and the dashboard. */
/** Aborts when the client goes away before its answer is sent (a long poll stops waiting). */
function closedSignal(response: ServerResponse): AbortSignal {
  const controller = new AbortController();
  response.once("close", () => {
    if (!response.writableFinished) controller.abort();
  });
  return controller.signal;
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { ctx, apiKey } = options;
  const metrics = options.metrics ?? new ServerMetrics(ctx.db, ctx.events);
  const app = Fastify({
    logger: {
      level: options.logLevel ?? "warn",
      ...(options.logStream ? { stream: options.logStream } : {}),
    },
    bodyLimit: 16 * 1024 * 1024,
    // Closing waits for requests in flight; event streams and long polls end themselves when the server
    // stops (StoreContext.stopping), and server.ts forces what is left after a grace period.
    forceCloseConnections: "idle",
    // Above the 200 characters a name may have, so that the schemas, not the router, judge path parameters.
    routerOptions: { maxParamLength: 1000 },
    // URLs the router refuses (bad percent-encoding, over-long parameters) get problem documents too.
    frameworkErrors: (error, request, reply) => {
      void answerError(error, request, reply);
    },
    // Requests Node's parser refuses (a head over its size limit: 431) get problem documents too.
    clientErrorHandler: answerClientError,
  });
  app.setValidatorCompiler(validatorCompiler);
  // Handlers return values already shaped by the models; plain JSON keeps the hot path fast.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  app.setErrorHandler(answerError);
  guardInput(app, options.inputLimits);
  // Every answer, refusals included, by the route the router matched (a bounded set of labels); its
  // span too when traces are on (started when the request came: its answer tells how long ago).
  const traces = options.traces ?? null;
  app.addHook("onResponse", async (request, reply) => {
    metrics.request(request.method, request.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    if (traces) {
      traces.request({
        method: request.method,
        route: request.routeOptions.url,
        path: request.url.split("?")[0] ?? "",
        statusCode: reply.statusCode,
        elapsedMs: reply.elapsedTime,
        traceparent: request.headers.traceparent,
      });
    }
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split("?")[0] ?? "";
    if (!isApiPath(request.url) && request.method === "GET" && options.dashboardDir) {
      return reply.sendFile("index.html");
    }
    return sendProblem(
      reply,
      new BatonError("not_found", `no operation ${request.method} ${path}; see /api/docs for the API`),
    );
  });

  await installGuard(app, {
    apiKey,
    metricsToken: options.metricsToken,
    boundHost: options.boundHost ?? "127.0.0.1",
    allowedHosts: options.allowedHosts ?? [],
    corsOrigins: options.corsOrigins ?? [],
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: "Baton API",
        version: options.version,
        description: "Workflow orchestration for TypeScript",
      },
      servers: [{ url: "/" }],
    },
    ...sharedDefinitionsTransforms(),
  });
  await app.register(fastifySwaggerUi, { routePrefix: "/api/docs" });

  const handlers = makeHandlers(ctx, options.version);
  await app.register(
    async (api) => {
      for (const [name, spec] of Object.entries(routes) as [RouteName, RouteSpec][]) {
        const handler = handlers[name] as (request: unknown, closed: () => AbortSignal) => Promise<unknown>;
        const status = spec.status ?? 200;
        api.route({
          method: spec.method,
          url: spec.path,
          schema: {
            operationId: name,
            summary: spec.summary,
            tags: [spec.tag],
            ...(spec.params ? { params: spec.params } : {}),
            querystring: spec.query ?? NoQuery,
            ...(spec.body ? { body: spec.body } : {}),
            ...(spec.response ? { response: { [status]: spec.response } } : {}),
          },
          handler: async (request, reply) => {
            const result = await handler(
              { params: request.params ?? {}, query: request.query ?? {}, body: request.body },
              () => closedSignal(reply.raw),
            );
            reply.code(status);
            return status === 204 ? reply.send() : result;
          },
        });
      }

      api.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());

      api.get(
        "/metrics",
        {
          schema: {
            summary:
              "Prometheus metrics (text format): runs by state, work queues, workers, claims, HTTP requests, database connections, event delivery",
            tags: ["operations"],
            querystring: NoQuery,
          },
        },
        async (_request, reply) => {
          let text: string;
          try {
            text = await metrics.render();
          } catch (error) {
            throw new BatonError(
              "unavailable",
              `the metrics could not be read from the database at ${ctx.db.displayUrl}: ${error instanceof Error ? error.message : String(error)}`,
              { cause: error },
            );
          }
          return reply.type(metrics.contentType).send(text);
        },
      );

      registerEventStream(api, ctx);
    },
    { prefix: "/api" },
  );

  // Incoming webhooks, outside /api: each guarded by its own token, not the API key (see hooks.ts).
  await registerHooks(app, ctx, options.inputLimits ?? DEFAULT_INPUT_LIMITS);

  if (options.dashboardDir && existsSync(join(options.dashboardDir, "index.html"))) {
    await app.register(fastifyStatic, { root: options.dashboardDir, wildcard: false, index: "index.html" });
  } else {
    options.dashboardDir = undefined;
    app.get("/", async (_request, reply) =>
      reply
        .type("text/html")
        .send(
          '<h1>Baton</h1><p>The dashboard is not built. Run <code>npm run build</code>. The API is at <a href="/api/docs">/api/docs</a>.</p>',
        ),
    );
  }
  return app;
}
