import { EventName, type ConcurrencyLimit, type TaskRun } from "@baton/core";
import { useAction, useApi, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import {
  ConfirmActionButton,
  EmptyState,
  LiveIndicator,
  PageHeader,
  Time,
  UsageMeter,
  useTitle,
} from "../components.js";
import { LimitEditor, NewLimitForm } from "../limit-editor.js";
import { PagedTable, RowActions } from "../paged-table.js";
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
            Boolean(
              await action.run("edit", (c) => c.api.createConcurrencyLimit({ body: { tag, limit: value } })),
            )
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
      <RowActions error={action.error}>
        <ConfirmActionButton
          action={action}
          label="Reset"
          question={`Give back every slot of ${tag}?`}
          disabled={limit.activeSlots.length === 0}
          send={(client) => client.api.resetConcurrencyLimit({ params: { tag } })}
        />
        <ConfirmActionButton
          action={action}
          label="Delete"
          question={`Delete the limit of ${tag}?`}
          send={(client) => client.api.deleteConcurrencyLimit({ params: { tag } })}
        />
      </RowActions>
    </tr>
  );
}

/** A new tag's limit; an existing tag's limit is changed. */
function CreateLimit({ onCreated }: { onCreated: () => void }) {
  return (
    <NewLimitForm
      label="New limit"
      nameLabel="Tag"
      namePlaceholder="db-lock"
      submitLabel="Add limit"
      create={(client, tag, limit) => client.api.createConcurrencyLimit({ body: { tag, limit } })}
      onCreated={onCreated}
    />
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
      <PagedTable
        list={limits}
        label="Tag limits"
        columns={["Tag", "Limit", "Slots in use", "Held by", "Updated", ""]}
        row={(limit) => <LimitRow limit={limit} onChanged={limits.refresh} />}
        loading="Loading concurrency limits…"
        empty={
          <EmptyState title="No concurrency limits.">
            Task runs with any tag may run without limit.
          </EmptyState>
        }
      />
      <GlobalLimitsSection />
    </>
  );
}
