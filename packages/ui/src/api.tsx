import { BatonClient } from "@baton/client";
import { EventName, type BatonEvent, type Page } from "@baton/core";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  type DependencyList,
  type ReactNode,
} from "react";

const KEY_STORAGE = "baton.apiKey";

function readStoredKey(): string | null {
  try {
    return window.localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

function storeKey(key: string | null): void {
  try {
    if (key) window.localStorage.setItem(KEY_STORAGE, key);
    else window.localStorage.removeItem(KEY_STORAGE);
  } catch {
    // Storage may be disabled; the key then lasts until the page is reloaded.
  }
}

/** The shape of a BatonError, checked by its code so that it survives any module duplication. */
function errorCode(error: unknown): string | undefined {
  const code = typeof error === "object" && error !== null ? (error as { code?: unknown }).code : undefined;
  return typeof code === "string" ? code : undefined;
}

export const isUnauthenticated = (error: unknown): boolean => errorCode(error) === "unauthenticated";
export const isNotFound = (error: unknown): boolean => errorCode(error) === "not_found";
export const isUnavailable = (error: unknown): boolean => errorCode(error) === "unavailable";

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

interface ApiContextValue {
  client: BatonClient;
  apiKey: string | null;
  /** True once the API has answered 401: the app then asks for a key. */
  needsKey: boolean;
  setApiKey: (key: string | null) => void;
  /** Every failed call goes through here, so that a 401 anywhere brings up the key form. */
  reportError: (error: unknown) => void;
}

const ApiContext = createContext<ApiContextValue | null>(null);

export function ApiProvider({ children }: { children: ReactNode }) {
  const [apiKey, setKeyState] = useState<string | null>(readStoredKey);
  const [needsKey, setNeedsKey] = useState(false);
  const client = useMemo(() => new BatonClient({ url: "/api", apiKey: apiKey ?? undefined }), [apiKey]);
  const setApiKey = useCallback((key: string | null) => {
    storeKey(key);
    setKeyState(key);
    setNeedsKey(false);
  }, []);
  const reportError = useCallback((error: unknown) => {
    if (isUnauthenticated(error)) setNeedsKey(true);
  }, []);
  const value = useMemo(
    () => ({ client, apiKey, needsKey, setApiKey, reportError }),
    [client, apiKey, needsKey, setApiKey, reportError],
  );
  return <ApiContext.Provider value={value}>{children}</ApiContext.Provider>;
}

export function useApiContext(): ApiContextValue {
  const value = useContext(ApiContext);
  if (!value) throw new Error("useApiContext must be used inside <ApiProvider>");
  return value;
}

// ── One resource ─────────────────────────────────────────────────────────────

export interface Resource<T> {
  data: T | undefined;
  error: Error | undefined;
  loading: boolean;
  /** Fetches again, keeping the current data on screen meanwhile. */
  reload: () => void;
}

/** Loads one thing from the API; `deps` say when to load it again. Errors land in `error`, never thrown. */
export function useApi<T>(
  load: (client: BatonClient, signal: AbortSignal) => Promise<T>,
  deps: DependencyList,
): Resource<T> {
  const { client, reportError } = useApiContext();
  const [state, setState] = useState<{ data?: T; error?: Error; loading: boolean }>({ loading: true });
  const [version, setVersion] = useState(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  useEffect(() => {
    const controller = new AbortController();
    setState((current) => ({ ...current, loading: true }));
    void loadRef.current(client, controller.signal).then(
      (data) => {
        if (!controller.signal.aborted) setState({ data, loading: false });
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        reportError(error);
        setState((current) => ({ data: current.data, error: toError(error), loading: false }));
      },
    );
    return () => controller.abort();
    // `deps` stand for what `load` reads.
  }, [client, reportError, version, ...deps]);

  const reload = useCallback(() => setVersion((v) => v + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

// ── A paged list ─────────────────────────────────────────────────────────────

export interface PagedList<T> {
  items: T[];
  nextOffset: number | null;
  /** False until the first page has arrived (or failed). */
  loaded: boolean;
  loadingMore: boolean;
  error: Error | undefined;
  /** Fetches what is on screen again (or, in tail mode, what came after it). */
  refresh: () => void;
  loadMore: () => void;
}

interface PagedState<T> {
  items: T[];
  nextOffset: number | null;
  loaded: boolean;
  loadingMore: boolean;
  error: Error | undefined;
}

const EMPTY: PagedState<never> = {
  items: [],
  nextOffset: null,
  loaded: false,
  loadingMore: false,
  error: undefined,
};

export interface PagedOptions<T> {
  pageSize?: number;
  /** The API's largest page. */
  maxLimit?: number;
  /**
   * For append-only lists in time order (logs): a refresh fetches only what follows the loaded items,
   * re-reading `overlap` of them in case of late arrivals, and merges by id.
   */
  tail?: { overlap: number; compare: (a: T, b: T) => number };
}

function mergeById<T extends { id: string }>(a: T[], b: T[]): T[] {
  const byId = new Map<string, T>();
  for (const item of a) byId.set(item.id, item);
  for (const item of b) byId.set(item.id, item);
  return [...byId.values()];
}

/**
 * A list read page by page with "Load more". A refresh re-reads everything loaded so far in one call,
 * so live updates keep the list whole; `deps` changing starts over.
 */
export function usePagedList<T extends { id: string }>(
  fetchPage: (
    client: BatonClient,
    page: { offset: number; limit: number },
    signal: AbortSignal,
  ) => Promise<Page<T>>,
  deps: DependencyList,
  options: PagedOptions<T> = {},
): PagedList<T> {
  const { pageSize = 50, maxLimit = 1000, tail } = options;
  const { client, reportError } = useApiContext();
  const [state, setState] = useState<PagedState<T>>(EMPTY);
  const stateRef = useRef(state);
  stateRef.current = state;
  const fetchRef = useRef(fetchPage);
  fetchRef.current = fetchPage;
  const tailRef = useRef(tail);
  tailRef.current = tail;
  const refreshing = useRef<AbortController | null>(null);
  const loadingMore = useRef<AbortController | null>(null);

  const fail = useCallback(
    (error: unknown) => {
      reportError(error);
      setState((current) => ({ ...current, loaded: true, loadingMore: false, error: toError(error) }));
    },
    [reportError],
  );

  const load = useCallback(
    async (fromScratch: boolean) => {
      refreshing.current?.abort();
      const controller = new AbortController();
      refreshing.current = controller;
      const current = fromScratch ? EMPTY : stateRef.current;
      const tail = tailRef.current;
      try {
        let items: T[];
        let nextOffset: number | null;
        if (tail && current.loaded) {
          // More is already waiting behind "Load more": new items land after it.
          if (current.nextOffset !== null) return;
          const offset = Math.max(0, current.items.length - tail.overlap);
          const page = await fetchRef.current(client, { offset, limit: pageSize }, controller.signal);
          items = mergeById(current.items, page.items).sort(tail.compare);
          nextOffset = page.nextOffset;
        } else {
          const limit = Math.min(maxLimit, Math.max(pageSize, current.items.length));
          const page = await fetchRef.current(client, { offset: 0, limit }, controller.signal);
          items = page.items;
          nextOffset = page.nextOffset;
        }
        if (controller.signal.aborted) return;
        setState((s) => ({ ...s, items, nextOffset, loaded: true, error: undefined }));
      } catch (error) {
        if (!controller.signal.aborted) fail(error);
      }
    },
    [client, pageSize, maxLimit, fail],
  );

  useEffect(() => {
    setState(EMPTY);
    void load(true);
    return () => {
      refreshing.current?.abort();
      loadingMore.current?.abort();
      loadingMore.current = null;
    };
    // `deps` stand for what `fetchPage` reads.
  }, [load, ...deps]);

  const refresh = useCallback(() => void load(false), [load]);

  const loadMore = useCallback(() => {
    const offset = stateRef.current.nextOffset;
    if (offset === null || loadingMore.current) return;
    const controller = new AbortController();
    loadingMore.current = controller;
    setState((s) => ({ ...s, loadingMore: true }));
    void fetchRef
      .current(client, { offset, limit: pageSize }, controller.signal)
      .then(
        (page) => {
          if (controller.signal.aborted) return;
          const tail = tailRef.current;
          setState((s) => {
            const merged = mergeById(s.items, page.items);
            return {
              ...s,
              items: tail ? merged.sort(tail.compare) : merged,
              nextOffset: page.nextOffset,
              loadingMore: false,
              error: undefined,
            };
          });
        },
        (error: unknown) => {
          if (!controller.signal.aborted) fail(error);
        },
      )
      .finally(() => {
        if (loadingMore.current === controller) loadingMore.current = null;
      });
  }, [client, pageSize, fail]);

  return { ...state, refresh, loadMore };
}

// ── Live events ──────────────────────────────────────────────────────────────

export type LiveStatus = "connecting" | "live" | "reconnecting";

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** The events that change what a list of flow runs shows. */
export const FLOW_RUN_EVENTS = [
  EventName.FlowRunCreated,
  EventName.FlowRunStateChanged,
  EventName.FlowRunDeleted,
];

/**
 * Follows the server's event stream while mounted and reconnects with backoff when it ends.
 * `onResync` runs each time the stream opens: what the page read before (its first load, started
 * with the stream, or before a reconnection) may miss the events sent while the stream was not open.
 * `names` lets the server leave out what the page ignores (log lines, mostly).
 */
export function useEvents(
  filter: { flowRunId?: string; names?: readonly string[] },
  onEvent: (event: BatonEvent) => void,
  onResync: () => void,
): LiveStatus {
  const { client, reportError } = useApiContext();
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const handlers = useRef({ onEvent, onResync });
  handlers.current = { onEvent, onResync };
  const { flowRunId } = filter;
  // A string, so that a new array with the same names does not reconnect.
  const names = filter.names?.join(",");

  useEffect(() => {
    const controller = new AbortController();
    const { signal } = controller;
    async function follow(): Promise<void> {
      let failures = 0;
      // Reopened streams start after the last event seen: the stored ones missed meanwhile come first.
      let lastEventId: string | undefined;
      while (!signal.aborted) {
        try {
          await client.events(
            {
              flowRunId,
              ...(names ? { names: names.split(",") } : {}),
              signal,
              ...(lastEventId ? { lastEventId } : {}),
              onOpen: () => {
                failures = 0;
                setStatus("live");
                handlers.current.onResync();
              },
            },
            (event) => {
              lastEventId = event.id;
              handlers.current.onEvent(event);
            },
          );
        } catch (error) {
          if (signal.aborted) return;
          if (isUnauthenticated(error)) {
            reportError(error);
            return;
          }
        }
        if (signal.aborted) return;
        setStatus("reconnecting");
        await sleep(Math.min(30_000, 1000 * 2 ** failures), signal);
        failures += 1;
      }
    }
    setStatus("connecting");
    void follow();
    return () => controller.abort();
  }, [client, reportError, flowRunId, names]);

  return status;
}

/**
 * Gathers what changed over `ms` milliseconds and hands it over once, so that a burst of
 * events costs one fetch per kind of thing.
 */
export function useDebouncedBatch<K>(flush: (keys: Set<K>) => void, ms = 150): (key: K) => void {
  const pending = useRef(new Set<K>());
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const flushRef = useRef(flush);
  flushRef.current = flush;
  useEffect(
    () => () => {
      clearTimeout(timer.current);
      timer.current = undefined;
      pending.current = new Set();
    },
    [],
  );
  return useCallback(
    (key: K) => {
      pending.current.add(key);
      if (timer.current !== undefined) return;
      timer.current = setTimeout(() => {
        timer.current = undefined;
        const keys = pending.current;
        pending.current = new Set();
        flushRef.current(keys);
      }, ms);
    },
    [ms],
  );
}

/** Reads every page of a list (up to `max` items), for the short lists of pools, queues and workers. */
export async function readAll<T>(
  fetchPage: (page: { offset: number; limit: number }) => Promise<Page<T>>,
  max = 5000,
  pageSize = 200,
): Promise<T[]> {
  const items: T[] = [];
  let offset: number | null = 0;
  while (offset !== null && items.length < max) {
    const page: Page<T> = await fetchPage({ offset, limit: Math.min(pageSize, max - items.length) });
    items.push(...page.items);
    offset = page.nextOffset;
  }
  return items;
}

// ── Changes ──────────────────────────────────────────────────────────────────

export interface Action {
  /** What is being done now (the name given to `run`), or null. */
  busy: string | null;
  /** Why the last change failed, until the next one starts. */
  error: Error | null;
  /**
   * Makes one change at a time: resolves with what `change` returned, wrapped, or with undefined
   * when it failed (see `error`) or another change was under way.
   */
  run: <T>(name: string, change: (client: BatonClient) => Promise<T>) => Promise<{ value: T } | undefined>;
}

/**
 * A button's change through the API: one at a time, its failure kept to show beside it, and
 * `onDone` called after each that succeeds (to load again what it changed).
 */
export function useAction(onDone?: () => void): Action {
  const { client, reportError } = useApiContext();
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const running = useRef(false);
  const onDoneRef = useRef(onDone);
  onDoneRef.current = onDone;
  const run = useCallback(
    async <T,>(
      name: string,
      change: (client: BatonClient) => Promise<T>,
    ): Promise<{ value: T } | undefined> => {
      if (running.current) return undefined;
      running.current = true;
      setBusy(name);
      setError(null);
      try {
        const value = await change(client);
        onDoneRef.current?.();
        return { value };
      } catch (caught) {
        reportError(caught);
        setError(toError(caught));
        return undefined;
      } finally {
        running.current = false;
        setBusy(null);
      }
    },
    [client, reportError],
  );
  return { busy, error, run };
}
