import type { BatonClient } from "@baton/client";
import { newId, type LogCreate } from "@baton/core";
import { Batcher, perClient } from "./batcher.js";
import { maskSecrets } from "./secrets.js";

export const LogLevel = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 } as const;
export type LogLevelName = keyof typeof LogLevel;

const NAMES: Record<number, string> = { 10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL" };

/**
 * Logs of every run of the process go to the API in batches. Each line gets its id here, once, so a
 * batch sent again after a lost answer is stored once.
 */
class LogShipper extends Batcher<LogCreate> {
  constructor(client: BatonClient) {
    super("log line(s)", (batch) => client.api.createLogs({ body: batch }), 50, 1000);
  }

  override push(line: LogCreate): void {
    super.push({ id: newId(), ...line });
  }
}

export const shipperFor = perClient((client: BatonClient) => new LogShipper(client));

/**
 * A worker turns its child's console output into the run's logs; there the logger's lines, already
 * shipped, would arrive twice, so the worker turns the echo off.
 */
const echoToConsole = process.env.BATON_LOGS_TO_CONSOLE !== "false";

/** The logger a run's code uses: lines go to the console and, when tracked, to the run's logs. */
export class RunLogger {
  constructor(
    private readonly label: string,
    private readonly shipper: Batcher<LogCreate> | null,
    private readonly ids: { flowRunId: string | null; taskRunId: string | null },
  ) {}

  log(level: number, text: string): void {
    // Every line of a run passes here (console output too, with logPrints) before it is shown or shipped.
    const message = maskSecrets(text);
    const timestamp = new Date().toISOString();
    // Straight to stderr: console output may itself be routed here (logPrints).
    if (echoToConsole) {
      process.stderr.write(
        `${timestamp.slice(11, 23)} | ${(NAMES[level] ?? String(level)).padEnd(7)} | ${this.label} - ${message}\n`,
      );
    }
    this.shipper?.push({ ...this.ids, name: "baton", level, message, timestamp });
  }

  debug = (message: string): void => this.log(LogLevel.debug, message);
  info = (message: string): void => this.log(LogLevel.info, message);
  warning = (message: string): void => this.log(LogLevel.warning, message);
  error = (message: string): void => this.log(LogLevel.error, message);
}
