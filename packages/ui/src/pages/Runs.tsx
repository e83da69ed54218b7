import { STATE_TYPES, type FlowRun, type StateType } from "@baton/core";
import type { ReactNode } from "react";
import { FLOW_RUN_EVENTS, usePagedList, useDebouncedBatch, useEvents } from "../api.js";
import {
  EmptyState,
  ErrorBox,
  LiveIndicator,
  Loading,
  LoadMore,
  PageHeader,
  Time,
  useTitle,
} from "../components.js";
import { stateLabel } from "../format.js";
import { navigate, useLocation } from "../router.js";
import { RunsTable } from "../runs-table.js";

const isStateType = (value: string | null): value is StateType =>
  value !== null && (STATE_TYPES as string[]).includes(value);

/** The filters that links from other pages set (a deployment, a state name such as Late, a time). */
function FilterChip({ children, onClear }: { children: ReactNode; onClear: () => void }) {
  return (
    <p className="filter-chip">
      {children}{" "}
      <button type="button" className="link-button" onClick={onClear}>
        Clear
      </button>
    </p>
  );
}

export function RunsPage() {
  useTitle("Flow runs");
  const { search } = useLocation();
  const stateParam = search.get("state");
  const stateType = isStateType(stateParam) ? stateParam : null;
  const stateName = search.get("stateName");
  const deploymentId = search.get("deployment");
  const createdAfter = search.get("after");

  const runs = usePagedList<FlowRun>(
    (client, page, signal) =>
      client.api.listFlowRuns(
        {
          query: {
            ...page,
            ...(stateType ? { stateType: [stateType] } : {}),
            ...(stateName ? { stateName } : {}),
            ...(deploymentId ? { deploymentId } : {}),
            ...(createdAfter ? { createdAfter } : {}),
          },
        },
        signal,
      ),
    [stateType, stateName, deploymentId, createdAfter],
  );

  const schedule = useDebouncedBatch<"runs">(() => runs.refresh());
  const live = useEvents(
    { names: FLOW_RUN_EVENTS },
    () => schedule("runs"),
    () => schedule("runs"),
  );

  function setFilter(name: string, value: string | null) {
    const next = new URLSearchParams(search);
    if (value) next.set(name, value);
    else next.delete(name);
    const query = next.toString();
    navigate(`/runs${query ? `?${query}` : ""}`, { replace: true });
  }

  const filtered = Boolean(stateType || stateName || deploymentId || createdAfter);
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
                {stateLabel(type)}
              </option>
            ))}
          </select>
        </label>
      </PageHeader>

      {deploymentId ? (
        <FilterChip onClear={() => setFilter("deployment", null)}>
          Runs of deployment <code>{runs.items[0]?.deploymentName ?? deploymentId}</code>
        </FilterChip>
      ) : null}
      {stateName ? (
        <FilterChip onClear={() => setFilter("stateName", null)}>
          Runs in the <code>{stateName}</code> state
        </FilterChip>
      ) : null}
      {createdAfter ? (
        <FilterChip onClear={() => setFilter("after", null)}>
          Runs created since <Time value={createdAfter} />
        </FilterChip>
      ) : null}

      {runs.error ? <ErrorBox error={runs.error} onRetry={runs.refresh} /> : null}

      {!runs.loaded ? (
        <Loading what="Loading flow runs…" />
      ) : runs.items.length === 0 ? (
        runs.error ? null : filtered ? (
          <EmptyState title="No flow runs match this filter.">
            {stateType ? `No run is in the ${stateLabel(stateType)} state right now.` : null}
          </EmptyState>
        ) : (
          <EmptyState title="No flow runs yet.">
            Runs appear here as soon as a flow runs against this server, and update live.
          </EmptyState>
        )
      ) : (
        <>
          <RunsTable runs={runs.items} />
          <LoadMore nextOffset={runs.nextOffset} loading={runs.loadingMore} onClick={runs.loadMore} />
        </>
      )}
    </>
  );
}
