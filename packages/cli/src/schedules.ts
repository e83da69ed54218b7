import { InvalidArgumentError, type Command } from "commander";
import type { ScheduleSpec } from "@baton/core";
import { parsePositive } from "./options.js";

/** The schedule options `baton deploy` and `baton deployment schedule create` share. */
export interface ScheduleOptions {
  cron?: string;
  interval?: number;
  rrule?: string;
  timezone?: string;
}

export const withScheduleOptions = (command: Command): Command =>
  command
    .option("--cron <expression>", "run on a cron schedule")
    .option("--interval <seconds>", "run every so many seconds", parsePositive)
    .option("--rrule <rule>", "run on an iCalendar RRULE schedule")
    .option("--timezone <zone>", "the schedule's IANA time zone (default UTC)");

/** The schedule the options give: none, or one of cron, interval and RRULE in a time zone. */
export function scheduleOf(options: ScheduleOptions): ScheduleSpec | undefined {
  const given = [options.cron, options.interval, options.rrule].filter((value) => value !== undefined);
  if (given.length > 1) throw new InvalidArgumentError("give one of --cron, --interval and --rrule");
  if (given.length === 0 && options.timezone) {
    throw new InvalidArgumentError("--timezone only applies with --cron, --interval or --rrule");
  }
  const timezone = options.timezone ?? "UTC";
  if (options.cron !== undefined) return { cron: options.cron, timezone };
  if (options.interval !== undefined) return { interval: options.interval, timezone };
  if (options.rrule !== undefined) return { rrule: options.rrule, timezone };
  return undefined;
}
