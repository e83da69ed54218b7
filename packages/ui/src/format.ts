/** Formatting of times, durations and log levels for display. */

const dateTime = new Intl.DateTimeFormat(undefined, {
  month: "short",
  day: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

const fullDateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "full", timeStyle: "long" });

export function formatTime(iso: string): string {
  return dateTime.format(new Date(iso));
}

export function formatFullTime(iso: string): string {
  return fullDateTime.format(new Date(iso));
}

/** 850ms, 12.4s, 3m 05s, 2h 04m, 3d 5h */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "—";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const seconds = ms / 1000;
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  const s = Math.floor(seconds);
  const pad = (n: number) => String(n).padStart(2, "0");
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${Math.floor((s % 86_400) / 3600)}h`;
}

/** "12s ago", "in 3m", "just now" */
export function formatRelative(iso: string, now: number): string {
  const delta = new Date(iso).getTime() - now;
  const abs = Math.abs(delta);
  if (abs < 2000) return "just now";
  const text = formatDuration(abs).split(" ")[0] ?? "";
  return delta < 0 ? `${text.replace(/\.\d/, "")} ago` : `in ${text.replace(/\.\d/, "")}`;
}

/** Seconds as a schedule interval: "30s", "5m", "1h 30m", "2d". */
export function formatInterval(seconds: number): string {
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of [
    ["d", 86_400],
    ["h", 3600],
    ["m", 60],
    ["s", 1],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join(" ") || `${seconds}s`;
}

export const LOG_LEVELS = [
  { value: 10, name: "DEBUG" },
  { value: 20, name: "INFO" },
  { value: 30, name: "WARNING" },
  { value: 40, name: "ERROR" },
  { value: 50, name: "CRITICAL" },
] as const;

export function levelName(level: number): string {
  let name = "TRACE";
  for (const candidate of LOG_LEVELS) if (level >= candidate.value) name = candidate.name;
  return level === 0 ? "NOTSET" : name;
}

export function pluralize(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** A state type as a word: "COMPLETED" → "Completed". */
export const stateLabel = (type: string): string => type.charAt(0) + type.slice(1).toLowerCase();
