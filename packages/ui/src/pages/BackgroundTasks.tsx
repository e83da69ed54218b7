import { EventName, type Log, type State, type TaskRun } from "@baton/core";
import { useState } from "react";
import { useApi, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import {
  Duration,
  EmptyState,
  ErrorBox,
  Json,
  LiveIndicator,
  Loading,
  PageHeader,
  StateBadge,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { PagedTable } from "../paged-table.js";
import { Link } from "../router.js";
import { RunLogs } from "../run-logs.js";

const EVENTS = [EventName.TaskRunCreated, EventName.TaskRunStateChanged];

/** Task runs with no flow run: `task.delay()`, run by task workers. */
export function BackgroundTasksPage() {
  useTitle("Background tasks");
  const runs = usePagedList<TaskRun>(
    (client, page, signal) =>
      client.api.listTaskRuns({ query: { background: "true", newestFirst: "true", ...page } }, signal),
    [],
  );
  const schedule = useDebouncedBatch<"runs">(() => runs.refresh(), 300);
  const live = useEvents(
    { names: EVENTS },
    (event) => {
      if (event.flowRunId === null) schedule("runs");
    },
    () => schedule("runs"),
  );
  return (
    <>
      <PageHeader title="Background tasks">
        <LiveIndicator status={live} />
      </PageHeader>
      <p className="muted intro">
        Task runs started with <code>task.delay()</code>, outside any flow run, and carried out by task
        workers (<code>serveTasks()</code> or <code>baton task serve</code>); newest first.
      </p>
      <PagedTable
        list={runs}
        label="Background task runs"
        columns={["Name", "Task", "State", "Task worker", "Created", "Duration"]}
        row={(run) => (
          <tr>
            <td>
              <Link href={`/task-runs/${run.id}`}>{run.name}</Link>
            </td>
            <td>
              <code>{run.taskKey}</code>
            </td>
            <td>
              <StateBadge state={run.state} />
            </td>
            <td>{run.workerName ?? <span className="muted">—</span>}</td>
            <td>
              <Time value={run.created} relative />
            </td>
            <td>
              <Duration start={run.startTime} end={run.endTime} />
            </td>
          </tr>
        )}
        loading="Loading background task runs…"
        empty={
          <EmptyState title="No background task runs.">
            Call <code>myTask.delay(…)</code> and serve the task with <code>baton task serve</code>.
          </EmptyState>
        }
      />
    </>
  );
}

/** The final state's data: the result (read through the server), or the error the run ended with. */
function TaskRunResult({ run, state }: { run: TaskRun; state: State }) {
  const result = useApi(
    (c, signal) =>
      state.type === "COMPLETED" && state.data
        ? c.api.readTaskRunResult({ params: { id: run.id } }, signal)
        : Promise.resolve(null),
    [run.id, state.type],
  );
  if (state.type !== "COMPLETED") {
    return state.message ? (
      <section className="card">
        <h2>Error</h2>
        <pre className="json">{state.message}</pre>
      </section>
    ) : null;
  }
  if (!state.data) return null;
  return (
    <section className="card">
      <h2>Result</h2>
      {result.data ? (
        <Json value={result.data.value} />
      ) : (
        <p className="muted">{result.error ? result.error.message : "Loading it…"}</p>
      )}
    </section>
  );
}

/** One task run: a background one, or a flow run's (linked to it). */
export function TaskRunPage({ id }: { id: string }) {
  const run = useApi((c, signal) => c.api.readTaskRun({ params: { id } }, signal), [id]);
  const states = useApi((c, signal) => c.api.listTaskRunStates({ params: { id } }, signal), [id]);
  const [minLevel, setMinLevel] = useState(0);
  const logs = usePagedList<Log>(
    (c, page, signal) => c.api.listLogs({ query: { taskRunId: id, minLevel, ...page } }, signal),
    [id, minLevel],
    { pageSize: 200 },
  );
  const schedule = useDebouncedBatch<"run">(() => {
    run.reload();
    states.reload();
    logs.refresh();
  }, 300);
  // Its state changes only: a background run's log lines have no flow run to filter the stream by,
  // and a run's logs are all sent before its final state.
  const live = useEvents(
    { names: [EventName.TaskRunStateChanged] },
    (event) => {
      if (event.resource.id === id) schedule("run");
    },
    () => schedule("run"),
  );
  useTitle(run.data ? `Task run ${run.data.name}` : "Task run");
  if (run.error && !run.data) return <ErrorBox error={run.error} onRetry={run.reload} />;
  if (!run.data) return <Loading what="Loading the task run…" />;
  const taskRun = run.data;
  return (
    <>
      <PageHeader
        title={
          <>
            {taskRun.name} <StateBadge state={taskRun.state} />
          </>
        }
      >
        <LiveIndicator status={live} />
      </PageHeader>
      <section className="card">
        <dl className="details">
          <dt>Task</dt>
          <dd>
            <code>{taskRun.taskKey}</code>
          </dd>
          <dt>Flow run</dt>
          <dd>
            {taskRun.flowRunId ? (
              <Link href={`/runs/${taskRun.flowRunId}`}>{taskRun.flowRunId}</Link>
            ) : (
              <span className="muted">none: a background task run</span>
            )}
          </dd>
          <dt>Task worker</dt>
          <dd>{taskRun.workerName ?? <span className="muted">—</span>}</dd>
          <dt>Run count</dt>
          <dd>
            {taskRun.runCount} (retries: {taskRun.retries})
          </dd>
          <dt>Tags</dt>
          <dd>
            <Tags tags={taskRun.tags} />
          </dd>
          <dt>Created</dt>
          <dd>
            <Time value={taskRun.created} />
          </dd>
          <dt>Duration</dt>
          <dd>
            <Duration start={taskRun.startTime} end={taskRun.endTime} />
          </dd>
        </dl>
      </section>
      {taskRun.flowRunId === null ? (
        <section className="card">
          <h2>Arguments</h2>
          <Json value={taskRun.parameters["args"] ?? taskRun.parameters} />
        </section>
      ) : null}
      {taskRun.state ? <TaskRunResult run={taskRun} state={taskRun.state} /> : null}
      <section className="card">
        <h2>States</h2>
        {states.data ? (
          <table className="table compact" aria-label="States">
            <tbody>
              {states.data.map((state) => (
                <tr key={state.id}>
                  <td>
                    <StateBadge state={state} />
                  </td>
                  <td>
                    <Time value={state.timestamp} />
                  </td>
                  <td className="muted">{state.message ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <Loading />
        )}
      </section>
      <RunLogs
        logs={logs}
        minLevel={minLevel}
        onMinLevel={setMinLevel}
        taskNames={new Map([[taskRun.id, taskRun.name]])}
        follow={taskRun.endTime === null}
      />
    </>
  );
}
