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
    const event: BatonEvent = {
      id: newId(),
      name,
      occurred: new Date().toISOString(),
      resource,
      flowRunId,
      payload,
    };
    this.#emitter.emit("event", event);
  }

  subscribe(listener: (event: BatonEvent) => void): () => void {
    this.#emitter.on("event", listener);
    return () => this.#emitter.off("event", listener);
  }
}
