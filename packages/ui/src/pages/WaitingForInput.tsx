import type { FlowRun } from "@baton/core";
import { lazy, Suspense, useState } from "react";
import { FLOW_RUN_EVENTS, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import { EmptyState, LiveIndicator, Loading, PageHeader, StateBadge, Time, useTitle } from "../components.js";
import { PagedTable } from "../paged-table.js";
import { pauseOf } from "../pause/pause.js";
import { Link } from "../router.js";

// As on a run's page, the form is loaded when first opened.
const ResumePanel = lazy(() =>
  import("../pause/resume-panel.js").then((module) => ({ default: module.ResumePanel })),
);

const COLUMNS = ["Flow", "Run", "State", "Description", "Since", "Times out", ""];

/** A paused run's row; "Respond" opens its form below it, to resume it without leaving the list. */
function WaitingRow({
  run,
  open,
  onToggle,
  onResumed,
}: {
  run: FlowRun;
  open: boolean;
  onToggle: () => void;
  onResumed: () => void;
}) {
  const pause = pauseOf(run.state);
  return (
    <>
      <tr>
        <td>{run.flowName}</td>
        <td>
          <Link href={`/runs/${run.id}`} className="strong">
            {run.name}
          </Link>
        </td>
        <td>
          <StateBadge state={run.state} />
        </td>
        <td className="pause-description">{pause?.description ?? <span className="muted">—</span>}</td>
        <td>
          <Time value={run.state?.timestamp} relative />
        </td>
        <td>{pause?.timeout ? <Time value={pause.timeout} /> : <span className="muted">never</span>}</td>
        <td className="row-actions">
          {pause ? (
            <button type="button" className="button small" aria-expanded={open} onClick={onToggle}>
              {open ? "Close" : "Respond"}
            </button>
          ) : null}
        </td>
      </tr>
      {open && pause && run.state ? (
        <tr className="pause-row">
          <td colSpan={COLUMNS.length}>
            <Suspense fallback={<Loading what="Loading the form…" />}>
              <ResumePanel
                // Each pause (a state of its own) starts with an empty form.
                key={run.state.timestamp}
                runId={run.id}
                since={run.state.timestamp}
                pause={pause}
                onResumed={onResumed}
                title={`Resume ${run.name}`}
              />
            </Suspense>
          </td>
        </tr>
      ) : null}
    </>
  );
}

/** The paused flow runs, each waiting for someone to resume it, kept up to date from the event stream. */
export function WaitingForInputPage() {
  useTitle("Waiting for input");
  const runs = usePagedList<FlowRun>(
    (client, page, signal) => client.api.listFlowRuns({ query: { stateType: "PAUSED", ...page } }, signal),
    [],
  );
  // The runs whose forms are open, kept while a resumed run leaves the list: one that pauses again
  // comes back with its next question open.
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((current) => {
      const next = new Set(current);
      if (!next.delete(id)) next.add(id);
      return next;
    });
  // Any run's change of state may pause one or end a pause: the list is read again, once per burst.
  const schedule = useDebouncedBatch<"runs">(() => runs.refresh(), 500);
  const live = useEvents(
    { names: FLOW_RUN_EVENTS },
    () => schedule("runs"),
    () => schedule("runs"),
  );

  return (
    <>
      <PageHeader title="Waiting for input">
        <LiveIndicator status={live} />
      </PageHeader>
      <p className="muted intro">
        Flow runs paused by <code>pause()</code> or <code>suspend()</code> until someone resumes them with the
        input they ask for: here (Respond) or on their page.
      </p>
      <PagedTable
        list={runs}
        label="Runs waiting for input"
        columns={COLUMNS}
        row={(run) => (
          <WaitingRow
            run={run}
            open={open.has(run.id)}
            onToggle={() => toggle(run.id)}
            onResumed={runs.refresh}
          />
        )}
        loading="Loading paused runs…"
        empty={
          <EmptyState title="No run is waiting for input.">
            Runs appear here, live, when a flow pauses for input.
          </EmptyState>
        }
      />
    </>
  );
}
