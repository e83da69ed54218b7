import {
  EventName,
  isEvent,
  STATE_TYPES,
  type BatonEvent,
  type Deployment,
  type Flow,
  type FlowRun,
  type WorkPool,
} from "@baton/core";
import type { BatonClient } from "@baton/client";
import { useEffect, useId, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { FLOW_RUN_EVENTS, readAll, useApi, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import { EmptyState, ErrorBox, LiveIndicator, PageHeader, useTitle } from "../components.js";
import { stateLabel } from "../format.js";
import { PagedView } from "../paged-table.js";
import { navigate, useLocation } from "../router.js";
import {
  flowRunQuery,
  fromLocalInput,
  isFiltered,
  readFilters,
  TIME_RANGES,
  toLocalInput,
  withFilter,
  type RunFilters,
} from "../run-filters.js";
import { RunsTable } from "../runs-table.js";

/** What the filters offer to pick from: short lists, read whole (up to this many each). */
const MAX_CHOICES = 1000;

interface Choices {
  flows: Flow[];
  deployments: Deployment[];
  pools: WorkPool[];
}

async function loadChoices(client: BatonClient, signal: AbortSignal): Promise<Choices> {
  const [flows, deployments, pools] = await Promise.all([
    readAll((page) => client.api.listFlows({ query: page }, signal), MAX_CHOICES),
    readAll((page) => client.api.listDeployments({ query: page }, signal), MAX_CHOICES),
    readAll((page) => client.api.listWorkPools({ query: page }, signal), MAX_CHOICES),
  ]);
  const byName =
    <T,>(name: (item: T) => string) =>
    (a: T, b: T) =>
      name(a).localeCompare(name(b));
  return {
    flows: flows.sort(byName((flow) => flow.name)),
    deployments: deployments.sort(byName((d) => `${d.flowName}/${d.name}`)),
    pools: pools.sort(byName((pool) => pool.name)),
  };
}

/** Events after which the lists to pick from may have grown. */
const CHOICE_EVENTS: readonly string[] = [
  EventName.DeploymentUpdated,
  EventName.DeploymentDeleted,
  EventName.WorkPoolUpdated,
];

/** A select of one filter; a value the list does not hold (deleted since, or past its end) is still shown. */
function FilterSelect({
  label,
  value,
  all,
  options,
  unknownLabel,
  onChange,
}: {
  label: string;
  value: string | null;
  all: string;
  options: { value: string; label: string }[];
  /** What to call a value the list does not hold (the id, when nothing better is known). */
  unknownLabel?: string | null;
  onChange: (value: string | null) => void;
}) {
  const known = value === null || options.some((option) => option.value === value);
  // Labelled by id rather than by wrapping, so that the options' text is not part of its name.
  const id = useId();
  return (
    <span className="field-inline">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value ?? ""} onChange={(event) => onChange(event.target.value || null)}>
        <option value="">{all}</option>
        {known ? null : <option value={value}>{unknownLabel ?? value}</option>}
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
    </span>
  );
}

/** How long typing in the tag field pauses before the list follows it. */
const TAG_DEBOUNCE_MS = 400;

/** The tag filter: applied once typing pauses, on Enter, or when leaving the field. */
function TagFilter({
  value,
  suggestions,
  onChange,
}: {
  value: string | null;
  suggestions: string[];
  onChange: (value: string | null) => void;
}) {
  const [text, setText] = useState(value ?? "");
  // The URL may change under the field (back, forward, Clear filters).
  useEffect(() => setText(value ?? ""), [value]);
  const onChangeRef = useRef(onChange);
  onChangeRef.current = onChange;
  const apply = (next: string) => {
    if ((next.trim() || null) !== value) onChangeRef.current(next.trim() || null);
  };
  const applyRef = useRef(apply);
  applyRef.current = apply;
  useEffect(() => {
    // Only typing is applied: text that follows the URL (a tag clicked, Clear filters) is already
    // in it, and applying it later would undo a change made to the URL meanwhile.
    if ((text.trim() || null) === value) return;
    const timer = setTimeout(() => applyRef.current(text), TAG_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    apply(text);
  }
  return (
    <form className="field-inline" role="search" onSubmit={submit}>
      <label className="field-inline">
        Tag
        <input
          type="search"
          list="run-tag-suggestions"
          placeholder="Any tag"
          value={text}
          onChange={(event) => setText(event.target.value)}
          onBlur={() => apply(text)}
        />
      </label>
      <datalist id="run-tag-suggestions">
        {suggestions.map((tag) => (
          <option key={tag} value={tag} />
        ))}
      </datalist>
    </form>
  );
}

function TimeFilter({
  filters,
  onChange,
}: {
  filters: RunFilters;
  onChange: (changes: Partial<Record<keyof RunFilters, string | null>>) => void;
}) {
  const custom = filters.after !== null || filters.before !== null;
  const [picking, setPicking] = useState(false);
  const showSpan = custom || picking;
  const value = filters.range ?? (showSpan ? "custom" : "");
  const id = useId();
  return (
    <>
      <span className="field-inline">
        <label htmlFor={id}>Created</label>
        <select
          id={id}
          value={value}
          onChange={(event) => {
            const next = event.target.value;
            setPicking(next === "custom");
            if (next === "custom") onChange({ range: null });
            else onChange({ range: next || null, after: null, before: null });
          }}
        >
          <option value="">Any time</option>
          {TIME_RANGES.map((range) => (
            <option key={range.value} value={range.value}>
              {range.label}
            </option>
          ))}
          <option value="custom">Between…</option>
        </select>
      </span>
      {showSpan ? (
        <>
          <label className="field-inline">
            From
            <input
              type="datetime-local"
              value={toLocalInput(filters.after)}
              onChange={(event) => onChange({ after: fromLocalInput(event.target.value) })}
            />
          </label>
          <label className="field-inline">
            To
            <input
              type="datetime-local"
              value={toLocalInput(filters.before)}
              onChange={(event) => onChange({ before: fromLocalInput(event.target.value) })}
            />
          </label>
        </>
      ) : null}
    </>
  );
}

/** A filter only a link sets (a state name such as Late), with its own Clear. */
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
  const filters = readFilters(search);
  // The list is read again when a filter changes; a relative time range is measured from the time
  // of each read (a live refresh included), so it moves on with time.
  const runs = usePagedList<FlowRun>(
    (client, page, signal) =>
      client.api.listFlowRuns({ query: { ...flowRunQuery(filters, Date.now()), ...page } }, signal),
    [JSON.stringify(filters)],
  );
  const choices = useApi(loadChoices, []);
  const knownFlows = useMemo(() => new Set(choices.data?.flows.map((flow) => flow.id)), [choices.data]);

  const schedule = useDebouncedBatch<"runs" | "choices">((changed) => {
    if (changed.has("runs")) runs.refresh();
    if (changed.has("choices")) choices.reload();
  });
  const live = useEvents(
    { names: [...FLOW_RUN_EVENTS, ...CHOICE_EVENTS] },
    (event: BatonEvent) => {
      if (CHOICE_EVENTS.includes(event.name)) return schedule("choices");
      schedule("runs");
      // A run of a flow the Flow filter does not offer yet.
      const created = isEvent(event, EventName.FlowRunCreated) ? event.payload.flowRun : null;
      if (created && choices.data && !knownFlows.has(created.flowId)) schedule("choices");
    },
    () => {
      schedule("runs");
      schedule("choices");
    },
  );

  function setFilters(changes: Partial<Record<keyof RunFilters, string | null>>) {
    const query = withFilter(search, changes);
    navigate(`/runs${query ? `?${query}` : ""}`, { replace: true });
  }

  const tagSuggestions = useMemo(() => {
    const tags = new Set<string>();
    for (const run of runs.items) for (const tag of run.tags) tags.add(tag);
    for (const flow of choices.data?.flows ?? []) for (const tag of flow.tags) tags.add(tag);
    for (const deployment of choices.data?.deployments ?? [])
      for (const tag of deployment.tags) tags.add(tag);
    return [...tags].sort();
  }, [runs.items, choices.data]);

  const filtered = isFiltered(filters);
  return (
    <>
      <PageHeader title="Flow runs">
        <LiveIndicator status={live} />
      </PageHeader>

      <div className="filters-inline run-filters" role="group" aria-label="Filters">
        <FilterSelect
          label="State"
          value={filters.stateType}
          all="All states"
          options={STATE_TYPES.map((type) => ({ value: type, label: stateLabel(type) }))}
          onChange={(value) => setFilters({ stateType: value })}
        />
        <FilterSelect
          label="Flow"
          value={filters.flowId}
          all="All flows"
          options={(choices.data?.flows ?? []).map((flow) => ({ value: flow.id, label: flow.name }))}
          unknownLabel={runs.items[0]?.flowName}
          onChange={(value) => setFilters({ flowId: value })}
        />
        <FilterSelect
          label="Deployment"
          value={filters.deploymentId}
          all="All deployments"
          options={(choices.data?.deployments ?? []).map((d) => ({
            value: d.id,
            label: `${d.flowName}/${d.name}`,
          }))}
          unknownLabel={runs.items[0] ? `${runs.items[0].flowName}/${runs.items[0].deploymentName}` : null}
          onChange={(value) => setFilters({ deploymentId: value })}
        />
        <FilterSelect
          label="Work pool"
          value={filters.workPoolName}
          all="All work pools"
          options={(choices.data?.pools ?? []).map((pool) => ({ value: pool.name, label: pool.name }))}
          onChange={(value) => setFilters({ workPoolName: value })}
        />
        <TagFilter
          value={filters.tag}
          suggestions={tagSuggestions}
          onChange={(value) => setFilters({ tag: value })}
        />
        <TimeFilter filters={filters} onChange={setFilters} />
        {filtered ? (
          <button type="button" className="link-button" onClick={() => navigate("/runs", { replace: true })}>
            Clear filters
          </button>
        ) : null}
      </div>

      {filters.stateName ? (
        <FilterChip onClear={() => setFilters({ stateName: null })}>
          Runs in the <code>{filters.stateName}</code> state
        </FilterChip>
      ) : null}

      {choices.error ? <ErrorBox error={choices.error} onRetry={choices.reload} /> : null}

      <PagedView
        list={runs}
        loading="Loading flow runs…"
        empty={
          filtered ? (
            <EmptyState title="No flow runs match these filters.">
              The list updates live: runs that match appear here as they are created or change state.
            </EmptyState>
          ) : (
            <EmptyState title="No flow runs yet.">
              Runs appear here as soon as a flow runs against this server, and update live.
            </EmptyState>
          )
        }
      >
        <RunsTable runs={runs.items} onTag={(tag) => setFilters({ tag })} />
      </PagedView>
    </>
  );
}
