import { homedir } from "node:os";
import { join } from "node:path";

export interface ServerSettings {
  host: string;
  port: number;
  /** A postgres:// URL, or a SQLite file path. */
  databaseUrl: string;
  apiKey: string | undefined;
  home: string;
  logLevel: string;
}

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
    apiKey: overrides.apiKey ?? (env.BATON_API_KEY || undefined),
    home,
    logLevel: overrides.logLevel ?? (env.BATON_LOG_LEVEL || undefined) ?? "warn",
  };
}
