import { EventEmitter } from "node:events";
import { newId, type BatonEvent, type JsonObject } from "@baton/core";

/** In-process fan-out of events to live subscribers (the SSE stream, services). */
export class EventBus {
  readonly #emitter = new EventEmitter();

  constructor() {
    // Every open dashboard tab and CLI follower is a listener.
    this.#emitter.setMaxListeners(0);
  }

  publish(
    name: string,
    resource: { kind: string; id: string },
    flowRunId: string | null,
    payload: JsonObject,
  ): void {
    this.emit({ id: newId(), name, occurred: new Date().toISOString(), resource, flowRunId, payload });
  }

  /** Sends an event made elsewhere: a stored one goes out with the id it is stored under. */
  emit(event: BatonEvent): void {
    this.#emitter.emit("event", event);
  }

  subscribe(listener: (event: BatonEvent) => void): () => void {
    this.#emitter.on("event", listener);
    return () => this.#emitter.off("event", listener);
  }
}
