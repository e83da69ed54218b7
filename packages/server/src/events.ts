import { EventEmitter } from "node:events";
import { newId, type BatonEvent, type EventName, type EventPayloads } from "@baton/core";

/** How many recent event ids a bus remembers, so that an event delivered twice reaches nobody twice. */
const REMEMBERED = 10_000;

/**
 * Fan-out of events to live subscribers (the SSE stream, claims, services). Events this server makes
 * are `emit`ted: delivered here and handed to `subscribeOwn` listeners (the relay that sends them to
 * the other servers of a PostgreSQL database). Events heard from elsewhere are `deliver`ed here only.
 */
export class EventBus {
  readonly #emitter = new EventEmitter();
  readonly #recent = new Set<string>();

  constructor() {
    // Every open dashboard tab and CLI follower is a listener.
    this.#emitter.setMaxListeners(0);
  }

  /** Sends one of Baton's live-only events (stored ones are sent by `emit` once stored). */
  publish<N extends EventName>(
    name: N,
    resource: { kind: string; id: string },
    flowRunId: string | null,
    payload: EventPayloads[N],
  ): void {
    this.emit({ id: newId(), name, occurred: new Date().toISOString(), resource, flowRunId, payload });
  }

  /** Sends an event made by this server: a stored one goes out with the id it is stored under. */
  emit(event: BatonEvent): void {
    this.#deliver(event, false);
    this.#emitter.emit("own", event);
  }

  /** Delivers an event heard from another server to this server's subscribers only, once per id. */
  deliver(event: BatonEvent): void {
    this.#deliver(event, true);
  }

  #deliver(event: BatonEvent, relayed: boolean): void {
    if (this.#recent.has(event.id)) return;
    this.#recent.add(event.id);
    if (this.#recent.size > REMEMBERED) this.#recent.delete(this.#recent.values().next().value!);
    this.#emitter.emit("event", event);
    this.#emitter.emit("delivered", event, relayed);
  }

  subscribe(listener: (event: BatonEvent) => void): () => void {
    this.#emitter.on("event", listener);
    return () => this.#emitter.off("event", listener);
  }

  /** Every delivery, after the subscribers had it, and whether the event was heard from another server (metrics). */
  subscribeDelivered(listener: (event: BatonEvent, relayed: boolean) => void): () => void {
    this.#emitter.on("delivered", listener);
    return () => this.#emitter.off("delivered", listener);
  }

  /** Events this server made (not those heard from others). */
  subscribeOwn(listener: (event: BatonEvent) => void): () => void {
    this.#emitter.on("own", listener);
    return () => this.#emitter.off("own", listener);
  }
}
