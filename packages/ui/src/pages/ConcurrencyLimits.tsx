import type { BatonClient } from "@baton/client";
import { EventName, type ConcurrencyLimit, type TaskRun } from "@baton/core";
import { useState, type FormEvent } from "react";
import { useAction, useApi, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import {
  ConfirmButton,
  EmptyState,
  ErrorBox,
  InlineError,
  LiveIndicator,
  Loading,
  LoadMore,
  PageHeader,
  Time,
  UsageMeter,
  useTitle,
} from "../components.js";
import { parseLimit, LimitEditor } from "../limit-editor.js";
import { Link } from "../router.js";
import { GlobalLimitsSection } from "./GlobalConcurrencyLimits.js";

/** The task runs named in a limit's slots; beyond this many, the rest are counted. */
const HOLDERS_SHOWN = 10;

/** Task runs take and give back slots as they enter and leave RUNNING. */
const EVENTS = [EventName.TaskRunStateChanged, EventName.TaskRunCreated];

/** The task runs holding a tag's slots, each linking to its flow run. */
function SlotHolders({ ids }: { ids: string[] }) {
  const shown = ids.slice(0, HOLDERS_SHOWN);
  const key = shown.join(",");
  const holders = useApi(
    (client, signal) =>
      Promise.all(
        shown.map((id) =>
          client.api.readTaskRun({ params: { id } }, signal).catch((): TaskRun | string => id),
        ),
      ),
    [key],
  );
  if (ids.length === 0) return <span className="muted">—</span>;
  if (!holders.data) return <span className="muted">…</span>;
  return (
    <ul className="holders">
      {holders.data.map((holder) =>
        typeof holder === "string" ? (
          <li key={holder} className="muted" title="This task run is gone">
            <code>{holder}</code>
          </li>
        ) : (
          <li key={holder.id}>
            {holder.flowRunId ? (
              <Link href={`/runs/${holder.flowRunId}`}>{holder.name}</Link>
            ) : (
              <span>{holder.name}</span>
            )}
          </li>
        ),
      )}
      {ids.length > shown.length ? <li className="muted">and {ids.length - shown.length} more</li> : null}
    </ul>
  );
}

function LimitRow({ limit, onChanged }: { limit: ConcurrencyLimit; onChanged: () => void }) {
  const action = useAction(onChanged);
  const { tag } = limit;
  const change = (name: string, send: (client: BatonClient) => Promise<unknown>) =>
    action.run(name, send).then(Boolean);
  return (
    <tr>
      <td>
        <span className="tag">{tag}</span>
      </td>
      <td>
        <LimitEditor
          limit={limit.limit}
          subject={`tag ${tag}`}
          optional={false}
          // Creating a tag's limit again changes it.
          onSave={async (value) =>
            value !== null &&
            (await change("edit", (c) => c.api.createConcurrencyLimit({ body: { tag, limit: value } })))
          }
        />
      </td>
      <td>
        <UsageMeter used={limit.activeSlots.length} limit={limit.limit} />
      </td>
      <td>
        <SlotHolders ids={limit.activeSlots} />
      </td>
      <td>
        <Time value={limit.updated} />
      </td>
      <td className="row-actions">
        <ConfirmButton
          label="Reset"
          question={`Give back every slot of ${tag}?`}
          confirmLabel="Yes, reset"
          small
          busy={action.busy === "reset"}
          disabled={action.busy !== null || limit.activeSlots.length === 0}
          onConfirm={() =>
            void change("reset", (client) => client.api.resetConcurrencyLimit({ params: { tag } }))
          }
        />
        <ConfirmButton
          label="Delete"
          question={`Delete the limit of ${tag}?`}
          confirmLabel="Yes, delete"
          small
          busy={action.busy === "delete"}
          disabled={action.busy !== null}
          onConfirm={() =>
            void change("delete", (client) => client.api.deleteConcurrencyLimit({ params: { tag } }))
          }
        />
        <InlineError error={action.error} />
      </td>
    </tr>
  );
}

/** A new tag's limit; an existing tag's limit is changed. */
function CreateLimit({ onCreated }: { onCreated: () => void }) {
  const action = useAction(onCreated);
  const [tag, setTag] = useState("");
  const [limit, setLimit] = useState("");
  const parsed = parseLimit(limit, false);
  const ready = tag.trim() !== "" && parsed.ok;
  async function submit(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    if (!parsed.ok || parsed.value === null) return;
    const value = parsed.value;
    const created = await action.run("create", (client) =>
      client.api.createConcurrencyLimit({ body: { tag: tag.trim(), limit: value } }),
    );
    if (!created) return;
    setTag("");
    setLimit("");
  }
  return (
    <form className="card create-limit" aria-label="New limit" onSubmit={(event) => void submit(event)}>
      <label className="field-inline">
        Tag
        <input value={tag} onChange={(event) => setTag(event.target.value)} placeholder="db-lock" />
      </label>
      <label className="field-inline">
        Limit
        <input
          type="number"
          min={0}
          step={1}
          inputMode="numeric"
          value={limit}
          onChange={(event) => setLimit(event.target.value)}
          placeholder="2"
        />
      </label>
      <button type="submit" className="button primary" disabled={!ready || action.busy !== null}>
        {action.busy ? "Adding…" : "Add limit"}
      </button>
      <InlineError error={action.error} />
    </form>
  );
}

export function ConcurrencyLimitsPage() {
  useTitle("Concurrency limits");
  const limits = usePagedList<ConcurrencyLimit>(
    (client, page, signal) => client.api.listConcurrencyLimits({ query: page }, signal),
    [],
    { pageSize: 200 },
  );
  const schedule = useDebouncedBatch<"limits">(() => limits.refresh(), 500);
  const live = useEvents(
    { names: EVENTS },
    () => schedule("limits"),
    () => schedule("limits"),
  );

  return (
    <>
      <PageHeader title="Concurrency limits">
        <LiveIndicator status={live} />
      </PageHeader>
      <p className="muted intro">
        A tag&apos;s limit caps how many task runs carrying that tag may run at once; each running task holds
        a slot until it finishes. Adding a tag that has a limit changes it; a reset gives back every slot (of
        tasks that died holding one, say).
      </p>
      <CreateLimit onCreated={limits.refresh} />
      {limits.error ? <ErrorBox error={limits.error} onRetry={limits.refresh} /> : null}
      {!limits.loaded ? (
        <Loading what="Loading concurrency limits…" />
      ) : limits.items.length === 0 ? (
        limits.error ? null : (
          <EmptyState title="No concurrency limits.">
            Task runs with any tag may run without limit.
          </EmptyState>
        )
      ) : (
        <>
          <table className="table" aria-label="Tag limits">
            <thead>
              <tr>
                <th>Tag</th>
                <th>Limit</th>
                <th>Slots in use</th>
                <th>Held by</th>
                <th>Updated</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {limits.items.map((limit) => (
                <LimitRow key={limit.id} limit={limit} onChanged={limits.refresh} />
              ))}
            </tbody>
          </table>
          <LoadMore nextOffset={limits.nextOffset} loading={limits.loadingMore} onClick={limits.loadMore} />
        </>
      )}
      <GlobalLimitsSection />
    </>
  );
}
