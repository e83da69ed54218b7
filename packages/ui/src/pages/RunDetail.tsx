import { isTerminal, type FlowRun, type ResultReference, type State } from "@baton/core";
import { lazy, Suspense, useState } from "react";
import { isNotFound, useApi } from "../api.js";
import { RunArtifacts } from "../artifacts/run-artifacts.js";
import {
  Duration,
  EmptyState,
  endOf,
  ErrorBox,
  Json,
  LiveIndicator,
  Loading,
  StateBadge,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { pauseOf } from "../pause/pause.js";
import { RunActions, type Notice } from "../run-actions.js";
import { useRunData } from "../run-data.js";
import { RunGantt } from "../run-gantt.js";
import { RunLogs } from "../run-logs.js";
import { StateTimeline } from "../run-timeline.js";
import { Link } from "../router.js";

// The form comes with react-jsonschema-form, most of the dashboard's code: loaded when a run pauses.
const ResumePanel = lazy(() =>
  import("../pause/resume-panel.js").then((module) => ({ default: module.ResumePanel })),
);

/** A result kept in result storage, as the server reads it (when it can, else why not). */
function StoredResult({
  runId,
  data,
}: {
  runId: string;
  data: Extract<ResultReference, { kind: "stored" }>;
}) {
  const result = useApi((c, signal) => c.api.readFlowRunResult({ params: { id: runId } }, signal), [runId]);
  if (result.data) return <Json value={result.data.value} />;
  return (
    <p className={result.error ? undefined : "muted"}>
      Stored in <code>{data.storage}</code> result storage under <code>{data.key}</code> (serializer{" "}
      <code>{data.serializer}</code>)
      {result.error ? (
        <>
          : <span className="muted">{result.error.message}</span>
        </>
      ) : (
        "; loading it…"
      )}
    </p>
  );
}

/** The final state's data: the run's result, or for a failure the error it ended with. */
function RunResult({ runId, state }: { runId: string; state: State }) {
  const data = state.data;
  if (!data) return null;
  const failed = state.type !== "COMPLETED";
  return (
    <section className="card">
      <div className="section-header">
        <h2>{failed ? "Error" : "Result"}</h2>
        {data.typeName ? (
          <span className="muted small" title={`Read with the ${data.serializer} serializer`}>
            <code>{data.typeName}</code>
          </span>
        ) : null}
      </div>
      {data.kind === "inline" ? <Json value={data.value} /> : <StoredResult runId={runId} data={data} />}
    </section>
  );
}

function Details({ run }: { run: FlowRun }) {
  return (
    <dl className="details">
      <dt>Flow</dt>
      <dd>{run.flowName}</dd>
      <dt>Deployment</dt>
      <dd>
        {run.deploymentId ? (
          <Link href={`/deployments/${run.deploymentId}`}>{run.deploymentName}</Link>
        ) : (
          <span className="muted">—</span>
        )}
      </dd>
      <dt>Work pool</dt>
      <dd>
        {run.workPoolName ? (
          `${run.workPoolName}${run.workQueueName ? ` / ${run.workQueueName}` : ""}`
        ) : (
          <span className="muted">—</span>
        )}
      </dd>
      <dt>Worker</dt>
      <dd>{run.workerName ?? <span className="muted">—</span>}</dd>
      {run.parentFlowRunId ? (
        <>
          <dt>Parent run</dt>
          <dd>
            <Link href={`/runs/${run.parentFlowRunId}`}>{run.parentFlowRunId}</Link>
          </dd>
        </>
      ) : null}
      <dt>Expected start</dt>
      <dd>
        <Time value={run.expectedStartTime} />
      </dd>
      <dt>Start</dt>
      <dd>
        <Time value={run.startTime} />
      </dd>
      <dt>End</dt>
      <dd>
        <Time value={run.endTime} />
      </dd>
      <dt>Duration</dt>
      <dd>
        <Duration start={run.startTime} end={endOf(run)} />
      </dd>
      <dt>Attempts</dt>
      <dd>
        {run.runCount} of {run.retries + 1}
      </dd>
      <dt>Tags</dt>
      <dd>
        <Tags tags={run.tags} />
      </dd>
      <dt>Last heartbeat</dt>
      <dd>
        <Time value={run.lastHeartbeat} relative />
      </dd>
      <dt>Created</dt>
      <dd>
        <Time value={run.created} />
      </dd>
      <dt>ID</dt>
      <dd>
        <code>{run.id}</code>
      </dd>
    </dl>
  );
}

function Parameters({ run }: { run: FlowRun }) {
  return (
    <section className="card">
      <h2>Parameters</h2>
      {Object.keys(run.parameters).length === 0 ? (
        <p className="muted">This run has no parameters.</p>
      ) : (
        <Json value={run.parameters} />
      )}
      {Object.keys(run.jobVariables).length > 0 ? (
        <>
          <h3>Job variables</h3>
          <Json value={run.jobVariables} />
        </>
      ) : null}
    </section>
  );
}

export function RunDetailPage({ id }: { id: string }) {
  const { run, states, tasks, subflows, logs, minLevel, setMinLevel, live } = useRunData(id);
  const [notice, setNotice] = useState<Notice>(null);
  useTitle(run.data?.name ?? "Flow run");

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
  const pause = pauseOf(flowRun.state);
  const taskNames = new Map(tasks.items.map((task) => [task.id, task.name]));
  const changed = () => {
    run.reload();
    states.reload();
  };

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
          <RunActions run={flowRun} onChanged={changed} onNotice={setNotice} />
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

      {flowRun.state && pause ? (
        // Each pause (a state of its own) starts with an empty form.
        <Suspense fallback={<Loading what="Loading the form…" />}>
          <ResumePanel
            key={flowRun.state.timestamp}
            runId={flowRun.id}
            since={flowRun.state.timestamp}
            pause={pause}
            onResumed={changed}
          />
        </Suspense>
      ) : null}

      {flowRun.state && isTerminal(flowRun.state.type) && flowRun.state.data ? (
        <RunResult runId={flowRun.id} state={flowRun.state} />
      ) : null}

      <div className="columns">
        <section className="card">
          <h2>Details</h2>
          <Details run={flowRun} />
        </section>
        <Parameters run={flowRun} />
      </div>

      <StateTimeline states={states} />
      <RunGantt tasks={tasks} subflows={subflows} />
      <RunArtifacts runId={flowRun.id} stateType={flowRun.state?.type} taskNames={taskNames} />
      <RunLogs
        logs={logs}
        minLevel={minLevel}
        onMinLevel={setMinLevel}
        taskNames={taskNames}
        follow={!isTerminal(flowRun.state?.type)}
      />
    </>
  );
}
