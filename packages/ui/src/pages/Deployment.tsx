import { describePullStep, EventName, isEvent, type Deployment, type FlowRun } from "@baton/core";
import { lazy, Suspense, useState } from "react";
import {
  FLOW_RUN_EVENTS,
  isNotFound,
  useAction,
  useApi,
  useDebouncedBatch,
  useEvents,
  usePagedList,
} from "../api.js";
import {
  Badge,
  EmptyState,
  ErrorBox,
  InlineError,
  Json,
  LiveIndicator,
  Loading,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { Link } from "../router.js";
import { RunsTable } from "../runs-table.js";
import { Schedules } from "../schedules.js";

// The form library and its JSON Schema validator are most of the dashboard's code: loaded on first use.
const RunDeploymentForm = lazy(() =>
  import("../run-form.js").then((module) => ({ default: module.RunDeploymentForm })),
);

const RECENT_RUNS = 10;
const EVENTS = [...FLOW_RUN_EVENTS, EventName.DeploymentUpdated, EventName.DeploymentDeleted];

function Details({ deployment }: { deployment: Deployment }) {
  return (
    <dl className="details">
      <dt>Flow</dt>
      <dd>{deployment.flowName}</dd>
      {deployment.description ? (
        <>
          <dt>Description</dt>
          <dd>{deployment.description}</dd>
        </>
      ) : null}
      <dt>Schedules</dt>
      <dd>
        <Schedules schedules={deployment.schedules} />
      </dd>
      <dt>Runs on</dt>
      <dd>
        {deployment.workPoolName ? (
          <>
            work pool <Link href="/work-pools">{deployment.workPoolName}</Link>, queue{" "}
            {deployment.workQueueName ?? "default"}
          </>
        ) : (
          <span title="Served by a long-lived process rather than by a work pool's workers">
            the process that serves it
          </span>
        )}
      </dd>
      <dt>Run retention</dt>
      <dd>
        {deployment.runRetentionDays === null ? (
          <span className="muted">the server&apos;s</span>
        ) : (
          `${deployment.runRetentionDays} days after a run ends`
        )}
      </dd>
      <dt>Code</dt>
      <dd>
        {deployment.pullSteps.length === 0 ? (
          <span className="muted">
            from {deployment.path ?? "the worker's folder"} on the worker&apos;s machine
          </span>
        ) : (
          <ol>
            {deployment.pullSteps.map((step, index) => (
              <li key={index}>
                <code>{describePullStep(step)}</code>
              </li>
            ))}
          </ol>
        )}
      </dd>
      <dt>Concurrency limit</dt>
      <dd>
        {deployment.concurrencyLimit ?? <span className="muted">none</span>}
        {deployment.concurrencyLimit !== null && deployment.collisionStrategy === "CANCEL_NEW" ? (
          <span className="muted"> · runs due while full are cancelled</span>
        ) : null}
      </dd>
      <dt>Last polled</dt>
      <dd>
        <Time value={deployment.lastPolled} relative />
      </dd>
      <dt>Entrypoint</dt>
      <dd>
        {deployment.entrypoint ? <code>{deployment.entrypoint}</code> : <span className="muted">—</span>}
      </dd>
      <dt>Version</dt>
      <dd>{deployment.version ?? <span className="muted">—</span>}</dd>
      <dt>Tags</dt>
      <dd>
        <Tags tags={deployment.tags} />
      </dd>
      <dt>Updated</dt>
      <dd>
        <Time value={deployment.updated} />
      </dd>
    </dl>
  );
}

/** Pause or resume: a paused deployment gets no scheduled runs, and its future ones are removed. */
function PauseButton({ deployment, onChanged }: { deployment: Deployment; onChanged: () => void }) {
  const action = useAction(onChanged);
  const toggle = () =>
    action.run("toggle", (client) =>
      client.api.updateDeployment({ params: { id: deployment.id }, body: { paused: !deployment.paused } }),
    );
  return (
    <>
      <button type="button" className="button" disabled={action.busy !== null} onClick={() => void toggle()}>
        {deployment.paused ? "Resume" : "Pause"}
      </button>
      <InlineError error={action.error} />
    </>
  );
}

export function DeploymentPage({ id }: { id: string }) {
  const deployment = useApi((c, signal) => c.api.readDeployment({ params: { id } }, signal), [id]);
  const runs = usePagedList<FlowRun>(
    (c, page, signal) => c.api.listFlowRuns({ query: { deploymentId: id, ...page } }, signal),
    [id],
    { pageSize: RECENT_RUNS },
  );
  const [running, setRunning] = useState(false);
  useTitle(deployment.data ? `${deployment.data.flowName}/${deployment.data.name}` : "Deployment");

  const schedule = useDebouncedBatch<"deployment" | "runs">((changed) => {
    if (changed.has("deployment")) deployment.reload();
    if (changed.has("runs")) runs.refresh();
  });
  const shown = new Set(runs.items.map((run) => run.id));
  const live = useEvents(
    { names: EVENTS },
    (event) => {
      if (event.name.startsWith("deployment.")) {
        if (event.resource.id === id) schedule("deployment");
      } else if (event.name === EventName.FlowRunCreated) {
        // One relayed from another server without its payload (too big) may be of this deployment.
        if (!isEvent(event, EventName.FlowRunCreated) || event.payload.flowRun.deploymentId === id) {
          schedule("runs");
        }
      } else if (event.flowRunId && shown.has(event.flowRunId)) {
        schedule("runs");
      }
    },
    () => {
      schedule("deployment");
      schedule("runs");
    },
  );

  if (!deployment.data) {
    if (deployment.error && isNotFound(deployment.error)) {
      return (
        <EmptyState title="This deployment does not exist.">
          It may have been deleted. <Link href="/deployments">Back to deployments</Link>
        </EmptyState>
      );
    }
    if (deployment.error) return <ErrorBox error={deployment.error} onRetry={deployment.reload} />;
    return <Loading what="Loading deployment…" />;
  }

  const current = deployment.data;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/deployments">Deployments</Link> / {current.flowName}
      </p>
      <div className="page-header">
        <h1 className="run-title">
          {current.name}{" "}
          {current.paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Active</Badge>}
        </h1>
        <div className="page-actions">
          <LiveIndicator status={live} />
          <PauseButton deployment={current} onChanged={deployment.reload} />
          <button
            type="button"
            className="button primary"
            disabled={running}
            onClick={() => setRunning(true)}
          >
            Run
          </button>
        </div>
      </div>
      {deployment.error ? <ErrorBox error={deployment.error} onRetry={deployment.reload} /> : null}

      {running ? (
        <Suspense fallback={<Loading what="Loading the form…" />}>
          <RunDeploymentForm deployment={current} onCancel={() => setRunning(false)} />
        </Suspense>
      ) : null}

      <div className="columns">
        <section className="card">
          <h2>Details</h2>
          <Details deployment={current} />
        </section>
        <section className="card">
          <h2>Default parameters</h2>
          {Object.keys(current.parameters).length === 0 ? (
            <p className="muted">None: each run gives its own.</p>
          ) : (
            <Json value={current.parameters} />
          )}
        </section>
      </div>

      <section className="card">
        <div className="section-header">
          <h2>Recent runs</h2>
          <Link href={`/runs?deployment=${id}`}>All runs of this deployment</Link>
        </div>
        {runs.error ? <ErrorBox error={runs.error} onRetry={runs.refresh} /> : null}
        {!runs.loaded ? (
          <Loading />
        ) : runs.items.length === 0 ? (
          runs.error ? null : (
            <p className="muted">No runs yet. Start one with Run.</p>
          )
        ) : (
          <RunsTable runs={runs.items} showDeployment={false} />
        )}
      </section>
    </>
  );
}
