import { untilReachable } from "./reachable.js";

/**
 * Sends items to the API in batches: a flush is scheduled when the first item of a batch arrives,
 * so a burst costs one request; batches go out in order, one after the other; `flush()` resolves
 * once everything pushed so far is sent (runs await it before reporting their final state).
 */
export class Batcher<T> {
  #pending: T[] = [];
  #timer: NodeJS.Timeout | undefined;
  #inFlight: Promise<void> = Promise.resolve();
  /** Settles once the pending batch has been sent (or given up on); made when first asked for. */
  #pendingSent: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(
    /** What a batch is, for the message when it cannot be sent. */
    private readonly what: string,
    private readonly send: (batch: T[]) => Promise<unknown>,
    private readonly intervalMs: number,
    private readonly maxBatch: number,
  ) {}

  push(item: T): void {
    this.#pending.push(item);
    if (this.#pending.length >= this.maxBatch) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.intervalMs);
  }

  /** Resolves once everything pushed so far has been sent, without sending it any sooner than `flush()` would. */
  sent(): Promise<void> {
    if (this.#pending.length === 0) return this.#inFlight;
    if (!this.#pendingSent) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.#pendingSent = { promise, resolve };
    }
    return this.#pendingSent.promise;
  }

  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#pending;
    this.#pending = [];
    const sent = this.#pendingSent;
    this.#pendingSent = undefined;
    this.#inFlight = this.#inFlight.then(async () => {
      if (batch.length === 0) return;
      try {
        await untilReachable(`${batch.length} ${this.what}`, () => this.send(batch));
      } catch (error) {
        process.stderr.write(
          `baton: could not send ${batch.length} ${this.what}: ${(error as Error).message}\n`,
        );
      } finally {
        sent?.resolve();
      }
    });
    return this.#inFlight;
  }
}

/** One batcher per client and kind, shared by every run of the process. */
export function perClient<C extends object, B>(make: (client: C) => B): (client: C) => B {
  const made = new WeakMap<C, B>();
  return (client) => {
    let batcher = made.get(client);
    if (!batcher) made.set(client, (batcher = make(client)));
    return batcher;
  };
}
