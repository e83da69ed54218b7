import { BatonError, type ScheduleSpec } from "@baton/core";
import { Cron } from "croner";
import { RRuleTemporal } from "rrule-temporal";

/**
 * When schedules fire: pure computation, no store. Cron expressions are read by croner, RRULEs by
 * rrule-temporal (the `rrule` package reads TZID against the server process's own time zone, so its
 * answers change with TZ; it also has no ESM named exports), both in the schedule's time zone.
 */

/** Where interval schedules count from, and the DTSTART of an RRULE that gives none (as in Prefect). */
const DEFAULT_ANCHOR = "2020-01-01T00:00:00Z";
const DEFAULT_DTSTART = "20200101T000000";

export interface RunTimesWindow {
  /** Times strictly after this one… */
  after: Date;
  /** …and at or before this one… */
  until: Date;
  /** …at most this many, earliest first. */
  max: number;
}

/** The times a schedule fires in the window. The schedule must have passed `checkSchedule`. */
export function nextRunTimes(spec: ScheduleSpec, window: RunTimesWindow): Date[] {
  if ("interval" in spec) return intervalTimes(spec.interval, spec.anchorDate ?? DEFAULT_ANCHOR, window);
  const next = "cron" in spec ? cronNext(spec.cron, spec.timezone) : rruleNext(spec.rrule, spec.timezone);
  const times: Date[] = [];
  let previous = window.after;
  while (times.length < window.max) {
    const time = next(previous);
    if (!time || time > window.until) break;
    times.push(time);
    previous = time;
  }
  return times;
}

/** Why a schedule cannot be used (a bad cron expression, RRULE or time zone), or undefined if it can. */
export function checkSchedule(spec: ScheduleSpec): string | undefined {
  if (!isTimeZone(spec.timezone)) {
    return `unknown time zone '${spec.timezone}': give an IANA name such as 'Europe/Paris' or 'UTC'`;
  }
  try {
    if ("cron" in spec) cronNext(spec.cron, spec.timezone);
    // Parsing alone misses some mistakes (a bad DTSTART is read lazily): ask for one time too.
    else if ("rrule" in spec) rruleNext(spec.rrule, spec.timezone)(new Date(DEFAULT_ANCHOR));
  } catch (error) {
    const message = (error instanceof Error ? error.message : String(error)).replace(/^Cron\w*: /, "");
    return "cron" in spec
      ? `invalid cron expression '${spec.cron}': ${message}`
      : `invalid rrule '${"rrule" in spec ? spec.rrule.replace(/\r?\n/g, "\\n") : ""}': ${message}`;
  }
  return undefined;
}

/** Throws an invalid_argument error naming the first unusable schedule (counted from 1). */
export function checkSchedules(schedules: readonly { schedule: ScheduleSpec }[] | undefined): void {
  schedules?.forEach(({ schedule }, index) => {
    const problem = checkSchedule(schedule);
    if (problem) throw new BatonError("invalid_argument", `schedule ${index + 1}: ${problem}`);
  });
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/**
 * anchor + k·interval for every integer k, before the anchor too (as in Prefect). An interval is a
 * fixed number of seconds: the schedule's time zone does not move these times.
 */
function intervalTimes(intervalSeconds: number, anchorDate: string, window: RunTimesWindow): Date[] {
  const step = intervalSeconds * 1000;
  const anchor = Date.parse(anchorDate);
  let k = Math.floor((window.after.getTime() - anchor) / step) + 1;
  while (anchor + k * step <= window.after.getTime()) k += 1; // floating-point rounding
  const times: Date[] = [];
  for (; times.length < window.max && anchor + k * step <= window.until.getTime(); k += 1) {
    times.push(new Date(anchor + k * step));
  }
  return times;
}

type Next = (after: Date) => Date | null;

/** Croner answers the first time strictly after the one given; it throws on a bad expression. */
function cronNext(expression: string, timezone: string): Next {
  const cron = new Cron(expression, { timezone });
  return (after) => cron.nextRun(after);
}

/**
 * An RRULE, possibly with a DTSTART (and EXDATE, RDATE…) line. A DTSTART without a TZID is read in the
 * schedule's time zone; one with a TZID or a trailing Z keeps its own. Without a DTSTART the rule
 * counts from 2020-01-01 00:00 in the schedule's time zone, so that what it answers never depends on
 * when it is asked (a rule without BYHOUR fires at DTSTART's time of day).
 */
function rruleNext(text: string, timezone: string): Next {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "")
    // A bare rule ("FREQ=DAILY;BYHOUR=9") is the value of the RRULE property.
    .map((line) => (/^[A-Z-]+[:;]/i.test(line) ? line : `RRULE:${line}`));
  if (!lines.some((line) => /^DTSTART[:;]/i.test(line))) {
    lines.unshift(`DTSTART;TZID=${timezone}:${DEFAULT_DTSTART}`);
  }
  const rule = new RRuleTemporal({ rruleString: lines.join("\n"), tzid: timezone });
  return (after) => {
    const next = rule.next(after);
    return next ? new Date(next.epochMilliseconds) : null;
  };
}
