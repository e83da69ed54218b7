import type { BatonClient } from "@baton/client";
import type { LogCreate } from "@baton/core";

export const LogLevel = { debug: 10, info: 20, warning: 30, error: 40, critical: 50 } as const;
export type LogLevelName = keyof typeof LogLevel;

const NAMES: Record<number, string> = { 10: "DEBUG", 20: "INFO", 30: "WARNING", 40: "ERROR", 50: "CRITICAL" };

/**
 * Sends logs to the API in batches: a flush is scheduled when the first line of a batch arrives,
 * so a burst costs one request, and `flush()` is awaited before a run reports its final state.
 */
export class LogShipper {
  #pending: LogCreate[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly client: BatonClient,
    private readonly intervalMs = 50,
    private readonly maxBatch = 1000,
  ) {}

  push(log: LogCreate): void {
    this.#pending.push(log);
    if (this.#pending.length >= this.maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Sends everything pushed so far; resolves once the server has it. */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    // Batches go out in order, one after the other.
    this.#inFlight = this.#inFlight.then(async () => {
      if (batch.length === 0) return;
      try {
        await this.client.api.createLogs({ body: batch });
      } catch (error) {
        process.stderr.write(
          `baton: could not send ${batch.length} log line(s): ${(error as Error).message}\n`,
        );
      }
    });
    return this.#inFlight;
  }
}

const shippers = new WeakMap<BatonClient, LogShipper>();
export function shipperFor(client: BatonClient): LogShipper {
  let shipper = shippers.get(client);
  if (!shipper) shippers.set(client, (shipper = new LogShipper(client)));
  return shipper;
}

/** The logger a run's code uses: lines go to the console and, when tracked, to the run's logs. */
export class RunLogger {
  constructor(
    private readonly label: string,
    private readonly shipper: LogShipper | null,
    private readonly ids: { flowRunId: string | null; taskRunId: string | null },
  ) {}

  log(level: number, message: string): void {
    // Straight to stderr: console output may itself be routed here (logPrints).
    const timestamp = new Date().toISOString();
    process.stderr.write(
      `${timestamp.slice(11, 23)} | ${(NAMES[level] ?? String(level)).padEnd(7)} | ${this.label} - ${message}\n`,
    );
    this.shipper?.push({ ...this.ids, name: "baton", level, message, timestamp });
  }

  debug = (message: string): void => this.log(LogLevel.debug, message);
  info = (message: string): void => this.log(LogLevel.info, message);
  warning = (message: string): void => this.log(LogLevel.warning, message);
  error = (message: string): void => this.log(LogLevel.error, message);
}
