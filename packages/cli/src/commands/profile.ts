import { Command } from "commander";
import { details, print, printJson } from "../format.js";
import { activeProfileName, mask, readProfiles, writeProfiles, type Profile } from "../settings.js";

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

const masked = (profile: Profile): Profile =>
  profile.BATON_API_KEY ? { ...profile, BATON_API_KEY: mask(profile.BATON_API_KEY) } : profile;

export function profileCommand(): Command {
  const group = new Command("profile").description("Manage settings profiles");

  group
    .command("create")
    .description("Create a profile, empty or a copy of another")
    .argument("<name>", "profile name")
    .option("--from <profile>", "copy the settings of this profile")
    .action((name: string, options: { from?: string }) => {
      if (!NAME.test(name)) throw new Error(`'${name}' is not a profile name (letters, digits, . _ -)`);
      const file = readProfiles();
      if (file.profiles[name]) throw new Error(`profile '${name}' already exists`);
      let settings: Profile = {};
      if (options.from !== undefined) {
        const from = file.profiles[options.from];
        if (!from) throw new Error(`profile '${options.from}' does not exist`);
        settings = { ...from };
      }
      file.profiles[name] = settings;
      writeProfiles(file);
      print(
        `Created profile '${name}'${options.from !== undefined ? ` from '${options.from}'` : ""}.` +
          ` Switch to it with 'baton profile use ${name}'.`,
      );
    });

  group
    .command("use")
    .description("Make a profile the active one")
    .argument("<name>", "profile name")
    .action((name: string) => {
      const file = readProfiles();
      if (!file.profiles[name]) throw new Error(`profile '${name}' does not exist`);
      file.active = name;
      writeProfiles(file);
      print(`Now using profile '${name}'.`);
    });

  group
    .command("ls")
    .description("List profiles (* marks the active one)")
    .option("--json", "print JSON")
    .action((options: { json?: boolean }) => {
      const file = readProfiles();
      const active = activeProfileName(undefined, file);
      const names = Object.keys(file.profiles).sort();
      if (options.json) {
        return printJson(names.map((name) => ({ name, active: name === active })));
      }
      print(names.map((name) => (name === active ? `* ${name}` : `  ${name}`)).join("\n"));
    });

  group
    .command("inspect")
    .description("Show a profile's settings (the active one by default)")
    .argument("[name]", "profile name")
    .option("--json", "print JSON")
    .action((nameArg: string | undefined, options: { json?: boolean }) => {
      const file = readProfiles();
      const name = nameArg ?? activeProfileName(undefined, file);
      const profile = file.profiles[name];
      if (!profile) throw new Error(`profile '${name}' does not exist`);
      const settings = masked(profile);
      if (options.json) return printJson({ name, settings });
      const pairs = Object.entries(settings).map(([key, value]): [string, string] => [key, value ?? ""]);
      print(`Profile '${name}'${name === activeProfileName(undefined, file) ? " (active)" : ""}`);
      print(pairs.length ? details(pairs) : "No settings.");
    });

  group
    .command("delete")
    .description("Delete a profile (not the active one)")
    .argument("<name>", "profile name")
    .action((name: string) => {
      const file = readProfiles();
      if (!file.profiles[name]) throw new Error(`profile '${name}' does not exist`);
      if (name === file.active || name === activeProfileName(undefined, file)) {
        throw new Error(`profile '${name}' is the active one; switch with 'baton profile use OTHER' first`);
      }
      delete file.profiles[name];
      writeProfiles(file);
      print(`Deleted profile '${name}'.`);
    });

  return group;
}
