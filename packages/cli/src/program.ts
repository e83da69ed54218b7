import { createRequire } from "node:module";
import { Command } from "commander";
import { artifactCommand } from "./commands/artifact.js";
import { automationCommand } from "./commands/automation.js";
import { concurrencyLimitCommand } from "./commands/concurrency-limit.js";
import { globalConcurrencyLimitCommand } from "./commands/global-concurrency-limit.js";
import { configCommand } from "./commands/config.js";
import { deployCommand } from "./commands/deploy.js";
import { deploymentCommand } from "./commands/deployment.js";
import { flowRunCommand } from "./commands/flow-run.js";
import { taskCommand } from "./commands/task.js";
import { taskRunCommand } from "./commands/task-run.js";
import { flowCommand } from "./commands/flow.js";
import { initCommand } from "./commands/init.js";
import { profileCommand } from "./commands/profile.js";
import { secretCommand } from "./commands/secret.js";
import { eventCommand } from "./commands/event.js";
import { webhookCommand } from "./commands/webhook.js";
import { serverCommand } from "./commands/server.js";
import { variableCommand } from "./commands/variable.js";
import { workPoolCommand } from "./commands/work-pool.js";
import { workQueueCommand } from "./commands/work-queue.js";
import { workerCommand } from "./commands/worker.js";
import { fail } from "./output.js";
import { applyProfileToEnv } from "./settings.js";

/** The CLI's version (released in lockstep with the server's). */
const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;

export function program(): Command {
  const baton = new Command("baton")
    .description("Baton: workflow orchestration for TypeScript")
    .version(VERSION, "-v, --version")
    .showHelpAfterError();
  baton.addCommand(initCommand());
  baton.addCommand(serverCommand());
  baton.addCommand(workPoolCommand());
  baton.addCommand(workQueueCommand());
  baton.addCommand(concurrencyLimitCommand());
  baton.addCommand(globalConcurrencyLimitCommand());
  baton.addCommand(flowCommand());
  baton.addCommand(flowRunCommand());
  baton.addCommand(taskCommand());
  baton.addCommand(taskRunCommand());
  baton.addCommand(workerCommand());
  baton.addCommand(deployCommand());
  baton.addCommand(deploymentCommand());
  baton.addCommand(automationCommand());
  baton.addCommand(variableCommand());
  baton.addCommand(artifactCommand());
  baton.addCommand(secretCommand());
  baton.addCommand(eventCommand());
  baton.addCommand(webhookCommand());
  baton.addCommand(configCommand());
  baton.addCommand(profileCommand());
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
    // The server reads its settings from the environment: give it the active profile's first.
    applyProfileToEnv();
    await program().parseAsync(argv);
  } catch (error) {
    fail(error);
  }
}
