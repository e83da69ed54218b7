import {
  BatonError,
  EventName,
  isEvent,
  isTerminal,
  type BatonEvent,
  type FlowRun,
  type Log,
  type State,
} from "@baton/core";
import type { BatonClient } from "@baton/client";
import { allPages, clock, escapeControl } from "./format.js";
import { dim, paint } from "./output.js";

const LEVELS: [number, string, number][] = [
  [50, "CRITICAL", 31],
  [40, "ERROR", 31],
  [30, "WARNING", 33],
  [20, "INFO", 36],
  [10, "DEBUG", 90],
];

function levelName(level: number): [string, number] {
  const found = LEVELS.find(([min]) => level >= min);
  return found ? [found[1], found[2]] : [`LEVEL ${level}`, 90];
}

export function logLine(log: Log): string {
  const [name, colour] = levelName(log.level);
  return `${dim(clock(log.timestamp))} | ${paint(colour, name.padEnd(8))} | ${escapeControl(log.name)} - ${escapeControl(log.message, { keepLines: true })}\n`;
}

export const stateLine = (state: State): string =>
  `${dim(clock(state.timestamp))} | ${"STATE".padEnd(8)} | flow run is ${escapeControl(state.name)}${state.message ? `: ${escapeControl(state.message, { keepLines: true })}` : ""}\n`;

export interface FollowHandlers {
  /** The run as it is once its events are being received, before anything else is reported. */
  start?(run: FlowRun): void;
  /** Each log of the run, once: those written so far, then new ones as they arrive. */
  log(log: Log): void;
  /** Each state change from `start` on, the final one included. */
  state(state: State): void;
}

/**
 * Follows a flow run until it ends and resolves with its final state, or with null when `signal`
 * aborts first (the run keeps going). Rejects when the run does not exist or the stream is lost.
 *
 * No race: the event stream is opened first, then the run and its logs are read, and events that
 * arrive meanwhile are held back until those are reported; a run that ended before the stream
 * opened is reported with the state it ended in.
 */
export async function followRun(
  client: BatonClient,
  id: string,
  handlers: FollowHandlers,
  signal?: AbortSignal,
): Promise<State | null> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  signal?.addEventListener("abort", stop, { once: true });
  const seen = new Set<string>();
  const buffered: BatonEvent[] = [];
  let replaying = true;
  let ended: State | undefined;
  const end = (state: State) => {
    handlers.state(state);
    ended = state;
    controller.abort();
  };
  const show = (log: Log) => {
    if (seen.has(log.id)) return;
    seen.add(log.id);
    handlers.log(log);
  };
  const handle = (event: BatonEvent) => {
    if (replaying) {
      buffered.push(event);
      return;
    }
    if (ended || controller.signal.aborted) return;
    if (isEvent(event, EventName.Log)) {
      for (const log of event.payload.logs) show(log);
    } else if (isEvent(event, EventName.FlowRunStateChanged) && event.resource.id === id) {
      const { state } = event.payload;
      if (isTerminal(state.type)) end(state);
      else handlers.state(state);
    }
  };
  let opened!: () => void;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const stream = client.events(
    {
      flowRunId: id,
      names: [EventName.Log, EventName.FlowRunStateChanged],
      signal: controller.signal,
      // Through a server restart or another replica: the states missed meanwhile come first.
      resume: true,
      onOpen: () => opened(),
    },
    handle,
  );
  try {
    await Promise.race([open, stream]);
    const run = await client.api.readFlowRun({ params: { id } }, controller.signal);
    const logs = await allPages((offset) =>
      client.api.listLogs({ query: { flowRunId: id, limit: 5000, offset } }, controller.signal),
    );
    handlers.start?.(run);
    for (const log of logs) show(log);
    replaying = false;
    for (const event of buffered.splice(0)) handle(event);
    if (!ended && run.state && isTerminal(run.state.type)) end(run.state);
    await stream;
  } catch (error) {
    const stopped = controller.signal.aborted;
    controller.abort();
    await stream.catch(() => undefined);
    if (!stopped) throw error;
  } finally {
    signal?.removeEventListener("abort", stop);
  }
  if (ended) return ended;
  if (signal?.aborted) return null;
  throw new BatonError(
    "unavailable",
    `the event stream of ${client.url} closed before flow run ${id} ended; run the command again to keep following`,
  );
}

const FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏";

/**
 * Lines for the terminal with, on a TTY, a spinner line below them saying what is awaited;
 * elsewhere (a pipe, a file, TERM=dumb) just the lines.
 */
export function statusOutput(): { line(text: string): void; status(text: string): void; close(): void } {
  const live = Boolean(process.stdout.isTTY) && process.env.TERM !== "dumb";
  let status = "";
  let frame = 0;
  const started = Date.now();
  const draw = () => {
    if (!status) return;
    const seconds = Math.floor((Date.now() - started) / 1000);
    process.stdout.write(
      `\r\x1b[K${paint(36, FRAMES[frame++ % FRAMES.length]!)} ${status} ${dim(`${seconds} s`)}`,
    );
  };
  const clear = () => {
    if (status) process.stdout.write("\r\x1b[K");
  };
  const timer = live ? setInterval(draw, 100) : undefined;
  return {
    line(text) {
      if (live) clear();
      process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
      if (live) draw();
    },
    status(text) {
      if (!live) return;
      clear();
      status = text;
      draw();
    },
    close() {
      clearInterval(timer);
      if (live) clear();
      status = "";
    },
  };
}
