import { Command } from "commander";
import { BatonError, jsonOrString } from "@baton/core";
import { variablesOf, type VariableValue } from "@baton/sdk";
import { allPages, print, printJson, table, time } from "../format.js";
import { collect } from "../options.js";
import { apiClient } from "../settings.js";

interface JsonOption {
  json?: boolean;
}

/** Longest value shown in a listing; `baton variable get` shows all of it. */
const PREVIEW_CHARS = 60;

/** A value as JSON on one line, cut short: strings show their quotes, so that "3" and 3 differ. */
function preview(value: VariableValue): string {
  const text = JSON.stringify(value);
  return text.length > PREVIEW_CHARS ? `${text.slice(0, PREVIEW_CHARS - 1)}…` : text;
}

/** A value as a script wants it: a string as it is, anything else as JSON. */
const plain = (value: VariableValue): string =>
  typeof value === "string" ? value : JSON.stringify(value, null, 2);

export function variableCommand(): Command {
  const group = new Command("variable").description(
    "Manage variables: named JSON values that flows read with variables.get",
  );

  group
    .command("ls")
    .description("List variables")
    .option("--json", "print JSON")
    .action(async (options: JsonOption) => {
      const client = apiClient();
      const variables = await allPages((offset) =>
        client.api.listVariables({ query: { limit: 200, offset } }),
      );
      if (options.json) return printJson(variables);
      print(
        table(
          ["NAME", "VALUE", "TAGS", "UPDATED"],
          variables.map((variable) => [
            variable.name,
            preview(variable.value),
            variable.tags.join(", "),
            time(variable.updated),
          ]),
          "No variables; set one with 'baton variable set NAME VALUE'.",
        ),
      );
    });

  group
    .command("get")
    .description("Print a variable's value (a string as it is, anything else as JSON)")
    .argument("<name>", "variable name")
    .option("--json", "print the variable (value, tags, times) as JSON")
    .action(async (name: string, options: JsonOption) => {
      const variable = await apiClient().api.readVariable({ params: { name } });
      if (options.json) return printJson(variable);
      print(plain(variable.value));
    });

  group
    .command("set")
    .description("Create a variable, or replace its value with --overwrite")
    .argument("<name>", "variable name")
    .argument("<value>", "its value: JSON when it parses (3, true, '[1, 2]', '{\"a\": 1}'), else a string")
    .option("--overwrite", "replace the value of a variable that already exists")
    .option("--tag <tag>", "a tag (repeatable); replaces the variable's tags", collect)
    .action(async (name: string, raw: string, options: { overwrite?: boolean; tag?: string[] }) => {
      try {
        const variable = await variablesOf(apiClient()).set(name, jsonOrString(raw), {
          ...(options.overwrite ? { overwrite: true } : {}),
          ...(options.tag ? { tags: options.tag } : {}),
        });
        print(`Set variable '${variable.name}' to ${preview(variable.value)}.`);
      } catch (error) {
        if (error instanceof BatonError && error.code === "already_exists") {
          throw new BatonError(
            "already_exists",
            `variable '${name}' already exists: pass --overwrite to replace its value`,
            { cause: error },
          );
        }
        throw error;
      }
    });

  group
    .command("delete")
    .description("Delete a variable")
    .argument("<name>", "variable name")
    .action(async (name: string) => {
      await apiClient().api.deleteVariable({ params: { name } });
      print(`Deleted variable '${name}'.`);
    });
  return group;
}
