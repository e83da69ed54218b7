import type { DeploymentSchedule } from "@baton/core";
import { formatInterval } from "./format.js";

export function describeSchedule({ schedule }: DeploymentSchedule): string {
  const zone = schedule.timezone && schedule.timezone !== "UTC" ? ` (${schedule.timezone})` : "";
  if ("cron" in schedule) return `cron ${schedule.cron}${zone}`;
  if ("interval" in schedule) return `every ${formatInterval(schedule.interval)}${zone}`;
  return `rrule ${schedule.rrule}${zone}`;
}

export function Schedules({ schedules }: { schedules: DeploymentSchedule[] }) {
  if (schedules.length === 0) return <span className="muted">—</span>;
  return (
    <ul className="plain-list">
      {schedules.map((schedule) => (
        <li key={schedule.id} className={schedule.active ? undefined : "muted"}>
          <code>{describeSchedule(schedule)}</code>
          {Object.keys(schedule.parameters).length > 0 ? (
            <>
              {" with "}
              <code>{JSON.stringify(schedule.parameters)}</code>
            </>
          ) : null}
          {schedule.active ? null : " (inactive)"}
        </li>
      ))}
    </ul>
  );
}
