import { Command } from "commander";
import { VERSION } from "@baton/server";
import { serverCommand } from "./commands/server.js";
import { fail } from "./output.js";

export function program(): Command {
  const baton = new Command("baton")
    .description("Baton: workflow orchestration for TypeScript")
    .version(VERSION, "-v, --version")
    .showHelpAfterError();
  baton.addCommand(serverCommand());
  baton
    .command("version")
    .description("Print the version")
    .action(() => {
      process.stdout.write(`${VERSION}\n`);
    });
  return baton;
}

export async function run(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (error) {
    fail(error);
  }
}
