import { createConnection, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient, readEventStream } from "@baton/client";
import { STORED_EVENTS, newId, type BatonEvent, type State, type StateType } from "@baton/core";
import { DIALECTS, throwawayDatabase, type ThrowawayDatabase } from "../../../test/helpers.js";
import { startServerProcess, type ServerProcess } from "./server-process.js";

const MiB = 1024 * 1024;
/** Each log batch is one `log` event of 16 lines of 16 KiB: 256 KiB to send to every client. */
const LINE = "x".repeat(16 * 1024);
const BATCHES = 160; // 40 MiB of events
const STALLED_CLIENTS = 20;

/** An event stream read through a raw socket that stops reading once the stream has started. */
interface StalledStream {
  /** Reads again; resolves with everything received once the server has closed the connection. */
  readToEnd(): Promise<string>;
}

async function openStalledStream(apiUrl: string): Promise<StalledStream> {
  const url = new URL(`${apiUrl}/events/stream`);
  const socket: Socket = createConnection({ host: url.hostname, port: Number(url.port) });
  const received: Buffer[] = [];
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  socket.on("error", () => undefined);
  socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n\r\n`);
  await new Promise<void>((started) => {
    let stalled = false;
    socket.on("data", (chunk: Buffer) => {
      received.push(chunk);
      if (stalled || !Buffer.concat(received).includes(": connected")) return;
      stalled = true;
      socket.pause();
      started();
    });
  });
  return {
    readToEnd: async () => {
      socket.resume();
      await closed;
      return Buffer.concat(received).toString();
    },
  };
}

/** The complete event frames in what a stream received, in order (a frame cut off at the end is not). */
function framesIn(text: string): { id: string; name: string }[] {
  return [...text.matchAll(/id: ([0-9a-f-]{36})\nevent: ([^\n]+)\ndata: [^\n]*\n\n/g)].map((match) => ({
    id: match[1]!,
    name: match[2]!,
  }));
}

/** Reads `count` events from the stream after `lastEventId`, as a reconnecting client does. */
async function resume(apiUrl: string, lastEventId: string, count: number): Promise<BatonEvent[]> {
  const controller = new AbortController();
  const response = await fetch(`${apiUrl}/events/stream`, {
    headers: { accept: "text/event-stream", "last-event-id": lastEventId },
    signal: controller.signal,
  });
  expect(response.status).toBe(200);
  const events: BatonEvent[] = [];
  await readEventStream(response.body!, (data) => {
    events.push(JSON.parse(data) as BatonEvent);
    if (events.length === count) controller.abort();
  }).catch((error: unknown) => {
    if (!controller.signal.aborted) throw error;
  });
  return events;
}

const storedNames: readonly string[] = STORED_EVENTS;

describe.each(DIALECTS)("event streams (%s)", (dialect) => {
  let database: ThrowawayDatabase;
  let server: ServerProcess;
  let client: BatonClient;

  beforeAll(async () => {
    database = await throwawayDatabase(dialect);
    server = await startServerProcess(database.url);
    client = new BatonClient({ url: server.apiUrl });
  });

  afterAll(async () => {
    await server?.stop();
    await database?.drop();
  });

  it(
    "drop clients that stop reading, keep the server's memory bounded, and replay what a dropped client missed",
    { timeout: 240_000 },
    async () => {
      const { id: flowId } = await client.api.createFlow({ body: { name: "streamed" } });
      const logs = () =>
        Array.from({ length: 16 }, () => ({ level: 20, message: LINE, timestamp: new Date().toISOString() }));

      // A client that reads everything, to the last run's state change.
      const seen: BatonEvent[] = [];
      const following = new AbortController();
      let opened!: () => void;
      const open = new Promise<void>((resolve) => (opened = resolve));
      let sawLast!: () => void;
      const lastRunId = newId(); // the id of the run created last, chosen now
      const sawLastRun = new Promise<void>((resolve) => (sawLast = resolve));
      const normal = client.events({ signal: following.signal, onOpen: () => opened() }, (event) => {
        seen.push(event);
        if (event.name === "flow-run.state-changed" && event.flowRunId === lastRunId) sawLast();
      });
      await open;

      const stalled = await Promise.all(
        Array.from({ length: STALLED_CLIENTS }, () => openStalledStream(server.apiUrl)),
      );
      // Less than the sockets themselves hold, so nobody is dropped yet: the baseline has the code warm.
      for (let batch = 0; batch < 4; batch++) await client.api.createLogs({ body: logs() });
      const baseline = server.rss();
      let peak = baseline;
      for (let batch = 0; batch < BATCHES; batch++) {
        await client.api.createLogs({ body: logs() });
        if (batch % 4 === 0) {
          const run = await client.api.createFlowRun({ body: { flowId } });
          await client.api.setFlowRunState({ params: { id: run.id }, body: { state: { type: "PENDING" } } });
        }
        peak = Math.max(peak, server.rss());
      }
      await client.api.createFlowRun({ body: { id: lastRunId, flowId } });
      // The normal client keeps up to the end: its stream must not end before the last run's event.
      await Promise.race([
        sawLastRun,
        normal.then(() => Promise.reject(new Error("the reading client's stream ended"))),
      ]);
      following.abort();
      await normal;

      // Serialized once per client and buffered without bound, this was 20 copies of 40 MiB (+810 MB
      // measured); now one string per event is shared, and a stalled client is dropped past 1 MiB.
      expect(peak - baseline).toBeLessThan(150 * MiB);
      expect(server.alive()).toBe(true);
      expect(seen.filter((event) => event.name === "log")).toHaveLength(BATCHES + 4);

      // Every stalled client was disconnected: reading again reaches the end of its stream.
      const received = await Promise.all(stalled.map((stream) => stream.readToEnd()));
      const ids = seen.map((event) => event.id);
      for (const text of received.slice(0, 5)) {
        const frames = framesIn(text);
        expect(frames.length).toBeGreaterThan(0);
        expect(frames.length).toBeLessThan(seen.length);
        // What it got is the start of what the normal client got; the stored events after that are
        // sent again on reconnection with Last-Event-ID, in order, and nothing else before them.
        const lastId = frames.at(-1)!.id;
        expect(frames.map((frame) => frame.id)).toEqual(ids.slice(0, frames.length));
        const missed = seen
          .slice(ids.indexOf(lastId) + 1)
          .filter((event) => storedNames.includes(event.name));
        expect(missed.length).toBeGreaterThan(0);
        const replayed = await resume(server.apiUrl, lastId, missed.length);
        expect(replayed.map((event) => event.id)).toEqual(missed.map((event) => event.id));
      }
    },
  );

  it("narrowed to state types, sends only run state changes into them, live and replayed", async () => {
    const { id: flowId } = await client.api.createFlow({ body: { name: "narrowed" } });
    const [cancelled, completed] = await Promise.all(
      [1, 2].map(() => client.api.createFlowRun({ body: { flowId } })),
    );
    const seen: BatonEvent[] = [];
    const following = new AbortController();
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    let sawBoth!: () => void;
    const both = new Promise<void>((resolve) => (sawBoth = resolve));
    const stream = client.events(
      { stateTypes: ["CANCELLING", "CANCELLED"], signal: following.signal, onOpen: () => opened() },
      (event) => {
        seen.push(event);
        if (seen.length === 2) sawBoth();
      },
    );
    await open;
    const propose = (id: string, type: StateType) =>
      client.api.setFlowRunState({ params: { id }, body: { state: { type } } });
    for (const type of ["PENDING", "RUNNING"] as const) {
      await propose(cancelled!.id, type);
      await propose(completed!.id, type);
    }
    await propose(cancelled!.id, "CANCELLING");
    await propose(completed!.id, "COMPLETED");
    await client.api.createLogs({
      body: [{ level: 20, message: "between", timestamp: new Date().toISOString() }],
    });
    await propose(cancelled!.id, "CANCELLED");
    await both;
    following.abort();
    await stream;
    const states = (events: BatonEvent[]) =>
      events.map((event) => [event.resource.id, (event.payload as { state: State }).state.type]);
    expect(states(seen)).toEqual([
      [cancelled!.id, "CANCELLING"],
      [cancelled!.id, "CANCELLED"],
    ]);

    // Replayed after the first with the same narrowing: the second, and nothing stored in between.
    const replayed: BatonEvent[] = [];
    const resumed = new AbortController();
    await client.events(
      { stateTypes: ["CANCELLED"], signal: resumed.signal, lastEventId: seen[0]!.id },
      (event) => {
        replayed.push(event);
        resumed.abort();
      },
    );
    expect(states(replayed)).toEqual([[cancelled!.id, "CANCELLED"]]);

    const refused = await fetch(`${server.apiUrl}/events/stream?stateType=STOPPED`);
    expect(refused.status).toBe(400);
    expect(((await refused.json()) as { detail: string }).detail).toContain("stateType");
  });

  it("refuses a Last-Event-ID that is not an event id, saying what to send", async () => {
    const response = await fetch(`${server.apiUrl}/events/stream`, {
      headers: { "last-event-id": "yesterday" },
    });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { detail: string }).detail).toContain("Last-Event-ID");
  });
});
