import { Command, InvalidArgumentError } from "commander";
import { print, printJson } from "../format.js";
import {
  activeProfileName,
  isSettingKey,
  mask,
  readProfiles,
  resolveSettings,
  unknownKeyMessage,
  writeProfiles,
  type SettingKey,
} from "../settings.js";

const shown = (key: SettingKey, value: string | undefined): string | undefined =>
  value !== undefined && key === "BATON_API_KEY" ? mask(value) : value;

/** The profile that `set` and `unset` edit: the active one, which must exist unless it is 'default'. */
function editableProfile() {
  const file = readProfiles();
  const name = activeProfileName(undefined, file);
  if (!file.profiles[name]) {
    if (name !== "default") throw new Error(`profile '${name}' does not exist`);
    file.profiles[name] = {};
  }
  return { file, name, profile: file.profiles[name] };
}

export function configCommand(): Command {
  const group = new Command("config").description("View and change settings in the active profile");

  group
    .command("view")
    .description("Show every setting, its value and where it comes from")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }) => {
      const settings = resolveSettings().map((setting) => ({
        ...setting,
        value: shown(setting.key, setting.value) ?? null,
      }));
      if (options.json) {
        return printJson({ profile: activeProfileName(), settings });
      }
      print(`PROFILE='${activeProfileName()}'`);
      print(
        settings
          .map(({ key, value, source }) => `${key}=${value ?? "(not set)"} (from ${source})`)
          .join("\n"),
      );
    });

  group
    .command("set")
    .description("Set settings in the active profile")
    .argument("<KEY=VALUE...>", "settings to set")
    .action((pairs: string[]) => {
      const updates: [SettingKey, string][] = [];
      for (const pair of pairs) {
        const eq = pair.indexOf("=");
        if (eq <= 0)
          throw new InvalidArgumentError(
            `'${pair}' is not KEY=VALUE (e.g. BATON_API_URL=http://host:4200/api)`,
          );
        const key = pair.slice(0, eq).trim();
        if (!isSettingKey(key)) throw new InvalidArgumentError(unknownKeyMessage(key));
        updates.push([key, pair.slice(eq + 1)]);
      }
      const { file, name, profile } = editableProfile();
      for (const [key, value] of updates) profile[key] = value;
      writeProfiles(file);
      for (const [key, value] of updates) print(`Set ${key}=${shown(key, value)} in profile '${name}'.`);
    });

  group
    .command("unset")
    .description("Remove settings from the active profile")
    .argument("<KEY...>", "settings to remove")
    .action((keys: string[]) => {
      for (const key of keys) if (!isSettingKey(key)) throw new InvalidArgumentError(unknownKeyMessage(key));
      const { file, name, profile } = editableProfile();
      for (const key of keys as SettingKey[]) delete profile[key];
      writeProfiles(file);
      for (const key of keys) print(`Unset ${key} in profile '${name}'.`);
    });

  return group;
}
