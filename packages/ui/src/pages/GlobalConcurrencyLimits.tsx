import { EventName, type GlobalConcurrencyLimit, type GlobalConcurrencyLimitUpdate } from "@baton/core";
import { useState } from "react";
import { useAction, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import { Badge, ConfirmActionButton, EmptyState, Time, UsageMeter, useEvery } from "../components.js";
import { LimitEditor, NewLimitForm } from "../limit-editor.js";
import { PagedTable, RowActions } from "../paged-table.js";

/** Releases and changes are announced; grants and decay are not, so the list is also read again now and then. */
const EVENTS = [EventName.GlobalConcurrencyLimitUpdated];
const REREAD_MS = 5000;

function GlobalLimitRow({ limit, onChanged }: { limit: GlobalConcurrencyLimit; onChanged: () => void }) {
  const action = useAction(onChanged);
  const { name } = limit;
  const update = (what: string, body: GlobalConcurrencyLimitUpdate) =>
    action
      .run(what, (client) => client.api.updateGlobalConcurrencyLimit({ params: { name }, body }))
      .then(Boolean);
  return (
    <tr>
      <td>
        <code>{name}</code>
      </td>
      <td>
        <LimitEditor
          limit={limit.limit}
          subject={`global limit ${name}`}
          optional={false}
          onSave={async (value) => value !== null && (await update("edit", { limit: value }))}
        />
      </td>
      <td>
        <UsageMeter used={limit.activeSlots} limit={limit.limit} />
      </td>
      <td>
        {limit.slotDecayPerSecond === null ? (
          <span className="muted">—</span>
        ) : (
          `${limit.slotDecayPerSecond}/s`
        )}
      </td>
      <td>
        {limit.active ? (
          <Badge tone="ok">active</Badge>
        ) : (
          <Badge tone="warn" title="Admits everyone and counts nothing">
            inactive
          </Badge>
        )}
      </td>
      <td>
        <Time value={limit.updated} />
      </td>
      <RowActions error={action.error}>
        <button
          type="button"
          className="button small"
          disabled={action.busy !== null}
          onClick={() => void update("toggle", { active: !limit.active })}
        >
          {limit.active ? "Disable" : "Enable"}
        </button>
        <ConfirmActionButton
          action={action}
          label="Reset"
          question={`Free every slot of ${name}? Their holders lose them.`}
          disabled={limit.activeSlots === 0}
          send={(client) => client.api.resetGlobalConcurrencyLimit({ params: { name } })}
        />
        <ConfirmActionButton
          action={action}
          label="Delete"
          question={`Delete the global limit ${name}?`}
          send={(client) => client.api.deleteGlobalConcurrencyLimit({ params: { name } })}
        />
      </RowActions>
    </tr>
  );
}

/** A rate: empty for none, else a number of slots a second above 0. */
function parseRate(text: string): { ok: true; value: number | null } | { ok: false } {
  if (text.trim() === "") return { ok: true, value: null };
  const rate = Number(text);
  return Number.isFinite(rate) && rate > 0 ? { ok: true, value: rate } : { ok: false };
}

function CreateGlobalLimit({ onCreated }: { onCreated: () => void }) {
  const [rate, setRate] = useState("");
  const parsedRate = parseRate(rate);
  const slotDecayPerSecond = parsedRate.ok ? parsedRate.value : null;
  return (
    <NewLimitForm
      label="New global limit"
      nameLabel="Name"
      namePlaceholder="warehouse"
      submitLabel="Add global limit"
      ready={parsedRate.ok}
      create={(client, name, limit) =>
        client.api.createGlobalConcurrencyLimit({ body: { name, limit, slotDecayPerSecond } })
      }
      onCreated={() => {
        setRate("");
        onCreated();
      }}
    >
      <label className="field-inline">
        Decay per second
        <input
          type="number"
          min={0}
          step="any"
          inputMode="decimal"
          value={rate}
          onChange={(event) => setRate(event.target.value)}
          placeholder="none"
          aria-invalid={!parsedRate.ok}
        />
      </label>
    </NewLimitForm>
  );
}

/** The global concurrency and rate limits, with their slots in use: a section of the limits page. */
export function GlobalLimitsSection() {
  const limits = usePagedList<GlobalConcurrencyLimit>(
    (client, page, signal) => client.api.listGlobalConcurrencyLimits({ query: page }, signal),
    [],
    { pageSize: 200 },
  );
  const schedule = useDebouncedBatch<"limits">(() => limits.refresh(), 500);
  useEvents(
    { names: EVENTS },
    () => schedule("limits"),
    () => schedule("limits"),
  );
  useEvery(REREAD_MS, limits.refresh);
  return (
    <section className="limits-section" aria-label="Global concurrency limits">
      <h2>Global concurrency and rate limits</h2>
      <p className="muted intro">
        Named slots that flows take with <code>concurrency()</code> and <code>rateLimit()</code>, shared by
        every process. A limit with a decay is a rate limit: its slots free themselves at that rate. An
        inactive limit admits everyone.
      </p>
      <CreateGlobalLimit onCreated={limits.refresh} />
      <PagedTable
        list={limits}
        label="Global limits"
        columns={["Name", "Limit", "Slots in use", "Decay", "Status", "Updated", ""]}
        row={(limit) => <GlobalLimitRow limit={limit} onChanged={limits.refresh} />}
        loading="Loading global limits…"
        empty={
          <EmptyState title="No global concurrency limits.">
            Create one here or with <code>baton global-concurrency-limit create NAME --limit N</code>.
          </EmptyState>
        }
      />
    </section>
  );
}
