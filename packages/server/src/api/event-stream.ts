import type { ServerResponse } from "node:http";
import type { FastifyInstance } from "fastify";
import {
  BatonError,
  EVENT_STREAM_PATH,
  EventName,
  EventStreamQuery,
  eventState,
  Id,
  type BatonEvent,
  type StateType,
} from "@baton/core";
import type { StoreContext } from "../store/context.js";
import { replayStart, storedEventsAfter } from "../store/events.js";

/**
 * A client whose socket holds more than this unsent is too slow to follow the stream: it is dropped,
 * and reconnects with Last-Event-ID (the stored events it missed are sent again).
 */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Nor may a client leave a full socket buffer unread for longer than this. */
const DRAIN_TIMEOUT_MS = 10_000;
/** Comments keep proxies and idle timers from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;
const REPLAY_PAGE = 200;
/** Live events held back while a replay is read; a replay that falls this far behind is dropped. */
const MAX_HELD_EVENTS = 10_000;

// Every subscriber gets the same event object from the bus: its frame is made once, for all of them.
const frames = new WeakMap<BatonEvent, string>();

function frameOf(event: BatonEvent): string {
  let frame = frames.get(event);
  if (frame === undefined) {
    frame = `id: ${event.id}\nevent: ${event.name}\ndata: ${JSON.stringify(event)}\n\n`;
    frames.set(event, frame);
  }
  return frame;
}

/** One client's response: written to while it keeps up, destroyed when it does not. */
class StreamClient {
  readonly #raw: ServerResponse;
  #drainTimer: NodeJS.Timeout | undefined;

  constructor(raw: ServerResponse) {
    this.#raw = raw;
    raw.on("drain", () => {
      clearTimeout(this.#drainTimer);
      this.#drainTimer = undefined;
    });
    raw.once("close", () => clearTimeout(this.#drainTimer));
  }

  get gone(): boolean {
    return this.#raw.destroyed || this.#raw.writableEnded;
  }

  /** Writes a frame; false once the client is gone (it closed, or was dropped for falling behind). */
  send(frame: string): boolean {
    if (this.gone) return false;
    const accepted = this.#raw.write(frame);
    if (this.#raw.writableLength > MAX_BUFFERED_BYTES) {
      this.drop();
      return false;
    }
    if (!accepted) this.#drainTimer ??= setTimeout(() => this.drop(), DRAIN_TIMEOUT_MS);
    return true;
  }

  /** Resolves once the socket can take more (or the client is gone). */
  async drained(): Promise<void> {
    if (this.gone || !this.#raw.writableNeedDrain) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.#raw.off("drain", done);
        this.#raw.off("close", done);
        resolve();
      };
      this.#raw.once("drain", done);
      this.#raw.once("close", done);
    });
  }

  /**
   * Ends the connection at once: what the socket still held is discarded, so the server's memory
   * goes with it (ending gracefully would wait for a client that does not read).
   */
  drop(): void {
    this.#raw.destroy();
  }
}

/**
 * A run state change into one of `types`. A change relayed from another server without its payload
 * (too large to relay) may be one: it passes, and its follower reads the run.
 */
function entersStateType(event: BatonEvent, types: readonly StateType[]): boolean {
  if (event.name !== EventName.FlowRunStateChanged && event.name !== EventName.TaskRunStateChanged)
    return false;
  const state = eventState(event);
  return state === null || types.includes(state.type);
}

function lastEventIdOf(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header.at(-1) : header;
  if (value === undefined || value === "") return undefined;
  if (!Id.safeParse(value).success) {
    throw new BatonError(
      "invalid_argument",
      `invalid Last-Event-ID '${value.slice(0, 100)}': send the id of the last event the stream sent, or no header`,
    );
  }
  return value;
}

/**
 * `GET /api/events/stream`: live events as server-sent events. Every event is serialized once for all
 * clients; a client that does not keep up is dropped rather than buffered without bound. A client
 * that reconnects with `Last-Event-ID` first gets the stored events it missed (the kinds in
 * STORED_EVENTS; the others are live only), then the live ones, none twice.
 */
export function registerEventStream(api: FastifyInstance, ctx: StoreContext): void {
  api.get(
    EVENT_STREAM_PATH,
    {
      schema: {
        summary:
          "Live events (server-sent events); with Last-Event-ID, the stored events since that one first",
        tags: ["events"],
        querystring: EventStreamQuery,
      },
    },
    async (request, reply) => {
      const query = request.query as { flowRunId?: string; name?: string[]; stateType?: StateType[] };
      const lastEventId = lastEventIdOf(request.headers["last-event-id"]);
      const matches = (event: BatonEvent) =>
        (!query.flowRunId || event.flowRunId === query.flowRunId) &&
        (!query.name?.length || query.name.includes(event.name)) &&
        (!query.stateType?.length || entersStateType(event, query.stateType));

      const client = new StreamClient(reply.raw);
      // Subscribed before the replay is read, so that nothing falls between the two: live events
      // are held until the replay has been sent, and those it sent already are skipped.
      let held: BatonEvent[] | undefined = lastEventId ? [] : undefined;
      const unsubscribe = ctx.events.subscribe((event) => {
        if (!matches(event)) return;
        if (!held) client.send(frameOf(event));
        else if (held.push(event) > MAX_HELD_EVENTS) client.drop();
      });
      let start: number | null = null;
      try {
        if (lastEventId) start = await replayStart(ctx, lastEventId);
      } catch (error) {
        unsubscribe();
        throw error;
      }

      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        "content-type": "text/event-stream",
        "cache-control": "no-cache",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      raw.write(": connected\n\n");
      const keepAlive = setInterval(() => client.send(": keep-alive\n\n"), KEEP_ALIVE_MS);
      // A stopping server ends its streams: clients open them again elsewhere, from their last event.
      const end = () => (raw.writableLength > 0 ? raw.destroy() : raw.end()); // a stalled client is cut
      if (ctx.stopping?.aborted) end();
      ctx.stopping?.addEventListener("abort", end, { once: true });
      raw.once("close", () => {
        clearInterval(keepAlive);
        unsubscribe();
        ctx.stopping?.removeEventListener("abort", end);
      });
      if (!held) return;

      const replayed = new Set<string>();
      try {
        for (let after = start; after !== null;) {
          const page = await storedEventsAfter(
            ctx,
            after,
            { flowRunId: query.flowRunId, names: query.name, stateTypes: query.stateType },
            REPLAY_PAGE,
          );
          if (client.gone) return;
          for (const { seq, event } of page) {
            after = seq;
            await client.drained();
            if (!client.send(frameOf(event))) return;
            replayed.add(event.id);
          }
          if (page.length < REPLAY_PAGE) break;
        }
      } catch (error) {
        // The client reconnects with the last event it got and the replay resumes from there.
        request.log.warn({ err: error }, "event stream replay failed; the client was disconnected");
        client.drop();
        return;
      }
      const live = held.filter((event) => !replayed.has(event.id));
      held = undefined;
      for (const event of live) if (!client.send(frameOf(event))) return;
    },
  );
}
