import {
  BatonError,
  EVENT_STREAM_PATH,
  fillPath,
  isErrorCode,
  routes,
  type BatonEvent,
  type ProblemDocument,
  type RouteInput,
  type RouteOutput,
  type Routes,
  type RouteSpec,
  type StateType,
} from "@baton/core";
import { readEventStream } from "./events.js";

export interface ClientOptions {
  /** The API's base URL, ending in /api. @default "http://127.0.0.1:4200/api" */
  url?: string;
  /** Sent as a bearer token when the server requires BATON_API_KEY. */
  apiKey?: string;
  /** Defaults to the global fetch. */
  fetch?: typeof fetch;
}

/** One method per API operation, typed from the route table in @baton/core. */
export type ApiMethods = {
  // An operation whose input has no required part may be called without one.
  // eslint-disable-next-line @typescript-eslint/no-empty-object-type
  [K in keyof Routes]: {} extends RouteInput<Routes[K]>
    ? (input?: RouteInput<Routes[K]>, signal?: AbortSignal) => Promise<RouteOutput<Routes[K]>>
    : (input: RouteInput<Routes[K]>, signal?: AbortSignal) => Promise<RouteOutput<Routes[K]>>;
};

function isProblem(value: unknown): value is ProblemDocument {
  return typeof value === "object" && value !== null && isErrorCode((value as { code?: unknown }).code);
}

/** How a call is sent and its answer read: what the client needs of an HTTP request. */
export type Transport = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal },
) => Promise<{ status: number; text: string }>;

const fetchTransport =
  (fetcher: typeof fetch): Transport =>
  async (url, init) => {
    const response = await fetcher(url, init);
    return { status: response.status, text: response.status === 204 ? "" : await response.text() };
  };

let defaultTransport: Transport | undefined;

/**
 * Sends the calls of every client without a `fetch` of its own through `transport` (the Node.js entry
 * of this package sets node:http's, see node.ts), and answers the one it replaces. The event stream
 * keeps fetch.
 */
export function setDefaultTransport(transport: Transport): Transport {
  const previous = defaultTransport ?? fetchTransport((...args) => globalThis.fetch(...args));
  defaultTransport = transport;
  return previous;
}

/** A typed, browser-safe client for the Baton API. */
export class BatonClient {
  readonly url: string;
  readonly api: ApiMethods;
  readonly #apiKey: string | undefined;
  readonly #fetch: typeof fetch;
  /** A `fetch` of the client's own; else the default transport of the moment. */
  readonly #transport: Transport | undefined;

  constructor(options: ClientOptions = {}) {
    this.url = (options.url ?? "http://127.0.0.1:4200/api").replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#fetch = options.fetch ?? ((...args) => globalThis.fetch(...args));
    this.#transport = options.fetch ? fetchTransport(options.fetch) : undefined;
    const api: Record<string, (input?: object, signal?: AbortSignal) => Promise<unknown>> = {};
    for (const name of Object.keys(routes) as (keyof Routes)[]) {
      api[name] = (input, signal) => this.#callUntyped(name, input ?? {}, signal);
    }
    this.api = api as ApiMethods;
  }

  #headers(json: boolean): Record<string, string> {
    // The server refuses a state change without JSON or this header: a browser form cannot send either.
    const headers: Record<string, string> = { accept: "application/json", "x-baton-client": "@baton/client" };
    if (json) headers["content-type"] = "application/json";
    if (this.#apiKey) headers.authorization = `Bearer ${this.#apiKey}`;
    return headers;
  }

  /** Sends a request by `send`; a server that cannot be reached is an `unavailable` error. */
  async #send<T>(send: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
    try {
      return await send();
    } catch (error) {
      if (signal?.aborted) throw error;
      throw new BatonError(
        "unavailable",
        `cannot reach the Baton API at ${this.url}: ${error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error)}. Start it with 'baton server start' or set BATON_API_URL.`,
        { cause: error },
      );
    }
  }

  /** A proxy's answer for a server it could not reach: the same as reaching none (callers try again). */
  #gatewayError(what: string, status: number): BatonError {
    return new BatonError(
      "unavailable",
      `a proxy in front of the Baton API at ${this.url} answered ${what} with ${status}: no server behind it answered (one stopped or died); try again`,
    );
  }

  /** Calls one operation by name. */
  call<K extends keyof Routes>(
    name: K,
    input: RouteInput<Routes[K]>,
    signal?: AbortSignal,
  ): Promise<RouteOutput<Routes[K]>> {
    return this.#callUntyped(name, input, signal) as Promise<RouteOutput<Routes[K]>>;
  }

  async #callUntyped(name: keyof Routes, input: object, signal?: AbortSignal): Promise<unknown> {
    const spec: RouteSpec = routes[name];
    const { params, query, body } = input as {
      params?: Record<string, unknown>;
      query?: Record<string, unknown>;
      body?: unknown;
    };
    let path = fillPath(spec.path, params);
    if (query) {
      const search = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) {
        if (value === undefined || value === null) continue;
        search.set(
          key,
          Array.isArray(value) ? value.join(",") : typeof value === "string" ? value : JSON.stringify(value),
        );
      }
      const text = search.toString();
      if (text) path += `?${text}`;
    }
    const hasBody = body !== undefined;
    const response = await this.#send(
      () =>
        (this.#transport ?? defaultTransport ?? fetchTransport(this.#fetch))(this.url + path, {
          method: spec.method,
          headers: this.#headers(hasBody),
          ...(hasBody ? { body: JSON.stringify(body) } : {}),
          ...(signal ? { signal } : {}),
        }),
      signal,
    );
    if (response.status === 204) return undefined;
    const { text } = response;
    const ok = response.status >= 200 && response.status < 300;
    let payload: unknown;
    let json = true;
    try {
      payload = text ? JSON.parse(text) : undefined;
    } catch {
      json = false;
    }
    if (!ok && isProblem(payload)) throw BatonError.fromProblem(payload);
    if (!ok && GATEWAY_STATUSES.has(response.status)) {
      throw this.#gatewayError(`${spec.method} ${path}`, response.status);
    }
    if (!json) {
      throw new BatonError(
        "internal",
        `the API answered ${spec.method} ${path} with ${response.status} and a body that is not JSON: ${text.slice(0, 200)}`,
      );
    }
    if (!ok) {
      throw new BatonError(
        "internal",
        `the API answered ${spec.method} ${path} with ${response.status}: ${text.slice(0, 200)}`,
      );
    }
    return payload;
  }

  /**
   * Follows the live event stream until `signal` aborts. Resolves when the stream ends; rejects when
   * the server cannot be reached or refuses. With `resume`, a stream that was open and ends or breaks
   * (a server restarting, a replica gone behind the load balancer) is opened again, with backoff, from
   * the last event seen (`Last-Event-ID`: the stored events missed meanwhile are sent first); `onOpen`
   * is called at each opening. A server that cannot be reached at the first opening is an error at
   * once, resume or not. `lastEventId` starts after that event.
   */
  async events(
    options: EventStreamOptions & { resume?: boolean; lastEventId?: string },
    onEvent: (event: BatonEvent) => void,
  ): Promise<void> {
    let lastEventId = options.lastEventId;
    let delay = RESUME_MS.first;
    let opened = false;
    const open = { ...options, onOpen: () => ((opened = true), options.onOpen?.()) };
    const seen = (event: BatonEvent) => {
      lastEventId = event.id;
      delay = RESUME_MS.first;
      onEvent(event);
    };
    for (;;) {
      try {
        await this.#eventsOnce(open, lastEventId, seen);
      } catch (error) {
        const unreachable = error instanceof BatonError && error.code === "unavailable";
        const resumable = options.resume && opened && (unreachable || isBrokenStream(error));
        if (!resumable || options.signal?.aborted) throw error;
      }
      if (!options.resume || options.signal?.aborted) return;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, RESUME_MS.most);
    }
  }

  async #eventsOnce(
    options: EventStreamOptions,
    lastEventId: string | undefined,
    onEvent: (event: BatonEvent) => void,
  ): Promise<void> {
    const search = new URLSearchParams();
    if (options.flowRunId) search.set("flowRunId", options.flowRunId);
    if (options.names?.length) search.set("name", options.names.join(","));
    if (options.stateTypes?.length) search.set("stateType", options.stateTypes.join(","));
    const query = search.toString();
    const response = await this.#send(
      () =>
        this.#fetch(this.url + EVENT_STREAM_PATH + (query ? `?${query}` : ""), {
          headers: {
            ...this.#headers(false),
            accept: "text/event-stream",
            ...(lastEventId ? { "last-event-id": lastEventId } : {}),
          },
          ...(options.signal ? { signal: options.signal } : {}),
        }),
      options.signal,
    );
    if (!response.ok || !response.body) {
      const payload: unknown = await response.json().catch(() => undefined);
      if (isProblem(payload)) throw BatonError.fromProblem(payload);
      if (GATEWAY_STATUSES.has(response.status))
        throw this.#gatewayError("the event stream", response.status);
      throw new BatonError("internal", `the event stream answered ${response.status}`);
    }
    options.onOpen?.();
    try {
      await readEventStream(response.body, (data) => onEvent(JSON.parse(data) as BatonEvent));
    } catch (error) {
      if (options.signal?.aborted) return;
      throw error;
    }
  }
}

/** Which events a stream sends, and what its opener is told. */
export interface EventStreamOptions {
  /** Only the events of this flow run. */
  flowRunId?: string;
  /** Only events of these names. */
  names?: string[];
  /** Only run state changes into these types. */
  stateTypes?: StateType[];
  signal?: AbortSignal;
  onOpen?: () => void;
}

/** How long a resumed stream waits before opening again: doubling from `first` up to `most`. */
const RESUME_MS = { first: 200, most: 5000 };

/**
 * What a load balancer or proxy answers (HTML, not our problem document) when the server behind it
 * died during the request (502), it has none up (503) or none answered in time (504).
 */
const GATEWAY_STATUSES = new Set([502, 503, 504]);

/** A stream cut in the middle (the server went away while it was open): fetch's TypeError. */
const isBrokenStream = (error: unknown): boolean => error instanceof TypeError;
