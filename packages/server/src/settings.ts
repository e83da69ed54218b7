import { homedir } from "node:os";
import { join } from "node:path";
import { DEFAULT_INPUT_LIMITS, type InputLimits } from "./api/body.js";
import { DEFAULT_POOL_SIZE } from "./db/database.js";

/** The environment variable of each input limit (checked as requests arrive: api/body.ts). */
const INPUT_LIMIT_VARIABLES: Record<keyof InputLimits, string> = {
  maxJsonDepth: "BATON_MAX_JSON_DEPTH",
  maxParametersBytes: "BATON_MAX_PARAMETERS_BYTES",
  maxLabelsBytes: "BATON_MAX_LABELS_BYTES",
  maxJobVariablesBytes: "BATON_MAX_JOB_VARIABLES_BYTES",
  maxResultBytes: "BATON_MAX_RESULT_BYTES",
  maxLogLineBytes: "BATON_MAX_LOG_LINE_BYTES",
  maxEventPayloadBytes: "BATON_MAX_EVENT_PAYLOAD_BYTES",
  maxArtifactBytes: "BATON_MAX_ARTIFACT_BYTES",
};

/** Input limits (api/body.ts): JSON nesting depth, and bytes of each stored field. */
export interface ServerSettings extends InputLimits {
  host: string;
  port: number;
  /** A postgres:// URL, or a SQLite file path. */
  databaseUrl: string;
  /** Connections to PostgreSQL for requests and services, at most (docs/production.md sizes them). */
  databasePoolSize: number;
  apiKey: string | undefined;
  /** A token that reads `/api/metrics` only (`Authorization: Bearer <token>`), beside the API key. */
  metricsToken: string | undefined;
  /** The key secrets are encrypted with (32 bytes, base64 or hex); `$BATON_HOME/secrets.key` when unset. */
  secretsKey: string | undefined;
  /** Host names the server answers to besides IP addresses, loopback names and `host`; "*" for any (docs/security.md). */
  allowedHosts: string[];
  /** Origins (scheme://host:port) of dashboards on other sites that may call the API; CORS is off when empty. */
  corsOrigins: string[];
  home: string;
  logLevel: LogLevel;
  /** The server's log lines: JSON, one object per line with request ids (pino's), or pretty for people. */
  logFormat: LogFormat;
  /** Run the background services (scheduler, late runs, crashed runs) in this server. */
  services: boolean;
  /** How often each background service looks at the store. */
  serviceLoopSeconds: number;
  /** A run whose process has not said it is alive for this long is marked CRASHED. */
  flowRunHeartbeatTimeoutSeconds: number;
  /** A scheduled run not started this long after its time is marked Late. */
  lateRunsAfterSeconds: number;
  /** Stored events (and finished action runs) older than this are deleted. */
  eventRetentionDays: number;
  /** Finished flow runs that ended longer ago than this are deleted with all they hold; 0 keeps them. */
  runRetentionDays: number;
  /** The dashboard's address for links in notifications; the server's own URL when unset. */
  uiUrl: string | undefined;
  /** How many times an automation's action is tried before it is marked FAILED. */
  actionMaxAttempts: number;
  /** The delay before the second attempt of an action; it doubles after each failure. */
  actionRetrySeconds: number;
  /**
   * Where OpenTelemetry spans go over OTLP/HTTP (a collector's `/v1/traces`): traces are off, and cost
   * nothing, when unset (docs/operations.md).
   */
  tracesEndpoint: string | undefined;
  /** The `service.name` of the server's spans. */
  serviceName: string;
}

/** A numeric setting from the environment variable `name`, if set; anything else than a number of `min` or more is refused. */
function number(env: NodeJS.ProcessEnv, name: string, min = 0): number | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === "") return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < min) {
    throw new Error(`${name} must be a number of ${min} or more, not '${value}': fix it or unset it`);
  }
  return parsed;
}

export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const LOG_FORMATS = ["json", "pretty"] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** A setting from the environment variable `name` that must be one of `allowed`, if set. */
function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[]): T | undefined {
  const value = env[name];
  if (value === undefined || value.trim() === "") return undefined;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new Error(`${name} must be one of ${allowed.join(", ")}, not '${value}': fix it or unset it`);
  }
  return value as T;
}

/** A comma-separated list, blanks dropped. */
const list = (value: string | undefined): string[] =>
  (value ?? "")
    .split(",")
    .map((item) => item.trim())
    .filter(Boolean);

/** Reads BATON_* environment variables over defaults; explicit options win over both. */
export function serverSettings(
  overrides: Partial<ServerSettings> = {},
  env: NodeJS.ProcessEnv = process.env,
): ServerSettings {
  const home = overrides.home ?? (env.BATON_HOME || undefined) ?? join(homedir(), ".baton");
  return {
    host: overrides.host ?? (env.BATON_SERVER_HOST || undefined) ?? "127.0.0.1",
    port: overrides.port ?? Number(env.BATON_SERVER_PORT || 4200),
    databaseUrl: overrides.databaseUrl ?? (env.BATON_DATABASE_URL || undefined) ?? join(home, "baton.db"),
    databasePoolSize:
      overrides.databasePoolSize ?? number(env, "BATON_DATABASE_POOL_SIZE", 1) ?? DEFAULT_POOL_SIZE,
    apiKey: overrides.apiKey ?? (env.BATON_API_KEY || undefined),
    metricsToken: overrides.metricsToken ?? (env.BATON_METRICS_TOKEN || undefined),
    secretsKey: overrides.secretsKey ?? (env.BATON_SECRETS_KEY || undefined),
    allowedHosts: overrides.allowedHosts ?? list(env.BATON_ALLOWED_HOSTS),
    corsOrigins: overrides.corsOrigins ?? list(env.BATON_CORS_ORIGINS),
    home,
    logLevel: overrides.logLevel ?? oneOf(env, "BATON_LOG_LEVEL", LOG_LEVELS) ?? "warn",
    logFormat: overrides.logFormat ?? oneOf(env, "BATON_LOG_FORMAT", LOG_FORMATS) ?? "json",
    services: overrides.services ?? env.BATON_SERVICES !== "false",
    serviceLoopSeconds: overrides.serviceLoopSeconds ?? number(env, "BATON_SERVICE_LOOP_SECONDS") ?? 5,
    flowRunHeartbeatTimeoutSeconds:
      overrides.flowRunHeartbeatTimeoutSeconds ??
      number(env, "BATON_FLOW_RUN_HEARTBEAT_TIMEOUT_SECONDS") ??
      90,
    lateRunsAfterSeconds:
      overrides.lateRunsAfterSeconds ?? number(env, "BATON_LATE_RUNS_AFTER_SECONDS") ?? 15,
    eventRetentionDays: overrides.eventRetentionDays ?? number(env, "BATON_EVENT_RETENTION_DAYS") ?? 7,
    runRetentionDays: overrides.runRetentionDays ?? number(env, "BATON_RUN_RETENTION_DAYS") ?? 0,
    uiUrl: overrides.uiUrl ?? (env.BATON_UI_URL || undefined),
    actionMaxAttempts: overrides.actionMaxAttempts ?? number(env, "BATON_ACTION_MAX_ATTEMPTS") ?? 5,
    actionRetrySeconds: overrides.actionRetrySeconds ?? number(env, "BATON_ACTION_RETRY_SECONDS") ?? 5,
    tracesEndpoint: overrides.tracesEndpoint ?? otlpTracesEndpoint(env),
    serviceName: overrides.serviceName ?? (env.OTEL_SERVICE_NAME || undefined) ?? "baton-server",
    ...inputLimits(overrides, env),
  };
}

/**
 * OpenTelemetry's own variables, read as its exporters read them: the traces endpoint as it is, or
 * the general endpoint with the traces path appended.
 */
function otlpTracesEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  if (traces) return traces;
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return base ? `${base.replace(/\/+$/, "")}/v1/traces` : undefined;
}

function inputLimits(overrides: Partial<InputLimits>, env: NodeJS.ProcessEnv): InputLimits {
  const limits = { ...DEFAULT_INPUT_LIMITS };
  for (const [key, variable] of Object.entries(INPUT_LIMIT_VARIABLES) as [keyof InputLimits, string][]) {
    limits[key] = overrides[key] ?? number(env, variable) ?? limits[key];
  }
  return limits;
}
