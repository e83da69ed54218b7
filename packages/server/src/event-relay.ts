import { randomUUID } from "node:crypto";
import pg from "pg";
import { EventName, isEvent, newId, TRUNCATED_PAYLOAD, type BatonEvent } from "@baton/core";
import type { EventBus } from "./events.js";
import type { StoreContext } from "./store/context.js";
import type { Selectable } from "kysely";
import { EVENT_CHANNEL, MAX_NOTICE_BYTES } from "./db/migrations.js";
import type { EventTable } from "./db/schema.js";
import { readStoredEvent, replayStart, storedEventsAfter, toStoredEvent } from "./store/events.js";
import { readFlowRun } from "./store/flow-runs.js";
import { readLogs } from "./store/logs.js";
import { readTaskRun } from "./store/task-runs.js";

const RECONNECT_MS = { first: 200, most: 5000 };
/** Log line ids per notification of a batch too big to send whole (an id and its quotes: 39 bytes). */
const LOG_IDS_PER_NOTICE = 150;

/**
 * What one notification carries. A stored event's is sent by the transaction that stores it (the
 * events table's trigger): its row, or its id when too big. A live-only event's is sent by the server
 * that made it: its origin, and the event, or the event without its payload and the ids of the log
 * lines it carried.
 */
interface Notice {
  origin?: string;
  row?: Selectable<EventTable>;
  storedId?: string;
  event?: BatonEvent;
  logIds?: string[];
}

/**
 * A live-only event heard without its payload, read back from the store: its log lines, or the run
 * it announced. Others stay without their payload (readers go by their name).
 */
async function restorePayload(
  ctx: StoreContext,
  event: BatonEvent,
  logIds: string[] | undefined,
): Promise<BatonEvent> {
  if (logIds) return { ...event, payload: { logs: await readLogs(ctx, logIds) } };
  if (event.name === EventName.FlowRunCreated)
    return { ...event, payload: { flowRun: await readFlowRun(ctx, event.resource.id) } };
  if (event.name === EventName.TaskRunCreated)
    return { ...event, payload: { taskRun: await readTaskRun(ctx, event.resource.id) } };
  return event;
}

/**
 * Relays events between the servers of one PostgreSQL database over LISTEN/NOTIFY, so that a state
 * change made through any server reaches the claims, event streams and services of every server.
 * Each server delivers its own events at once and hears the others'. Stored events are announced by
 * the transactions that store them, so they are heard in commit order (one run's changes in the
 * order they were made); a server hears its own too, which its bus drops as already delivered. One
 * too big for NOTIFY goes by its id and is read back. Live-only events are sent by the server that
 * made them, after the fact; one too big goes without its payload, which the hearing server reads
 * back where it can (log lines by their ids, a created run by its id). After its listening connection comes back, a server delivers the stored events it
 * missed meanwhile (the bus drops any it already delivered).
 */
export class PostgresEventRelay {
  readonly #origin = randomUUID();
  readonly #queue: string[] = [];
  #sending: Promise<void> | null = null;
  #delivering: Promise<void> = Promise.resolve();
  #notifier: pg.Client | null = null;
  #listener: pg.Client | null = null;
  #closed = false;
  /** The last stored event heard or sent: where a catch-up after a lost connection starts. */
  #lastStoredId: string | null = null;
  readonly #unsubscribe: () => void;

  constructor(
    private readonly url: string,
    private readonly ctx: StoreContext,
    private readonly log: (message: string) => void,
  ) {
    this.#unsubscribe = ctx.events.subscribeOwn((event) => this.#send(event));
  }

  get #bus(): EventBus {
    return this.ctx.events;
  }

  /** Connects the listening connection; resolves once this server hears the others. */
  async start(): Promise<void> {
    await this.#listen(false);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#unsubscribe();
    await this.#sending;
    for (const client of [this.#listener, this.#notifier]) await client?.end().catch(() => undefined);
  }

  #connect(): pg.Client {
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 5000 });
    // A dropped connection is replaced below; its error must not end the process.
    client.on("error", () => undefined);
    return client;
  }

  async #listen(catchUp: boolean): Promise<void> {
    const client = this.#connect();
    client.on("notification", (message) => {
      if (message.channel === EVENT_CHANNEL && message.payload) this.#heard(message.payload);
    });
    client.once("end", () => {
      if (this.#listener === client) this.#listener = null;
      if (!this.#closed) void this.#reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${EVENT_CHANNEL}`);
    this.#listener = client;
    if (catchUp) await (this.#delivering = this.#delivering.then(() => this.#catchUp()));
  }

  async #reconnect(): Promise<void> {
    for (let delay = RECONNECT_MS.first; !this.#closed; delay = Math.min(delay * 2, RECONNECT_MS.most)) {
      await new Promise((resolve) => setTimeout(resolve, delay));
      try {
        await this.#listen(true);
        this.log("event relay: listening again; delivered the stored events missed meanwhile");
        return;
      } catch (error) {
        this.log(`event relay: cannot listen yet (${(error as Error).message}); trying again`);
      }
    }
  }

  /** Stored events since the last one this server knew of, delivered in the order they were stored. */
  async #catchUp(): Promise<void> {
    if (this.#lastStoredId === null) return;
    const start = await replayStart(this.ctx, this.#lastStoredId);
    if (start === null) return;
    for (let seq = start; ;) {
      const page = await storedEventsAfter(this.ctx, seq, {}, 500);
      for (const { event } of page) this.#deliver(event);
      if (page.length < 500) return;
      seq = page.at(-1)!.seq;
    }
  }

  /** Delivers what another server sent, in the order heard (a stored event read back waits its turn). */
  #heard(payload: string): void {
    let notice: Notice;
    try {
      notice = JSON.parse(payload) as Notice;
    } catch {
      return; // not ours
    }
    if (notice.origin === this.#origin) return;
    this.#delivering = this.#delivering.then(async () => {
      let event: BatonEvent | null = notice.row
        ? toStoredEvent(notice.row)
        : notice.storedId
          ? await readStoredEvent(this.ctx, notice.storedId).catch(() => null)
          : null;
      if (notice.event) {
        event = notice.event.payload.truncated
          ? await restorePayload(this.ctx, notice.event, notice.logIds).catch(() => notice.event!)
          : notice.event;
      }
      if (event) this.#deliver(event);
    });
  }

  #deliver(event: BatonEvent): void {
    if ("related" in event) this.#lastStoredId = event.id;
    this.#bus.deliver(event);
  }

  #send(event: BatonEvent): void {
    if ("related" in event) {
      this.#lastStoredId = event.id; // announced by the transaction that stored it
      return;
    }
    const whole = JSON.stringify({ origin: this.#origin, event } satisfies Notice);
    if (Buffer.byteLength(whole) <= MAX_NOTICE_BYTES) this.#queue.push(whole);
    else {
      const bare = { ...event, payload: TRUNCATED_PAYLOAD };
      if (isEvent(event, EventName.Log)) {
        // The lines go by id, a bounded number per notification, each one an event of its own.
        const ids = event.payload.logs.map((log) => log.id);
        for (let start = 0; start < ids.length; start += LOG_IDS_PER_NOTICE) {
          const logIds = ids.slice(start, start + LOG_IDS_PER_NOTICE);
          this.#queue.push(
            JSON.stringify({
              origin: this.#origin,
              event: { ...bare, id: newId() },
              logIds,
            } satisfies Notice),
          );
        }
      } else this.#queue.push(JSON.stringify({ origin: this.#origin, event: bare } satisfies Notice));
    }
    this.#sending ??= this.#drain();
  }

  /** Sends the queued notices in order, in batches of one statement, on one connection. */
  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const batch = this.#queue.splice(0, 100);
        try {
          this.#notifier ??= await this.#openNotifier();
          await this.#notifier.query(`SELECT pg_notify('${EVENT_CHANNEL}', p) FROM unnest($1::text[]) AS p`, [
            batch,
          ]);
        } catch (error) {
          // The others miss these live; stored ones they read when their own catch-up runs.
          this.log(`event relay: could not send ${batch.length} event(s): ${(error as Error).message}`);
          await this.#notifier?.end().catch(() => {});
          this.#notifier = null;
        }
      }
    } finally {
      this.#sending = null;
    }
  }

  async #openNotifier(): Promise<pg.Client> {
    const client = this.#connect();
    client.once("end", () => {
      if (this.#notifier === client) this.#notifier = null;
    });
    await client.connect();
    return client;
  }
}
