import { isTerminal, type Log, type State, type TaskRun } from "@baton/core";
import { useLayoutEffect, useRef, useState } from "react";
import {
  isNotFound,
  toError,
  useApi,
  useApiContext,
  useDebouncedBatch,
  useEvents,
  usePagedList,
} from "../api.js";
import {
  Duration,
  EmptyState,
  endOf,
  ErrorBox,
  Json,
  LiveIndicator,
  Loading,
  LoadMore,
  StateBadge,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { formatTime, levelName, LOG_LEVELS, pluralize } from "../format.js";
import { Link, navigate } from "../router.js";

const byTime = (a: Log, b: Log) =>
  Date.parse(a.timestamp) - Date.parse(b.timestamp) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The log lines in a scrolling box that sticks to the newest line while scrolled to the bottom,
 * as a terminal does; scrolling up stops that, scrolling back down resumes it.
 */
function LogLines({
  logs,
  taskNames,
  initiallyFollow,
}: {
  logs: Log[];
  taskNames: Map<string, string>;
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
            {(log.taskRunId ? taskNames.get(log.taskRunId) : undefined) ?? log.name}
          </span>
          <span className="log-message">{log.message}</span>
        </div>
      ))}
    </div>
  );
}

/** The final state's data: the run's result, or for a failure the error it ended with. */
function RunResult({ state }: { state: State }) {
  const data = state.data;
  if (!data) return null;
  const failed = state.type !== "COMPLETED";
  return (
    <section className="card">
      <h2>{failed ? "Error" : "Result"}</h2>
      {data.kind === "inline" ? (
        <Json value={data.value} />
      ) : (
        <p>
          Stored in <code>{data.storage}</code> result storage under <code>{data.key}</code> (serializer{" "}
          <code>{data.serializer}</code>); load it in code with the flow&apos;s serializer.
        </p>
      )}
    </section>
  );
}

type Notice = { tone: "info" | "error"; text: string } | null;

export function RunDetailPage({ id }: { id: string }) {
  const { client, reportError } = useApiContext();
  const run = useApi((c, signal) => c.api.readFlowRun({ params: { id } }, signal), [id]);
  const states = useApi((c, signal) => c.api.listFlowRunStates({ params: { id } }, signal), [id]);
  const tasks = usePagedList<TaskRun>(
    (c, page, signal) => c.api.listTaskRuns({ query: { flowRunId: id, ...page } }, signal),
    [id],
    { pageSize: 200 },
  );
  const [minLevel, setMinLevel] = useState(0);
  const logs = usePagedList<Log>(
    (c, page, signal) =>
      c.api.listLogs({ query: { flowRunId: id, ...(minLevel > 0 ? { minLevel } : {}), ...page } }, signal),
    [id, minLevel],
    { pageSize: 1000, maxLimit: 5000, tail: { overlap: 50, compare: byTime } },
  );

  const schedule = useDebouncedBatch<"run" | "tasks" | "logs">((changed) => {
    if (changed.has("run")) {
      run.reload();
      states.reload();
    }
    if (changed.has("tasks")) tasks.refresh();
    if (changed.has("logs")) logs.refresh();
  });
  const live = useEvents(
    { flowRunId: id },
    (event) => {
      if (event.name.startsWith("task-run.")) schedule("tasks");
      else if (event.name === "log" || event.name.startsWith("log.")) schedule("logs");
      else schedule("run");
    },
    () => {
      schedule("run");
      schedule("tasks");
      schedule("logs");
    },
  );

  const [busy, setBusy] = useState<"cancel" | "delete" | null>(null);
  const [notice, setNotice] = useState<Notice>(null);
  useTitle(run.data?.name ?? "Flow run");

  async function cancel(): Promise<void> {
    setBusy("cancel");
    setNotice(null);
    try {
      const result = await client.api.setFlowRunState({
        params: { id },
        body: { state: { type: "CANCELLING", message: "Cancelled from the dashboard" } },
      });
      const type = result.state?.type;
      if (result.status !== "ACCEPT" && type !== "CANCELLING" && type !== "CANCELLED") {
        setNotice({ tone: "error", text: `The run was not cancelled: ${result.reason}` });
      } else if (result.status !== "ACCEPT") {
        setNotice({ tone: "info", text: result.reason });
      }
      run.reload();
      states.reload();
    } catch (error) {
      reportError(error);
      setNotice({ tone: "error", text: `Could not cancel the run: ${toError(error).message}` });
    } finally {
      setBusy(null);
    }
  }

  async function remove(name: string): Promise<void> {
    if (
      !window.confirm(`Delete the flow run "${name}" with its task runs and logs? This cannot be undone.`)
    ) {
      return;
    }
    setBusy("delete");
    setNotice(null);
    try {
      await client.api.deleteFlowRun({ params: { id } });
      navigate("/runs");
    } catch (error) {
      reportError(error);
      setNotice({ tone: "error", text: `Could not delete the run: ${toError(error).message}` });
      setBusy(null);
    }
  }

  if (!run.data) {
    if (run.error && isNotFound(run.error)) {
      return (
        <EmptyState title="This flow run does not exist.">
          It may have been deleted. <Link href="/runs">Back to flow runs</Link>
        </EmptyState>
      );
    }
    if (run.error) return <ErrorBox error={run.error} onRetry={run.reload} />;
    return <Loading what="Loading flow run…" />;
  }

  const flowRun = run.data;
  const stateType = flowRun.state?.type;
  const canCancel = !isTerminal(stateType) && stateType !== "CANCELLING";
  const taskNames = new Map(tasks.items.map((task) => [task.id, task.name]));
  const history = states.data
    ? [...states.data].sort((a, b) => Date.parse(a.timestamp) - Date.parse(b.timestamp))
    : [];

  return (
    <>
      <p className="breadcrumb">
        <Link href="/runs">Flow runs</Link> / {flowRun.flowName}
      </p>
      <div className="page-header">
        <h1 className="run-title">
          {flowRun.name} <StateBadge state={flowRun.state} />
        </h1>
        <div className="page-actions">
          <LiveIndicator status={live} />
          <button
            type="button"
            className="button"
            disabled={!canCancel || busy !== null}
            title={canCancel ? "Ask the run to stop" : "The run is already stopping or finished"}
            onClick={() => void cancel()}
          >
            {busy === "cancel" ? "Cancelling…" : "Cancel"}
          </button>
          <button
            type="button"
            className="button danger"
            disabled={busy !== null}
            onClick={() => void remove(flowRun.name)}
          >
            {busy === "delete" ? "Deleting…" : "Delete"}
          </button>
        </div>
      </div>

      {notice ? (
        <p className={notice.tone === "error" ? "error-box" : "notice"} role="status">
          {notice.text}
        </p>
      ) : null}
      {run.error ? <ErrorBox error={run.error} onRetry={run.reload} /> : null}
      {flowRun.state?.message ? (
        <p className={`state-message state-message-${flowRun.state.type.toLowerCase()}`}>
          {flowRun.state.message}
        </p>
      ) : null}

      {flowRun.state && isTerminal(flowRun.state.type) && flowRun.state.data ? (
        <RunResult state={flowRun.state} />
      ) : null}

      <div className="columns">
        <section className="card">
          <h2>Details</h2>
          <dl className="details">
            <dt>Flow</dt>
            <dd>{flowRun.flowName}</dd>
            <dt>Deployment</dt>
            <dd>
              {flowRun.deploymentId ? (
                <Link href={`/deployments/${flowRun.deploymentId}`}>{flowRun.deploymentName}</Link>
              ) : (
                <span className="muted">—</span>
              )}
            </dd>
            <dt>Work pool</dt>
            <dd>
              {flowRun.workPoolName ? (
                `${flowRun.workPoolName}${flowRun.workQueueName ? ` / ${flowRun.workQueueName}` : ""}`
              ) : (
                <span className="muted">—</span>
              )}
            </dd>
            <dt>Worker</dt>
            <dd>{flowRun.workerName ?? <span className="muted">—</span>}</dd>
            {flowRun.parentFlowRunId ? (
              <>
                <dt>Parent run</dt>
                <dd>
                  <Link href={`/runs/${flowRun.parentFlowRunId}`}>{flowRun.parentFlowRunId}</Link>
                </dd>
              </>
            ) : null}
            <dt>Expected start</dt>
            <dd>
              <Time value={flowRun.expectedStartTime} />
            </dd>
            <dt>Start</dt>
            <dd>
              <Time value={flowRun.startTime} />
            </dd>
            <dt>End</dt>
            <dd>
              <Time value={flowRun.endTime} />
            </dd>
            <dt>Duration</dt>
            <dd>
              <Duration start={flowRun.startTime} end={endOf(flowRun)} />
            </dd>
            <dt>Attempts</dt>
            <dd>
              {flowRun.runCount} of {flowRun.retries + 1}
            </dd>
            <dt>Tags</dt>
            <dd>
              <Tags tags={flowRun.tags} />
            </dd>
            <dt>Last heartbeat</dt>
            <dd>
              <Time value={flowRun.lastHeartbeat} relative />
            </dd>
            <dt>Created</dt>
            <dd>
              <Time value={flowRun.created} />
            </dd>
            <dt>ID</dt>
            <dd>
              <code>{flowRun.id}</code>
            </dd>
          </dl>
        </section>

        <section className="card">
          <h2>Parameters</h2>
          {Object.keys(flowRun.parameters).length === 0 ? (
            <p className="muted">This run has no parameters.</p>
          ) : (
            <Json value={flowRun.parameters} />
          )}
          {Object.keys(flowRun.jobVariables).length > 0 ? (
            <>
              <h3>Job variables</h3>
              <Json value={flowRun.jobVariables} />
            </>
          ) : null}
        </section>
      </div>

      <section className="card">
        <h2>State history</h2>
        {states.error ? <ErrorBox error={states.error} onRetry={states.reload} /> : null}
        {!states.data ? (
          states.error ? null : (
            <Loading />
          )
        ) : history.length === 0 ? (
          <p className="muted">No state has been recorded yet.</p>
        ) : (
          <table className="table compact">
            <thead>
              <tr>
                <th>State</th>
                <th>Time</th>
                <th>Message</th>
              </tr>
            </thead>
            <tbody>
              {history.map((entry) => (
                <tr key={entry.id}>
                  <td>
                    <StateBadge state={entry} />
                  </td>
                  <td>
                    <Time value={entry.timestamp} />
                  </td>
                  <td className="message">{entry.message ?? <span className="muted">—</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>

      <section className="card">
        <h2>
          Task runs{" "}
          {tasks.loaded && tasks.items.length > 0 ? (
            <span className="count">{tasks.items.length}</span>
          ) : null}
        </h2>
        {tasks.error ? <ErrorBox error={tasks.error} onRetry={tasks.refresh} /> : null}
        {!tasks.loaded ? (
          <Loading />
        ) : tasks.items.length === 0 ? (
          tasks.error ? null : (
            <p className="muted">This run has no task runs yet.</p>
          )
        ) : (
          <>
            <table className="table compact">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>State</th>
                  <th>Start</th>
                  <th className="num">Duration</th>
                  <th className="num">Attempts</th>
                  <th>Tags</th>
                </tr>
              </thead>
              <tbody>
                {tasks.items.map((task) => (
                  <tr key={task.id}>
                    <td className="strong">{task.name}</td>
                    <td>
                      <StateBadge state={task.state} />
                    </td>
                    <td>
                      <Time value={task.startTime} />
                    </td>
                    <td className="num">
                      <Duration start={task.startTime} end={endOf(task)} />
                    </td>
                    <td className="num">{task.runCount}</td>
                    <td>
                      <Tags tags={task.tags} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <LoadMore nextOffset={tasks.nextOffset} loading={tasks.loadingMore} onClick={tasks.loadMore} />
          </>
        )}
      </section>

      <section className="card">
        <div className="section-header">
          <h2>
            Logs{" "}
            {logs.loaded && logs.items.length > 0 ? <span className="count">{logs.items.length}</span> : null}
          </h2>
          <label className="field-inline">
            Level
            <select value={minLevel} onChange={(event) => setMinLevel(Number(event.target.value))}>
              <option value={0}>All levels</option>
              {LOG_LEVELS.map((level) => (
                <option key={level.value} value={level.value}>
                  {level.name === "CRITICAL"
                    ? "Critical"
                    : `${level.name.charAt(0)}${level.name.slice(1).toLowerCase()} and above`}
                </option>
              ))}
            </select>
          </label>
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
            <LogLines logs={logs.items} taskNames={taskNames} initiallyFollow={!isTerminal(stateType)} />
            <LoadMore nextOffset={logs.nextOffset} loading={logs.loadingMore} onClick={logs.loadMore} />
            {logs.nextOffset !== null ? (
              <p className="muted small">{pluralize(logs.items.length, "line")} shown; more follow.</p>
            ) : null}
          </>
        )}
      </section>
    </>
  );
}
