import { STATE_TYPES, type FlowRun, type StateType } from "@baton/core";
import { usePagedList, useDebouncedBatch, useEvents } from "../api.js";
import {
  endOf,
  Duration,
  EmptyState,
  ErrorBox,
  LiveIndicator,
  Loading,
  LoadMore,
  PageHeader,
  StateBadge,
  Time,
  useTitle,
} from "../components.js";
import { Link, navigate, useLocation } from "../router.js";

const isStateType = (value: string | null): value is StateType =>
  value !== null && (STATE_TYPES as string[]).includes(value);

const label = (type: StateType) => type.charAt(0) + type.slice(1).toLowerCase();

export function RunsPage() {
  useTitle("Flow runs");
  const { search } = useLocation();
  const stateParam = search.get("state");
  const stateType = isStateType(stateParam) ? stateParam : null;
  const deploymentId = search.get("deployment");

  const runs = usePagedList<FlowRun>(
    (client, page, signal) =>
      client.api.listFlowRuns(
        {
          query: {
            ...page,
            ...(stateType ? { stateType: [stateType] } : {}),
            ...(deploymentId ? { deploymentId } : {}),
          },
        },
        signal,
      ),
    [stateType, deploymentId],
  );

  const schedule = useDebouncedBatch<"runs">(() => runs.refresh());
  const live = useEvents(
    {},
    (event) => {
      if (event.name.startsWith("flow-run.")) schedule("runs");
    },
    () => schedule("runs"),
  );

  function setFilter(name: string, value: string | null) {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    const query = next.toString();
    navigate(`/runs${query ? `?${query}` : ""}`, { replace: true });
  }

  return (
    <>
      <PageHeader title="Flow runs">
        <LiveIndicator status={live} />
        <label className="field-inline">
          State
          <select
            value={stateType ?? ""}
            onChange={(event) => setFilter("state", event.target.value || null)}
          >
            <option value="">All states</option>
            {STATE_TYPES.map((type) => (
              <option key={type} value={type}>
                {label(type)}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>

      {deploymentId ? (
        <p className="filter-chip">
          Runs of deployment <code>{runs.items[0]?.deploymentName ?? deploymentId}</code>{" "}
          <button type="button" className="link-button" onClick={() => setFilter("deployment", null)}>
            Show all runs
          </button>
        </p>
      ) : null}

      {runs.error ? <ErrorBox error={runs.error} onRetry={runs.refresh} /> : null}

      {!runs.loaded ? (
        <Loading what="Loading flow runs…" />
      ) : runs.items.length === 0 ? (
        runs.error ? null : stateType || deploymentId ? (
          <EmptyState title="No flow runs match this filter.">
            {stateType ? `No run is in the ${label(stateType)} state right now.` : null}
          </EmptyState>
        ) : (
          <EmptyState title="No flow runs yet.">
            Runs appear here as soon as a flow runs against this server, and update live.
          </EmptyState>
        )
      ) : (
        <>
          <table className="table">
            <thead>
              <tr>
                <th>Name</th>
                <th>Flow</th>
                <th>Deployment</th>
                <th>State</th>
                <th>Start</th>
                <th className="num">Duration</th>
              </tr>
            </thead>
            <tbody>
              {runs.items.map((run) => (
                <tr key={run.id}>
                  <td>
                    <Link href={`/runs/${run.id}`} className="strong">
                      {run.name}
                    </Link>
                  </td>
                  <td>{run.flowName}</td>
                  <td>{run.deploymentName ?? <span className="muted">—</span>}</td>
                  <td>
                    <StateBadge state={run.state} />
                  </td>
                  <td>
                    {run.startTime ? (
                      <Time value={run.startTime} />
                    ) : run.expectedStartTime ? (
                      <span className="muted">
                        expected <Time value={run.expectedStartTime} />
                      </span>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td className="num">
                    <Duration start={run.startTime} end={endOf(run)} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <LoadMore nextOffset={runs.nextOffset} loading={runs.loadingMore} onClick={runs.loadMore} />
        </>
      )}
    </>
  );
}
