import { BatonClient } from "@baton/client";

/** Where the CLI finds the API: the one place that reads BATON_API_URL and BATON_API_KEY. */
export interface CliSettings {
  apiUrl: string;
  apiKey: string | undefined;
}

export const DEFAULT_API_URL = "http://127.0.0.1:4200/api";

export function cliSettings(env: NodeJS.ProcessEnv = process.env): CliSettings {
  return {
    apiUrl: env.BATON_API_URL?.trim() || DEFAULT_API_URL,
    apiKey: env.BATON_API_KEY?.trim() || undefined,
  };
}

/** A client for the configured API. */
export function apiClient(settings: CliSettings = cliSettings()): BatonClient {
  return new BatonClient({ url: settings.apiUrl, ...(settings.apiKey ? { apiKey: settings.apiKey } : {}) });
}
