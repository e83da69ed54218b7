import type { BatonClient } from "@baton/client";
import { isTerminal, type State } from "@baton/core";
import { useEffect, useState, type ReactNode } from "react";
import { isUnavailable, type Action, type LiveStatus } from "./api.js";
import { formatDuration, formatFullTime, formatRelative, formatTime } from "./format.js";

/** The current time, ticking every `intervalMs` (null: still): for running durations and "12s ago". */
export function useNow(intervalMs: number | null = 1000): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (intervalMs === null) return;
    setNow(Date.now());
    const timer = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(timer);
  }, [intervalMs]);
  return now;
}

/**
 * Calls `callback` every `ms` while mounted (null: not now): for what no event announces (worker
 * heartbeats, say).
 */
export function useEvery(ms: number | null, callback: () => void): void {
  useEffect(() => {
    if (ms === null) return;
    const timer = setInterval(callback, ms);
    return () => clearInterval(timer);
  }, [ms, callback]);
}

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · Baton` : "Baton";
  }, [title]);
}

export function StateBadge({ state }: { state: State | null | undefined }) {
  if (!state) return <span className="badge state-none">No state</span>;
  return (
    <span className={`badge state-${state.type.toLowerCase()}`} title={state.message ?? state.type}>
      {state.name}
    </span>
  );
}

export function Badge({ tone, children, title }: { tone: string; children: ReactNode; title?: string }) {
  return (
    <span className={`badge tone-${tone}`} title={title}>
      {children}
    </span>
  );
}

export function Time({ value, relative = false }: { value: string | null | undefined; relative?: boolean }) {
  if (!value) return <span className="muted">—</span>;
  if (relative) return <RelativeTime value={value} />;
  return (
    <time dateTime={value} title={formatFullTime(value)}>
      {formatTime(value)}
    </time>
  );
}

function RelativeTime({ value }: { value: string }) {
  const now = useNow(5000);
  return (
    <time dateTime={value} title={formatFullTime(value)}>
      {formatRelative(value, now)}
    </time>
  );
}

/** From start to end, or to now while still going. */
export function Duration({
  start,
  end,
}: {
  start: string | null | undefined;
  end: string | null | undefined;
}) {
  if (!start) return <span className="muted">—</span>;
  if (!end) return <RunningDuration start={start} />;
  return <span>{formatDuration(new Date(end).getTime() - new Date(start).getTime())}</span>;
}

function RunningDuration({ start }: { start: string }) {
  const now = useNow(1000);
  return <span className="running-duration">{formatDuration(now - new Date(start).getTime())}</span>;
}

export function Tags({ tags }: { tags: string[] }) {
  if (tags.length === 0) return <span className="muted">—</span>;
  return (
    <span className="tags">
      {tags.map((tag) => (
        <span key={tag} className="tag">
          {tag}
        </span>
      ))}
    </span>
  );
}

export function Json({ value }: { value: unknown }) {
  return <pre className="json">{JSON.stringify(value, null, 2)}</pre>;
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children ? <p className="muted">{children}</p> : null}
    </div>
  );
}

export function Loading({ what = "Loading…" }: { what?: string }) {
  return (
    <p className="loading" role="status">
      {what}
    </p>
  );
}

export function ErrorBox({ error, onRetry }: { error: Error; onRetry?: () => void }) {
  return (
    <div className="error-box" role="alert">
      <strong>{isUnavailable(error) ? "Cannot reach the Baton API." : "Something went wrong."}</strong>{" "}
      <span>{error.message}</span>
      {onRetry ? (
        <button type="button" className="button small" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

const LIVE_TEXT: Record<LiveStatus, string> = {
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
};

export function LiveIndicator({ status }: { status: LiveStatus }) {
  return (
    <span
      className={`live live-${status}`}
      title={status === "live" ? "Updates arrive as they happen" : "Waiting for the event stream"}
    >
      <span className="live-dot" aria-hidden="true" />
      {LIVE_TEXT[status]}
    </span>
  );
}

export function PageHeader({ title, children }: { title: ReactNode; children?: ReactNode }) {
  return (
    <div className="page-header">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </div>
  );
}

export function LoadMore({
  nextOffset,
  loading,
  onClick,
}: {
  nextOffset: number | null;
  loading: boolean;
  onClick: () => void;
}) {
  if (nextOffset === null) return null;
  return (
    <div className="load-more">
      <button type="button" className="button" onClick={onClick} disabled={loading}>
        {loading ? "Loading…" : "Load more"}
      </button>
    </div>
  );
}

/** When a run ended: its end time, or the time of its terminal state if the end was never recorded. */
export function endOf(run: { endTime: string | null; state: State | null }): string | null {
  return run.endTime ?? (run.state && isTerminal(run.state.type) ? run.state.timestamp : null);
}

/**
 * A button for what cannot be undone: the first click asks, in place, and only "Yes, delete" (for
 * the label Delete) does it. `question` is read as the name of the buttons' group.
 */
export function ConfirmButton({
  label,
  question,
  confirmLabel = `Yes, ${label.toLowerCase()}`,
  busyLabel = `${label}…`,
  busy = false,
  disabled = false,
  small = false,
  onConfirm,
}: {
  label: string;
  question: string;
  confirmLabel?: string;
  /** Shown on the button while the change is under way. */
  busyLabel?: string;
  busy?: boolean;
  disabled?: boolean;
  /** The small buttons of a table's rows. */
  small?: boolean;
  onConfirm: () => void;
}) {
  const [asking, setAsking] = useState(false);
  const size = small ? " small" : "";
  if (!asking) {
    return (
      <button
        type="button"
        className={`button danger${size}`}
        disabled={disabled || busy}
        onClick={() => setAsking(true)}
      >
        {busy ? busyLabel : label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={question}>
      <span className="confirm-question">{question}</span>
      <button
        type="button"
        className={`button danger${size}`}
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" className={`button${size}`} onClick={() => setAsking(false)}>
        No
      </button>
    </span>
  );
}

/**
 * A table row's ConfirmButton (Delete, Reset) whose change runs as the row's `action`, named by the
 * label in lower case: it says so while it runs, and waits while any other change of the row runs.
 */
export function ConfirmActionButton({
  action,
  label,
  question,
  disabled = false,
  send,
}: {
  action: Action;
  label: string;
  question: string;
  disabled?: boolean;
  send: (client: BatonClient) => Promise<unknown>;
}) {
  const name = label.toLowerCase();
  return (
    <ConfirmButton
      label={label}
      question={question}
      small
      busy={action.busy === name}
      disabled={disabled || action.busy !== null}
      onConfirm={() => void action.run(name, send)}
    />
  );
}

/** What a change failed with, in a line beside its button. */
export function InlineError({ error }: { error: Error | null }) {
  return error ? (
    <span className="inline-error" role="alert">
      {error.message}
    </span>
  ) : null;
}

/**
 * How much of a limit is in use, as a bar and "2 / 5"; without a limit, just the count. `more`
 * says the count stopped short of everything there is.
 */
export function UsageMeter({
  used,
  limit,
  more = false,
}: {
  used: number;
  limit: number | null;
  more?: boolean;
}) {
  const count = `${used}${more ? "+" : ""}`;
  if (limit === null) {
    return (
      <span className="slots" title="No limit">
        {count} <span className="muted">/ no limit</span>
      </span>
    );
  }
  const ratio = limit > 0 ? Math.min(1, used / limit) : 1;
  const tone = used >= limit ? "full" : ratio >= 0.75 ? "high" : "ok";
  return (
    <span className="slots">
      <span className={`meter meter-${tone}`} aria-hidden="true">
        <span style={{ width: `${ratio * 100}%` }} />
      </span>
      {count} / {limit}
    </span>
  );
}
