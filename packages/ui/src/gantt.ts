/** Where the bars of a run's timeline go: spans of time as fractions of a common window. */
import { formatDuration } from "./format.js";

/** Something that ran from `start` to `end`; no end means it is still going. */
export interface Span {
  start: string | null;
  end: string | null;
}

/** The time the timeline covers, in milliseconds since the epoch. */
export interface TimeWindow {
  from: number;
  to: number;
}

/** A bar's place in the window: `offset` and `width` are fractions of the window's length. */
export interface BarPlace {
  offset: number;
  width: number;
}

/** The narrowest bar drawn, as a fraction of the window, so that a task of a millisecond still shows. */
export const MIN_BAR_WIDTH = 0.004;

/**
 * Where a span ends, or for one still going, now: never before its start, since the browser's
 * clock and the server's (which stamped the start) may disagree, and `now` ticks only every so often.
 */
export function endOrNow(span: Span & { start: string }, now: number): number {
  return span.end ? Date.parse(span.end) : Math.max(now, Date.parse(span.start));
}

/**
 * From the first start to the last end, or to `now` while anything is still going; null when
 * nothing has started. Never shorter than a millisecond.
 */
export function timeWindow(spans: Span[], now: number): TimeWindow | null {
  let from = Infinity;
  let to = -Infinity;
  for (const span of spans) {
    const { start, end } = span;
    if (!start) continue;
    from = Math.min(from, Date.parse(start));
    to = Math.max(to, endOrNow({ start, end }, now));
  }
  if (from === Infinity) return null;
  return { from, to: Math.max(to, from + 1) };
}

const clamp = (value: number) => Math.min(1, Math.max(0, value));

/** Where a span's bar goes in the window; null for a span that has not started. */
export function placeBar(span: Span, window: TimeWindow, now: number): BarPlace | null {
  const { start, end } = span;
  if (!start) return null;
  const length = window.to - window.from;
  const offset = clamp((Date.parse(start) - window.from) / length);
  const width = clamp((endOrNow({ start, end }, now) - Date.parse(start)) / length);
  return { offset: Math.min(offset, 1 - MIN_BAR_WIDTH), width: Math.max(width, MIN_BAR_WIDTH) };
}

/** `count` + 1 evenly spaced marks over the window, each labelled with the time since its start. */
export function axisTicks(window: TimeWindow, count = 4): { at: number; label: string }[] {
  const length = window.to - window.from;
  return Array.from({ length: count + 1 }, (_, index) => {
    const at = index / count;
    return { at, label: index === 0 ? "0s" : `+${formatDuration(at * length)}` };
  });
}
