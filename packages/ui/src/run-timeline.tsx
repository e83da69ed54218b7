import type { StateHistoryEntry } from "@baton/core";
import type { Resource } from "./api.js";
import { ErrorBox, Loading, StateBadge, Time } from "./components.js";
import { formatDuration } from "./format.js";

const byTimestamp = (a: StateHistoryEntry, b: StateHistoryEntry) =>
  Date.parse(a.timestamp) - Date.parse(b.timestamp);

/** "+1.2s": how long after the first state. */
const sinceFirst = (entry: StateHistoryEntry, first: StateHistoryEntry): string =>
  `+${formatDuration(Date.parse(entry.timestamp) - Date.parse(first.timestamp))}`;

/** A run's states in order, each with its time (absolute, ago, and after the first) and message. */
export function StateTimeline({ states }: { states: Resource<StateHistoryEntry[]> }) {
  const history = states.data ? [...states.data].sort(byTimestamp) : [];
  const first = history[0];
  return (
    <section className="card">
      <h2>State timeline</h2>
      {states.error ? <ErrorBox error={states.error} onRetry={states.reload} /> : null}
      {!states.data ? (
        states.error ? null : (
          <Loading />
        )
      ) : !first ? (
        <p className="muted">No state has been recorded yet.</p>
      ) : (
        <ol className="state-timeline" aria-label="States">
          {history.map((entry) => (
            <li key={entry.id} className={`timeline-entry timeline-${entry.type.toLowerCase()}`}>
              <span className="timeline-dot" aria-hidden="true" />
              <StateBadge state={entry} />
              <span className="timeline-time">
                <Time value={entry.timestamp} />
                <span className="muted">
                  {" "}
                  · <Time value={entry.timestamp} relative />
                </span>
              </span>
              <span className="timeline-offset muted" title="Time since the first state">
                {sinceFirst(entry, first)}
              </span>
              {entry.message ? <span className="timeline-message">{entry.message}</span> : null}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
