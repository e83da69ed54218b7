import type { FlowRun } from "@baton/core";
import { FLOW_RUN_EVENTS, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import { EmptyState, LiveIndicator, PageHeader, StateBadge, Time, useTitle } from "../components.js";
import { PagedTable } from "../paged-table.js";
import { pauseOf } from "../pause/pause.js";
import { Link } from "../router.js";

function WaitingRow({ run }: { run: FlowRun }) {
  const pause = pauseOf(run.state);
  return (
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
    </tr>
  );
}

/** The paused flow runs, each waiting for someone to resume it, kept up to date from the event stream. */
export function WaitingForInputPage() {
  useTitle("Waiting for input");
  const runs = usePagedList<FlowRun>(
    (client, page, signal) => client.api.listFlowRuns({ query: { stateType: "PAUSED", ...page } }, signal),
    [],
  );
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
        Flow runs paused by <code>pause()</code> or <code>suspend()</code> until someone resumes them, on
        their page, with the input they ask for.
      </p>
      <PagedTable
        list={runs}
        label="Runs waiting for input"
        columns={["Flow", "Run", "State", "Description", "Since", "Times out"]}
        row={(run) => <WaitingRow run={run} />}
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
