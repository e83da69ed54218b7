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

/**
 * The schedule the options give: none, or one of cron, interval and RRULE in a time zone. `spell`
 * names a field in messages: an option on the command line, a field as is in baton.yaml.
 */
export function scheduleOf(
  options: ScheduleOptions,
  spell: (field: keyof ScheduleOptions) => string = (field) => `--${field}`,
): ScheduleSpec | undefined {
  const given = [options.cron, options.interval, options.rrule].filter((value) => value !== undefined);
  const kinds = `${spell("cron")}, ${spell("interval")}`;
  if (given.length > 1) throw new InvalidArgumentError(`give one of ${kinds} and ${spell("rrule")}`);
  if (given.length === 0 && options.timezone) {
    throw new InvalidArgumentError(`${spell("timezone")} only applies with ${kinds} or ${spell("rrule")}`);
  }
  const timezone = options.timezone ?? "UTC";
  if (options.cron !== undefined) return { cron: options.cron, timezone };
  if (options.interval !== undefined) return { interval: options.interval, timezone };
  if (options.rrule !== undefined) return { rrule: options.rrule, timezone };
  return undefined;
}
