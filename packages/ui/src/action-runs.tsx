import { EventName, isEvent, type ActionAttempt, type ActionRun, type BatonEvent } from "@baton/core";
import { useDebouncedBatch, useEvents, usePagedList } from "./api.js";
import { LiveIndicator, Time } from "./components.js";
import { actionSummary } from "./automation-text.js";
import { stateLabel } from "./format.js";
import { PagedTable } from "./paged-table.js";
import { Link } from "./router.js";

/** An automation fires (its action runs are stored), then each attempt of an action run is recorded. */
const EVENTS = [EventName.AutomationTriggered, EventName.ActionRunUpdated];

function concerns(event: BatonEvent, automationId: string): boolean {
  if (event.name === EventName.AutomationTriggered) return event.resource.id === automationId;
  return isEvent(event, EventName.ActionRunUpdated) && event.payload.actionRun.automationId === automationId;
}

function StatusBadge({ status }: { status: ActionRun["status"] }) {
  return <span className={`badge state-${status.toLowerCase()}`}>{stateLabel(status)}</span>;
}

/** What the action run carries out: the message, or the resolved action without its type. */
function Sent({ resolved }: { resolved: ActionRun["resolved"] }) {
  if (typeof resolved.text === "string") return <span className="message">{resolved.text}</span>;
  const { type: _type, ...rest } = resolved;
  if (Object.keys(rest).length === 0) return <span className="muted">—</span>;
  return <code className="message">{JSON.stringify(rest)}</code>;
}

function Attempt({ attempt }: { attempt: ActionAttempt }) {
  return (
    <li className="attempt">
      <span className="muted">#{attempt.attempt}</span>{" "}
      <span
        className={`badge ${attempt.ok ? "tone-ok" : "state-failed"}`}
        title={attempt.statusCode === null ? "No HTTP answer" : "The answer's HTTP status"}
      >
        {attempt.statusCode ?? (attempt.ok ? "done" : "failed")}
      </span>{" "}
      {attempt.response ? <span className="attempt-response">{attempt.response}</span> : null}
      {attempt.error ? <span className="inline-error"> {attempt.error}</span> : null}{" "}
      <span className="muted small">
        <Time value={attempt.started} />
      </span>
    </li>
  );
}

/** The event's flow run, when the firing had one, from the template values. */
function FiredBy({ run }: { run: ActionRun }) {
  const flowRun = run.context.flow_run as { id?: string; name?: string } | undefined;
  if (!flowRun?.id) return null;
  return (
    <div className="small">
      run <Link href={`/runs/${flowRun.id}`}>{flowRun.name ?? flowRun.id}</Link>
    </div>
  );
}

function ActionRunRow({ run }: { run: ActionRun }) {
  return (
    <tr>
      <td>
        <Time value={run.created} />
        <FiredBy run={run} />
      </td>
      <td>
        <code>{actionSummary(run.action)}</code>
      </td>
      <td>
        <Sent resolved={run.resolved} />
      </td>
      <td>
        <StatusBadge status={run.status} />
        {run.nextAttemptAt ? (
          <div className="muted small">
            next attempt <Time value={run.nextAttemptAt} relative />
          </div>
        ) : null}
      </td>
      <td>
        {run.attempts.length === 0 ? (
          <span className="muted">none yet</span>
        ) : (
          <ol className="attempts" aria-label="Attempts">
            {run.attempts.map((attempt) => (
              <Attempt key={attempt.attempt} attempt={attempt} />
            ))}
          </ol>
        )}
      </td>
    </tr>
  );
}

/** What an automation did each time it fired, newest first, following its attempts live. */
export function ActionRuns({ automationId }: { automationId: string }) {
  const runs = usePagedList<ActionRun>(
    (client, page, signal) => client.api.listActionRuns({ query: { automationId, ...page } }, signal),
    [automationId],
    { pageSize: 20 },
  );
  const schedule = useDebouncedBatch<"runs">(() => runs.refresh());
  const live = useEvents(
    { names: EVENTS },
    (event) => {
      if (concerns(event, automationId)) schedule("runs");
    },
    () => schedule("runs"),
  );
  return (
    <section className="card" aria-label="Action runs">
      <div className="section-header">
        <h2>Action runs</h2>
        <LiveIndicator status={live} />
      </div>
      <PagedTable
        list={runs}
        label="Action runs of this automation"
        columns={["Fired", "Action", "Sent", "Status", "Attempts: answer"]}
        row={(run) => <ActionRunRow run={run} />}
        loading="Loading action runs…"
        empty={<p className="muted">It has not fired yet. Each time it fires, each action shows up here.</p>}
      />
    </section>
  );
}
