import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { BatonClient } from "@baton/client";

/**
 * The one place that resolves the CLI's settings. Each value comes from, in order: the
 * environment, the active profile in `$BATON_HOME/profiles.json`, the default.
 */

export const DEFAULT_API_URL = "http://127.0.0.1:4200/api";

/** The settings a profile can hold, with their defaults (undefined: none, or the server's own). */
export const SETTINGS = {
  BATON_API_URL: DEFAULT_API_URL,
  BATON_API_KEY: undefined,
  BATON_DATABASE_URL: undefined,
  BATON_SERVER_HOST: undefined,
  BATON_SERVER_PORT: undefined,
  BATON_LOG_LEVEL: undefined,
} as const satisfies Record<string, string | undefined>;

export type SettingKey = keyof typeof SETTINGS;
export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** The settings the server reads from the environment; `program` fills them from the profile. */
const SERVER_KEYS: SettingKey[] = [
  "BATON_DATABASE_URL",
  "BATON_SERVER_HOST",
  "BATON_SERVER_PORT",
  "BATON_LOG_LEVEL",
];

export function isSettingKey(key: string): key is SettingKey {
  return Object.prototype.hasOwnProperty.call(SETTINGS, key);
}

/** A one-line message for a key that is not a setting. */
export function unknownKeyMessage(key: string): string {
  return `unknown setting '${key}'; the settings are ${SETTING_KEYS.join(", ")}`;
}

export type Profile = Partial<Record<SettingKey, string>>;

export interface ProfilesFile {
  active: string;
  profiles: Record<string, Profile>;
}

export type Source = "env" | `profile '${string}'` | "default";

export interface ResolvedSetting {
  key: SettingKey;
  value: string | undefined;
  source: Source;
}

/** The environment as the user gave it, before `applyProfileToEnv` filled in the profile's values. */
let userEnv: NodeJS.ProcessEnv | undefined;
const userEnvironment = (): NodeJS.ProcessEnv => userEnv ?? process.env;

export function batonHome(env: NodeJS.ProcessEnv = userEnvironment()): string {
  return env.BATON_HOME?.trim() || join(homedir(), ".baton");
}

export function profilesPath(env: NodeJS.ProcessEnv = userEnvironment()): string {
  return join(batonHome(env), "profiles.json");
}

const emptyFile = (): ProfilesFile => ({ active: "default", profiles: { default: {} } });

/** The profiles file, or a fresh one with an empty 'default' profile when there is none. */
export function readProfiles(env: NodeJS.ProcessEnv = userEnvironment()): ProfilesFile {
  const path = profilesPath(env);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return emptyFile();
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${path} is not valid JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const file = parsed as Partial<ProfilesFile> | null;
  if (
    typeof file !== "object" ||
    file === null ||
    typeof file.active !== "string" ||
    typeof file.profiles !== "object" ||
    file.profiles === null
  ) {
    throw new Error(`${path} is not a profiles file ({"active": NAME, "profiles": {…}})`);
  }
  return { active: file.active, profiles: file.profiles };
}

/** Writes the profiles file atomically: a temporary file, then a rename over the old one. */
export function writeProfiles(file: ProfilesFile, env: NodeJS.ProcessEnv = userEnvironment()): void {
  const home = batonHome(env);
  mkdirSync(home, { recursive: true });
  const path = profilesPath(env);
  const temp = `${path}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(temp, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  renameSync(temp, path);
}

/** The profile in use: BATON_PROFILE for one command, else the file's active one. */
export function activeProfileName(
  env: NodeJS.ProcessEnv = userEnvironment(),
  file = readProfiles(env),
): string {
  return env.BATON_PROFILE?.trim() || file.active;
}

/** Every setting's value and where it came from. */
export function resolveSettings(env: NodeJS.ProcessEnv = userEnvironment()): ResolvedSetting[] {
  const file = readProfiles(env);
  const name = activeProfileName(env, file);
  const profile = file.profiles[name];
  if (env.BATON_PROFILE?.trim() && !profile) {
    throw new Error(`profile '${name}' (from BATON_PROFILE) does not exist`);
  }
  return SETTING_KEYS.map((key): ResolvedSetting => {
    const fromEnv = env[key]?.trim();
    if (fromEnv) return { key, value: fromEnv, source: "env" };
    const fromProfile = profile?.[key]?.trim();
    if (fromProfile) return { key, value: fromProfile, source: `profile '${name}'` };
    return { key, value: SETTINGS[key], source: "default" };
  });
}

export function resolveSetting(key: SettingKey, env: NodeJS.ProcessEnv = userEnvironment()): ResolvedSetting {
  return resolveSettings(env).find((setting) => setting.key === key)!;
}

/** `****abcd`: the last four characters of a secret. */
export function mask(value: string): string {
  return `****${value.length > 8 ? value.slice(-4) : ""}`;
}

/**
 * Fills process.env with the active profile's server settings that the environment does not
 * set, so the server (which reads the environment) sees them. Run once before any command.
 */
export function applyProfileToEnv(env: NodeJS.ProcessEnv = process.env): void {
  const settings = resolveSettings(env);
  if (env === process.env) userEnv = { ...env };
  for (const setting of settings) {
    if (SERVER_KEYS.includes(setting.key) && setting.source !== "env" && setting.value !== undefined) {
      env[setting.key] = setting.value;
    }
  }
}

/** Where the CLI finds the API. */
export interface CliSettings {
  apiUrl: string;
  apiKey: string | undefined;
}

export function cliSettings(env: NodeJS.ProcessEnv = userEnvironment()): CliSettings {
  const settings = resolveSettings(env);
  const value = (key: SettingKey) => settings.find((setting) => setting.key === key)?.value;
  return { apiUrl: value("BATON_API_URL") ?? DEFAULT_API_URL, apiKey: value("BATON_API_KEY") };
}

/** A client for the configured API. */
export function apiClient(settings: CliSettings = cliSettings()): BatonClient {
  return new BatonClient({ url: settings.apiUrl, ...(settings.apiKey ? { apiKey: settings.apiKey } : {}) });
}
