import type { FlowRun, State, TaskRun } from "@baton/core";
import type { PagedList } from "./api.js";
import { Duration, endOf, ErrorBox, Loading, LoadMore, StateBadge, Tags, useNow } from "./components.js";
import { formatDuration, formatTime } from "./format.js";
import { axisTicks, endOrNow, placeBar, timeWindow, type TimeWindow } from "./gantt.js";
import { Link } from "./router.js";

/** A task run or a subflow, as one line of the timeline. */
interface TimelineRow {
  id: string;
  name: string;
  /** Subflows link to their own page. */
  href: string | null;
  state: State | null;
  start: string | null;
  end: string | null;
  tags: string[];
  created: string;
}

const taskRow = (task: TaskRun): TimelineRow => ({
  id: task.id,
  name: task.name,
  href: null,
  state: task.state,
  start: task.startTime,
  end: endOf(task),
  tags: task.tags,
  created: task.created,
});

const subflowRow = (run: FlowRun): TimelineRow => ({
  id: run.id,
  name: run.name,
  href: `/runs/${run.id}`,
  state: run.state,
  start: run.startTime,
  end: endOf(run),
  tags: run.tags,
  created: run.created,
});

/** In the order they started; those yet to start last, in the order they were created. */
function byStart(a: TimelineRow, b: TimelineRow): number {
  const start = (row: TimelineRow) => (row.start ? Date.parse(row.start) : Infinity);
  return start(a) - start(b) || Date.parse(a.created) - Date.parse(b.created);
}

function Axis({ window }: { window: TimeWindow | null }) {
  if (!window) return <span className="muted">Timeline</span>;
  return (
    <div className="gantt-axis" aria-hidden="true">
      {axisTicks(window).map((tick) => (
        <span key={tick.at} className="gantt-tick" style={{ left: `${tick.at * 100}%` }}>
          {tick.label}
        </span>
      ))}
    </div>
  );
}

function Bar({ row, window, now }: { row: TimelineRow; window: TimeWindow | null; now: number }) {
  const place = window ? placeBar(row, window, now) : null;
  if (!place || !row.start) return <span className="muted small">not started</span>;
  const type = (row.state?.type ?? "PENDING").toLowerCase();
  const took = formatDuration(endOrNow({ start: row.start, end: row.end }, now) - Date.parse(row.start));
  return (
    <span
      className={`gantt-bar gantt-bar-${type}${row.end ? "" : " gantt-bar-open"}`}
      style={{
        left: `${place.offset * 100}%`,
        width: `${place.width * 100}%`,
        backgroundColor: `var(--${type}-fg)`,
      }}
      title={`${row.name}: ${row.state?.name ?? "no state"}, from ${formatTime(row.start)} for ${took}${row.end ? "" : " so far"}`}
    />
  );
}

function Row({ row, window, now }: { row: TimelineRow; window: TimeWindow | null; now: number }) {
  return (
    <tr className="gantt-row">
      <td className="gantt-name">
        {row.href ? (
          <>
            <Link href={row.href} className="strong">
              {row.name}
            </Link>{" "}
            <span className="kind">subflow</span>
          </>
        ) : (
          <span className="strong">{row.name}</span>
        )}
        {row.tags.length > 0 ? (
          <>
            {" "}
            <Tags tags={row.tags} />
          </>
        ) : null}
      </td>
      <td>
        <StateBadge state={row.state} />
      </td>
      <td className="num">
        <Duration start={row.start} end={row.end} />
      </td>
      <td className="gantt-track">
        <Bar row={row} window={window} now={now} />
      </td>
    </tr>
  );
}

/**
 * The run's task runs and subflows over time, one bar each from its start to its end (or to now
 * while it runs), coloured by its state.
 */
export function RunGantt({ tasks, subflows }: { tasks: PagedList<TaskRun>; subflows: PagedList<FlowRun> }) {
  const rows = [...tasks.items.map(taskRow), ...subflows.items.map(subflowRow)].sort(byStart);
  const going = rows.some((row) => row.start && !row.end);
  const now = useNow(going ? 1000 : null);
  const window = timeWindow(rows, now);
  const error = tasks.error ?? subflows.error;
  return (
    <section className="card">
      <h2>Task runs and subflows {rows.length > 0 ? <span className="count">{rows.length}</span> : null}</h2>
      {error ? (
        <ErrorBox
          error={error}
          onRetry={() => {
            tasks.refresh();
            subflows.refresh();
          }}
        />
      ) : null}
      {!tasks.loaded || !subflows.loaded ? (
        <Loading />
      ) : rows.length === 0 ? (
        error ? null : (
          <p className="muted">This run has no task runs or subflows yet.</p>
        )
      ) : (
        <table className="table compact gantt" aria-label="Task runs and subflows over time">
          <thead>
            <tr>
              <th>Name</th>
              <th>State</th>
              <th className="num">Duration</th>
              <th className="gantt-track">
                <Axis window={window} />
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <Row key={row.id} row={row} window={window} now={now} />
            ))}
          </tbody>
        </table>
      )}
      <LoadMore
        nextOffset={tasks.nextOffset ?? subflows.nextOffset}
        loading={tasks.loadingMore || subflows.loadingMore}
        onClick={() => {
          tasks.loadMore();
          subflows.loadMore();
        }}
      />
    </section>
  );
}
