import {
  EventName,
  eventState,
  isEvent,
  isStoredEventName,
  STORED_EVENTS,
  type BatonEvent,
  type StoredEvent,
} from "@baton/core";
import { useState, type FormEvent } from "react";
import { useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import {
  Badge,
  EmptyState,
  LiveIndicator,
  PageHeader,
  StateBadge,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { InlineField } from "../inline-form.js";
import { PagedTable } from "../paged-table.js";
import { Link, navigate, useLocation } from "../router.js";
import { fromLocalInput, toLocalInput } from "../run-filters.js";

/** Prefixes and names offered in the name filter; any prefix may be typed. */
const NAME_SUGGESTIONS = ["flow-run.", "task-run.", ...STORED_EVENTS];

interface Filters {
  name: string | null;
  resource: string | null;
  since: string | null;
}

/** Filters typed, applied on Filter (or Enter) to the URL, so that a reload or a link keeps them. */
function FilterForm({ filters, onApply }: { filters: Filters; onApply: (filters: Filters) => void }) {
  const [name, setName] = useState(filters.name ?? "");
  const [resource, setResource] = useState(filters.resource ?? "");
  const [since, setSince] = useState(toLocalInput(filters.since));
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    onApply({ name: name.trim() || null, resource: resource.trim() || null, since: fromLocalInput(since) });
  }
  function clear() {
    setName("");
    setResource("");
    setSince("");
    onApply({ name: null, resource: null, since: null });
  }
  return (
    <form className="card inline-form" aria-label="Filter events" onSubmit={submit}>
      <label className="field-inline">
        Name starts with
        <input
          list="event-names"
          value={name}
          onChange={(event) => setName(event.target.value)}
          placeholder="flow-run."
        />
        <datalist id="event-names">
          {NAME_SUGGESTIONS.map((suggestion) => (
            <option key={suggestion} value={suggestion} />
          ))}
        </datalist>
      </label>
      <InlineField label="Resource id" value={resource} onChange={setResource} />
      <InlineField label="Since" type="datetime-local" value={since} onChange={setSince} />
      <button type="submit" className="button primary">
        Filter
      </button>
      <button type="button" className="button" onClick={clear}>
        Clear
      </button>
    </form>
  );
}

/** What the event is about, linking to its page where it has one. */
function Resource({ event, onOnly }: { event: StoredEvent; onOnly: () => void }) {
  const { kind, id } = event.resource;
  const { related } = event;
  let target: { href: string; text: string } | null = null;
  if (kind === "flow-run") target = { href: `/runs/${id}`, text: related.flowRunName ?? id };
  else if (kind === "task-run" && event.flowRunId)
    target = { href: `/runs/${event.flowRunId}`, text: `task of ${related.flowRunName ?? event.flowRunId}` };
  else if (kind === "task-run") target = { href: `/task-runs/${id}`, text: "background task run" };
  else if (kind === "deployment") target = { href: `/deployments/${id}`, text: related.deploymentName ?? id };
  else if (kind === "work-pool" || kind === "worker")
    target = { href: "/work-pools", text: kind === "worker" ? id : (related.workPoolName ?? id) };
  return (
    <>
      <span className="kind">{kind}</span>{" "}
      {target ? <Link href={target.href}>{target.text}</Link> : <code>{id}</code>}{" "}
      <button
        type="button"
        className="link-button resource-filter"
        title={`Only the events of ${kind} ${id}`}
        aria-label={`Only the events of ${kind} ${target?.text ?? id}`}
        onClick={onOnly}
      >
        only this
      </button>
    </>
  );
}

function Related({ event }: { event: StoredEvent }) {
  const { flowName, deploymentName, workPoolName, tags } = event.related;
  const parts = [
    flowName ? `flow ${flowName}` : null,
    deploymentName ? `deployment ${deploymentName}` : null,
    workPoolName ? `pool ${workPoolName}` : null,
  ].filter(Boolean);
  return (
    <>
      {parts.length > 0 ? <div className="small">{parts.join(" · ")}</div> : null}
      {tags.length > 0 ? <Tags tags={tags} /> : null}
      {parts.length === 0 && tags.length === 0 ? <span className="muted">—</span> : null}
    </>
  );
}

/** What the event says happened: a state (and its message), a pool or deployment paused or not. */
function Change({ event }: { event: BatonEvent }) {
  const state = eventState(event);
  if (state) {
    return (
      <>
        <StateBadge state={state} />
        {state.message ? <div className="muted small message">{state.message}</div> : null}
      </>
    );
  }
  if (event.name === EventName.WorkerOffline) return <Badge tone="off">Offline</Badge>;
  if (!(STORED_EVENTS as readonly string[]).includes(event.name)) {
    // A custom event: what it carries.
    const text = JSON.stringify(event.payload);
    if (text === "{}") return <span className="muted">—</span>;
    return (
      <code className="small" title={text}>
        {text.length > 80 ? `${text.slice(0, 79)}…` : text}
      </code>
    );
  }
  const paused = isEvent(event, EventName.WorkPoolUpdated)
    ? event.payload.workPool.paused
    : isEvent(event, EventName.DeploymentUpdated)
      ? event.payload.deployment.paused
      : undefined;
  if (paused === undefined) return <span className="muted">—</span>;
  return paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Active</Badge>;
}

export function EventsPage() {
  useTitle("Events");
  const { search } = useLocation();
  const filters: Filters = {
    name: search.get("name"),
    resource: search.get("resource"),
    since: search.get("since"),
  };
  const { name, resource, since } = filters;
  const events = usePagedList<StoredEvent>(
    (client, page, signal) =>
      client.api.listEvents(
        {
          query: {
            ...page,
            ...(name ? { name } : {}),
            ...(resource ? { resourceId: resource } : {}),
            ...(since ? { since } : {}),
          },
        },
        signal,
      ),
    [name, resource, since],
  );
  const schedule = useDebouncedBatch<"events">(() => events.refresh(), 300);
  // Custom events bear names of their own: every event comes, and the stored ones refresh the list.
  const live = useEvents(
    {},
    (event) => isStoredEventName(event.name) && schedule("events"),
    () => schedule("events"),
  );

  function apply(next: Filters) {
    const query = new URLSearchParams();
    if (next.name) query.set("name", next.name);
    if (next.resource) query.set("resource", next.resource);
    if (next.since) query.set("since", next.since);
    const text = query.toString();
    navigate(`/events${text ? `?${text}` : ""}`, { replace: true });
  }

  const filtered = Boolean(name || resource || since);
  return (
    <>
      <PageHeader title="Events">
        <LiveIndicator status={live} />
        <Link href="/automations">Automations</Link>
      </PageHeader>
      <p className="muted intro">
        What the server stores for automations to react to: state changes of flow and task runs, deployment
        and work pool changes, workers going offline, and custom events (sent by flows, clients and{" "}
        <Link href="/webhooks">webhooks</Link>). Newest first; kept for a week by default.
      </p>
      <FilterForm key={`${name}|${resource}|${since}`} filters={filters} onApply={apply} />
      <PagedTable
        list={events}
        label="Events"
        columns={["Occurred", "Event", "Resource", "Change", "Related"]}
        row={(event) => (
          <tr>
            <td>
              <Time value={event.occurred} />
            </td>
            <td>
              <code>{event.name}</code>
            </td>
            <td>
              <Resource event={event} onOnly={() => apply({ ...filters, resource: event.resource.id })} />
            </td>
            <td>
              <Change event={event} />
            </td>
            <td>
              <Related event={event} />
            </td>
          </tr>
        )}
        loading="Loading events…"
        empty={
          <EmptyState title={filtered ? "No events match these filters." : "No events yet."}>
            Events appear here as runs change state, live.
          </EmptyState>
        }
      />
    </>
  );
}
