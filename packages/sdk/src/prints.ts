import { format } from "node:util";
import { currentRun } from "./context.js";
import { LogLevel } from "./logger.js";

const LEVELS = {
  log: LogLevel.info,
  info: LogLevel.info,
  debug: LogLevel.debug,
  warn: LogLevel.warning,
  error: LogLevel.error,
} as const;
let installed = false;

/**
 * Sends console output of runs that ask for it (`logPrints: true`) to their run logs, like
 * Prefect's log_prints. Installed once; outside such runs the console behaves as usual.
 */
export function captureConsoleOfRuns(): void {
  if (installed) return;
  installed = true;
  for (const method of Object.keys(LEVELS) as (keyof typeof LEVELS)[]) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      const run = currentRun();
      if (run?.logPrints) run.logger.log(LEVELS[method], format(...args));
      else original(...args);
    };
  }
}
