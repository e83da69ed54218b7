import type { Artifact, ArtifactData } from "@baton/core";
import { Badge, Time } from "../components.js";
import { Link } from "../router.js";
import { Markdown } from "./markdown.js";
import { safeHref } from "./parse-markdown.js";

/** A cell's value: text as it is, anything else as JSON. */
const cellText = (value: unknown): string =>
  value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);

/** Rows as a table: objects by the union of their keys (the header), arrays by position. */
function RowsTable({ rows, label }: { rows: ArtifactData["table"]; label: string }) {
  const columns = [...new Set(rows.flatMap((row) => (Array.isArray(row) ? [] : Object.keys(row))))];
  const width = Math.max(columns.length, ...rows.map((row) => (Array.isArray(row) ? row.length : 0)));
  if (rows.length === 0) return <p className="muted">No rows.</p>;
  return (
    <div className="table-scroll">
      <table className="table compact" aria-label={label}>
        {columns.length > 0 ? (
          <thead>
            <tr>
              {Array.from({ length: width }, (_, index) => (
                <th key={index}>{columns[index] ?? ""}</th>
              ))}
            </tr>
          </thead>
        ) : null}
        <tbody>
          {rows.map((row, rowIndex) => (
            <tr key={rowIndex}>
              {Array.from({ length: width }, (_, index) => (
                <td key={index}>
                  {cellText(Array.isArray(row) ? row[index] : columns[index] && row[columns[index]])}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ProgressBar({ percent, label }: { percent: number; label: string }) {
  return (
    <div className="progress">
      <div
        className="progress-track"
        role="progressbar"
        aria-label={label}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span className="progress-value">{Math.round(percent * 10) / 10}%</span>
    </div>
  );
}

/** An artifact's data as its type is read: rendered markdown, a table, a link, a bar. */
export function ArtifactBody({ artifact }: { artifact: Artifact }) {
  const label = artifact.key ?? artifact.description ?? `${artifact.type} artifact`;
  switch (artifact.type) {
    case "markdown":
      return <Markdown source={artifact.data} />;
    case "table":
      return <RowsTable rows={artifact.data} label={label} />;
    case "link": {
      const { link, linkText } = artifact.data;
      const href = safeHref(link);
      // Only http, https and mailto addresses are followed; others (s3://…) are shown as text.
      return (
        <p>
          {href ? (
            <a href={href} target="_blank" rel="noopener noreferrer nofollow">
              {linkText ?? link}
            </a>
          ) : (
            <>
              {linkText ? `${linkText}: ` : null}
              <code>{link}</code>
            </>
          )}
        </p>
      );
    }
    case "progress":
      return <ProgressBar percent={artifact.data} label={label} />;
  }
}

/** One artifact with what it is: key (to its history), type, description, run and time. */
export function ArtifactCard({
  artifact,
  taskName,
  showRun = false,
}: {
  artifact: Artifact;
  /** The name of the task run that made it, when known. */
  taskName?: string | undefined;
  showRun?: boolean;
}) {
  return (
    <article className="artifact" aria-label={artifact.key ?? `${artifact.type} artifact`}>
      <header className="artifact-header">
        {artifact.key ? (
          <Link href={`/artifacts/${encodeURIComponent(artifact.key)}`} className="artifact-key">
            {artifact.key}
          </Link>
        ) : null}
        <Badge tone="off">{artifact.type}</Badge>
        {artifact.description ? <span className="artifact-description">{artifact.description}</span> : null}
        <span className="muted small artifact-meta">
          {artifact.taskRunId ? `from ${taskName ?? "a task run"} · ` : null}
          {showRun && artifact.flowRunId ? (
            <>
              <Link href={`/runs/${artifact.flowRunId}`}>{artifact.flowRunName ?? artifact.flowRunId}</Link>
              {" · "}
            </>
          ) : null}
          <Time value={artifact.updated} relative />
        </span>
      </header>
      <ArtifactBody artifact={artifact} />
    </article>
  );
}
