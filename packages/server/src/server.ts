import { setMaxListeners } from "node:events";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import pinoPretty from "pino-pretty";
import { buildApp, type LogStream } from "./api/app.js";
import { migrateToLatest, openDatabase, type Db } from "./db/database.js";
import { EventBus } from "./events.js";
import { ServerMetrics } from "./metrics.js";
import type { ServerTraces } from "./traces.js";
import { PostgresEventRelay } from "./event-relay.js";
import { serverSettings, type ServerSettings } from "./settings.js";
import { loadSecretsKey } from "./secrets-key.js";
import { encryptStoredSecrets } from "./store/secrets.js";
import type { StoreContext } from "./store/context.js";
import { startServices } from "./services/index.js";
import { SERVICES } from "./services/all.js";

const require = createRequire(import.meta.url);
export const VERSION = (require("../package.json") as { version: string }).version;

/**
 * Where the built dashboard is: packages/ui/dist in the repository (@baton/ui through the workspace),
 * or the copy the published package carries (`dashboard/` beside `dist/`, put there by `npm run pack`).
 */
export function findDashboard(): string | undefined {
  try {
    return join(dirname(require.resolve("@baton/ui/package.json")), "dist");
  } catch {
    const bundled = fileURLToPath(new URL("../dashboard", import.meta.url));
    return existsSync(join(bundled, "index.html")) ? bundled : undefined;
  }
}

/** How long a stopping server lets its requests in flight finish. */
const CLOSE_GRACE_MS = 10_000;

export interface RunningServer {
  app: FastifyInstance;
  db: Db;
  ctx: StoreContext;
  settings: ServerSettings;
  /** The server's traces exporter, when OTEL_EXPORTER_OTLP_ENDPOINT (or the traces one) is set; null when off. */
  traces: ServerTraces | null;
  /** Base URL of the server, e.g. http://127.0.0.1:4200 */
  url: string;
  apiUrl: string;
  close(): Promise<void>;
}

/** Opens the store, migrates it, and listens. Port 0 picks a free port. */
export async function startServer(
  overrides: Partial<ServerSettings> & { dashboardDir?: string; logStream?: LogStream } = {},
): Promise<RunningServer> {
  const settings = serverSettings(overrides);
  const secretsKey = loadSecretsKey(settings);
  const db = openDatabase(settings.databaseUrl, settings.databasePoolSize);
  await migrateToLatest(db);
  const secrets = await encryptStoredSecrets(db, secretsKey);
  const stopping = new AbortController();
  // Every waiting long poll (claims, slot acquires) listens for the stop: as many as clients wait.
  setMaxListeners(0, stopping.signal);
  const events = new EventBus();
  const metrics = new ServerMetrics(db, events);
  const ctx: StoreContext = {
    db,
    events,
    secretsKey,
    stopping: stopping.signal,
    observer: metrics,
    resultsDirectory: join(settings.home, "results"),
  };
  // Loaded only when on: a server without traces neither loads OpenTelemetry's SDK nor makes a span.
  const traces = settings.tracesEndpoint
    ? new (await import("./traces.js")).ServerTraces(db, events, {
        endpoint: settings.tracesEndpoint,
        serviceName: settings.serviceName,
        version: VERSION,
        // Told only once runs end, when the app below is long made.
        warn: (message) => app.log.warn(message),
      })
    : null;
  const app = await buildApp({
    ctx,
    version: VERSION,
    apiKey: settings.apiKey,
    metricsToken: settings.metricsToken,
    metrics,
    traces,
    boundHost: settings.host,
    allowedHosts: settings.allowedHosts,
    corsOrigins: settings.corsOrigins,
    dashboardDir: overrides.dashboardDir ?? findDashboard(),
    logLevel: settings.logLevel,
    logStream:
      overrides.logStream ??
      (settings.logFormat === "pretty" ? pinoPretty({ colorize: process.stdout.isTTY === true }) : undefined),
    inputLimits: settings,
  });
  if (secrets.encrypted > 0) app.log.info(`encrypted ${secrets.encrypted} secret(s) stored in plain text`);
  if (secrets.otherKey.length > 0) {
    app.log.warn(
      `secrets ${secrets.otherKey.map((name) => `'${name}'`).join(", ")} were encrypted with another secrets key than this server's (${secretsKey.id}), and notifications using them will fail: give every server of this database the same BATON_SECRETS_KEY, or set them again with 'baton secret set NAME'`,
    );
  }
  // Servers sharing a PostgreSQL database hear each other's events (SQLite has one server).
  const relay =
    db.dialect === "postgres"
      ? new PostgresEventRelay(settings.databaseUrl, ctx, (message) => app.log.warn(message))
      : null;
  await relay?.start();
  const address = await app.listen({ host: settings.host, port: settings.port });
  const url = address.replace("[::1]", "localhost");
  // Links in notifications lead to this server's dashboard unless BATON_UI_URL says where it is.
  const running: ServerSettings = { ...settings, uiUrl: settings.uiUrl ?? url };
  const services = running.services ? startServices(ctx, running, SERVICES, app.log) : null;
  return {
    app,
    db,
    ctx,
    traces,
    settings: running,
    url,
    apiUrl: `${url}/api`,
    close: async () => {
      // Waiting claims answer and event streams end first, so their clients go on elsewhere; then the
      // requests in flight finish (those still open after the grace period are cut).
      stopping.abort();
      await services?.stop();
      const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
      await app.close();
      clearTimeout(cut);
      await relay?.close();
      // The spans of the runs that ended go out before the database they are read from closes.
      await traces?.close();
      metrics.close();
      await db.close();
    },
  };
}
