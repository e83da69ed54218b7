import { Command } from "commander";
import { BatonError } from "@baton/core";
import { allPages, print, printJson, table, time } from "../format.js";
import { apiClient } from "../settings.js";

/** The value piped in, without the newline `echo` adds. */
async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) {
    throw new BatonError(
      "invalid_argument",
      "give the value with --value, or pipe it in: … | baton secret set NAME",
    );
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
}

export function secretCommand(): Command {
  const group = new Command("secret").description(
    "Manage secrets (webhook URLs, tokens): write-only, never shown again",
  );

  group
    .command("set")
    .description("Create or replace a secret; the value comes from --value or from stdin")
    .argument("<name>", "secret name")
    .option("--value <value>", "the value (stdin keeps it out of the shell's history)")
    .action(async (name: string, options: { value?: string }) => {
      const value = options.value ?? (await readStdin());
      if (value === "") throw new BatonError("invalid_argument", `the value of secret '${name}' is empty`);
      const secret = await apiClient().api.setSecret({ body: { name, value } });
      print(`Set secret '${secret.name}' (${secret.valueLength} characters).`);
    });

  group
    .command("ls")
    .description("List secrets (names only)")
    .option("--json", "print JSON")
    .action(async (options: { json?: boolean }) => {
      const client = apiClient();
      const secrets = await allPages((offset) => client.api.listSecrets({ query: { limit: 200, offset } }));
      if (options.json) return printJson(secrets);
      print(
        table(
          ["NAME", "LENGTH", "UPDATED"],
          secrets.map((secret) => [secret.name, secret.valueLength, time(secret.updated)]),
          "No secrets; set one with 'baton secret set NAME'.",
        ),
      );
    });

  group
    .command("delete")
    .description("Delete a secret")
    .argument("<name>", "secret name")
    .action(async (name: string) => {
      await apiClient().api.deleteSecret({ params: { name } });
      print(`Deleted secret '${name}'.`);
    });
  return group;
}
