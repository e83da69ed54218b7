import type { Page } from "@baton/core";
import { bold, dim, escapeControl, paint, useColor } from "./output.js";

export { escapeControl };

/** A cell is text, or text with a colour applied only on a terminal. */
export type Cell = string | number | null | undefined | { text: string; style: (text: string) => string };

/** A cell's text, escaped: every value shown in a table or a detail comes from the server. */
const cellText = (cell: Cell): string =>
  escapeControl(
    cell === null || cell === undefined ? "" : typeof cell === "object" ? cell.text : String(cell),
  );

/** Aligned columns with a bold header; colours are added after padding so they do not shift columns. */
export function table(headers: string[], rows: Cell[][], empty = "Nothing to show."): string {
  if (rows.length === 0) return `${dim(empty)}\n`;
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...rows.map((row) => cellText(row[column]).length)),
  );
  const line = (cells: string[]) => cells.join("  ").trimEnd();
  const out = [line(headers.map((header, column) => bold(header.padEnd(widths[column]!))))];
  for (const row of rows) {
    out.push(
      line(
        headers.map((_, column) => {
          const cell = row[column];
          const padded = cellText(cell).padEnd(widths[column]!);
          return cell && typeof cell === "object" ? cell.style(padded) : padded;
        }),
      ),
    );
  }
  return `${out.join("\n")}\n`;
}

/** Label/value lines for one object. */
export function details(pairs: [string, Cell][]): string {
  const width = Math.max(...pairs.map(([label]) => label.length)) + 1;
  return `${pairs.map(([label, value]) => `${bold(`${label}:`.padEnd(width))} ${value && typeof value === "object" ? value.style(cellText(value)) : cellText(value)}`).join("\n")}\n`;
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

// Our own styles (bold, dim, colours) are the only escape sequences print lets through, on a TTY.
// eslint-disable-next-line no-control-regex -- our styles start with ESC
const STYLE_OR_TEXT = /(\x1b\[[0-9;]*m)|[^\x1b]+|\x1b/g;

/**
 * Prints a line or more. Cells and log fields are escaped where they are made; this is the net for
 * a name interpolated into a message: control characters are escaped, our styles kept on a TTY.
 */
export function print(text: string): void {
  const colour = useColor();
  const safe = text.replace(STYLE_OR_TEXT, (part, style: string | undefined) =>
    style !== undefined && colour ? style : escapeControl(part, { keepLines: true }),
  );
  process.stdout.write(safe.endsWith("\n") ? safe : `${safe}\n`);
}

/** "3 min ago", "in 2 h", "just now". */
export function relative(iso: string, now: number = Date.now()): string {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 5) return "just now";
  const [value, unit] =
    abs < 60
      ? [abs, "s"]
      : abs < 3600
        ? [Math.round(abs / 60), "min"]
        : abs < 86_400
          ? [Math.round(abs / 3600), "h"]
          : [Math.round(abs / 86_400), "d"];
  return seconds < 0 ? `${value} ${unit} ago` : `in ${value} ${unit}`;
}

const pad = (n: number, width = 2) => String(n).padStart(width, "0");

/** Local time, "2026-11-23 13:04:05", followed by the relative time. */
export function time(iso: string | null | undefined): string {
  if (!iso) return "-";
  const d = new Date(iso);
  const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return `${local} (${relative(iso)})`;
}

/** Local clock time with milliseconds, for log lines. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

const STATE_COLOURS: Record<string, number> = {
  COMPLETED: 32,
  FAILED: 31,
  CRASHED: 31,
  CANCELLED: 90,
  CANCELLING: 90,
  RUNNING: 34,
  PENDING: 36,
  SCHEDULED: 33,
  PAUSED: 33,
};

/** A state name coloured by its type. */
export function stateCell(state: { type: string; name: string } | null | undefined): Cell {
  if (!state) return "-";
  const colour = STATE_COLOURS[state.type] ?? 0;
  return { text: state.name, style: (text) => paint(colour, text) };
}

export function flag(on: boolean, label: string): Cell {
  return on ? { text: label, style: (text) => paint(33, text) } : "";
}

export const limitText = (limit: number | null | undefined): string =>
  limit === null || limit === undefined ? "none" : String(limit);

/** Every item of a paged listing. */
export async function allPages<T>(fetchPage: (offset: number) => Promise<Page<T>>): Promise<T[]> {
  const items: T[] = [];
  let offset: number | null = 0;
  while (offset !== null) {
    const page: Page<T> = await fetchPage(offset);
    items.push(...page.items);
    offset = page.nextOffset;
  }
  return items;
}
