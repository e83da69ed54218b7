import type { Log } from "@baton/core";
import { useLayoutEffect, useRef, useState } from "react";
import type { PagedList } from "./api.js";
import { ErrorBox, Loading, LoadMore } from "./components.js";
import { formatTime, levelName, LOG_LEVELS, pluralize } from "./format.js";

/** The lines whose message or source contains `search`, ignoring case. */
function searchLogs(logs: Log[], search: string, sourceOf: (log: Log) => string): Log[] {
  const needle = search.trim().toLowerCase();
  if (!needle) return logs;
  return logs.filter(
    (log) => log.message.toLowerCase().includes(needle) || sourceOf(log).toLowerCase().includes(needle),
  );
}

/**
 * The log lines in a scrolling box that sticks to the newest line while scrolled to the bottom,
 * as a terminal does; scrolling up stops that, scrolling back down resumes it.
 */
function LogLines({
  logs,
  sourceOf,
  initiallyFollow,
}: {
  logs: Log[];
  sourceOf: (log: Log) => string;
  initiallyFollow: boolean;
}) {
  const box = useRef<HTMLDivElement>(null);
  const follow = useRef(initiallyFollow);
  useLayoutEffect(() => {
    if (follow.current && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [logs]);
  function onScroll() {
    const el = box.current;
    if (el) follow.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
  }
  return (
    <div className="logs" role="log" ref={box} onScroll={onScroll}>
      {logs.map((log) => (
        <div key={log.id} className={`log-line level-${levelName(log.level).toLowerCase()}`}>
          <time className="log-time" dateTime={log.timestamp}>
            {formatTime(log.timestamp)}
          </time>
          <span className="log-level">{levelName(log.level)}</span>
          <span className="log-source" title={log.name}>
            {sourceOf(log)}
          </span>
          <span className="log-message">{log.message}</span>
        </div>
      ))}
    </div>
  );
}

const levelOption = (name: string) =>
  name === "CRITICAL" ? "Critical" : `${name.charAt(0)}${name.slice(1).toLowerCase()} and above`;

function LogFilters({
  minLevel,
  onMinLevel,
  search,
  onSearch,
}: {
  minLevel: number;
  onMinLevel: (level: number) => void;
  search: string;
  onSearch: (text: string) => void;
}) {
  return (
    <div className="filters-inline">
      <label className="field-inline">
        Search
        <input
          type="search"
          placeholder="Message or source"
          value={search}
          onChange={(event) => onSearch(event.target.value)}
        />
      </label>
      <label className="field-inline">
        Level
        <select value={minLevel} onChange={(event) => onMinLevel(Number(event.target.value))}>
          <option value={0}>All levels</option>
          {LOG_LEVELS.map((level) => (
            <option key={level.value} value={level.value}>
              {levelOption(level.name)}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

/**
 * A run's logs, streaming while it runs: filtered by level on the server and searched in the
 * browser among the lines loaded.
 */
export function RunLogs({
  logs,
  minLevel,
  onMinLevel,
  taskNames,
  follow,
}: {
  logs: PagedList<Log>;
  minLevel: number;
  onMinLevel: (level: number) => void;
  /** Task run names by id, to say which task logged a line. */
  taskNames: Map<string, string>;
  /** Whether to stick to the newest line at first (while the run is going). */
  follow: boolean;
}) {
  const [search, setSearch] = useState("");
  const sourceOf = (log: Log) => (log.taskRunId ? taskNames.get(log.taskRunId) : undefined) ?? log.name;
  const shown = searchLogs(logs.items, search, sourceOf);
  const searching = search.trim() !== "";
  return (
    <section className="card">
      <div className="section-header">
        <h2>
          Logs{" "}
          {logs.loaded && logs.items.length > 0 ? (
            <span className="count">
              {searching ? `${shown.length} of ${logs.items.length}` : logs.items.length}
            </span>
          ) : null}
        </h2>
        <LogFilters minLevel={minLevel} onMinLevel={onMinLevel} search={search} onSearch={setSearch} />
      </div>
      {logs.error ? <ErrorBox error={logs.error} onRetry={logs.refresh} /> : null}
      {!logs.loaded ? (
        <Loading />
      ) : logs.items.length === 0 ? (
        logs.error ? null : (
          <p className="muted">
            {minLevel > 0
              ? `No logs at ${levelName(minLevel)} or above.`
              : "This run has not logged anything yet."}
          </p>
        )
      ) : (
        <>
          {shown.length === 0 ? (
            <p className="muted">No line contains “{search.trim()}”.</p>
          ) : (
            <LogLines logs={shown} sourceOf={sourceOf} initiallyFollow={follow} />
          )}
          <LoadMore nextOffset={logs.nextOffset} loading={logs.loadingMore} onClick={logs.loadMore} />
          {logs.nextOffset !== null ? (
            <p className="muted small">
              {pluralize(logs.items.length, "line")} loaded{searching ? " and searched" : ""}; more follow.
            </p>
          ) : null}
        </>
      )}
    </section>
  );
}
