import type { BatonClient } from "@baton/client";
import { EventName, type GlobalConcurrencyLimit } from "@baton/core";
import { useState, type FormEvent } from "react";
import { useAction, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import {
  Badge,
  ConfirmButton,
  EmptyState,
  ErrorBox,
  InlineError,
  Loading,
  LoadMore,
  Time,
  UsageMeter,
  useEvery,
} from "../components.js";
import { parseLimit, LimitEditor } from "../limit-editor.js";

/** Releases and changes are announced; grants and decay are not, so the list is also read again now and then. */
const EVENTS = [EventName.GlobalConcurrencyLimitUpdated];
const REREAD_MS = 5000;

function GlobalLimitRow({ limit, onChanged }: { limit: GlobalConcurrencyLimit; onChanged: () => void }) {
  const action = useAction(onChanged);
  const { name } = limit;
  const change = (what: string, send: (client: BatonClient) => Promise<unknown>) =>
    action.run(what, send).then(Boolean);
  const update = (
    what: string,
    body: Parameters<BatonClient["api"]["updateGlobalConcurrencyLimit"]>[0]["body"],
  ) => change(what, (client) => client.api.updateGlobalConcurrencyLimit({ params: { name }, body }));
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
      <td className="row-actions">
        <button
          type="button"
          className="button small"
          disabled={action.busy !== null}
          onClick={() => void update("toggle", { active: !limit.active })}
        >
          {limit.active ? "Disable" : "Enable"}
        </button>
        <ConfirmButton
          label="Reset"
          question={`Free every slot of ${name}? Their holders lose them.`}
          confirmLabel="Yes, reset"
          small
          busy={action.busy === "reset"}
          disabled={action.busy !== null || limit.activeSlots === 0}
          onConfirm={() =>
            void change("reset", (client) => client.api.resetGlobalConcurrencyLimit({ params: { name } }))
          }
        />
        <ConfirmButton
          label="Delete"
          question={`Delete the global limit ${name}?`}
          confirmLabel="Yes, delete"
          small
          busy={action.busy === "delete"}
          disabled={action.busy !== null}
          onConfirm={() =>
            void change("delete", (client) => client.api.deleteGlobalConcurrencyLimit({ params: { name } }))
          }
        />
        <InlineError error={action.error} />
      </td>
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
  const action = useAction(onCreated);
  const [name, setName] = useState("");
  const [limit, setLimit] = useState("");
  const [rate, setRate] = useState("");
  const parsedLimit = parseLimit(limit, false);
  const parsedRate = parseRate(rate);
  const ready = name.trim() !== "" && parsedLimit.ok && parsedLimit.value !== null && parsedRate.ok;
  async function submit(event: FormEvent<HTMLFormElement>): Promise<void> {
    event.preventDefault();
    if (!parsedLimit.ok || parsedLimit.value === null || !parsedRate.ok) return;
    const body = { name: name.trim(), limit: parsedLimit.value, slotDecayPerSecond: parsedRate.value };
    const created = await action.run("create", (client) => client.api.createGlobalConcurrencyLimit({ body }));
    if (!created) return;
    setName("");
    setLimit("");
    setRate("");
  }
  return (
    <form
      className="card create-limit"
      aria-label="New global limit"
      onSubmit={(event) => void submit(event)}
    >
      <label className="field-inline">
        Name
        <input value={name} onChange={(event) => setName(event.target.value)} placeholder="warehouse" />
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
      <button type="submit" className="button primary" disabled={!ready || action.busy !== null}>
        {action.busy ? "Adding…" : "Add global limit"}
      </button>
      <InlineError error={action.error} />
    </form>
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
      {limits.error ? <ErrorBox error={limits.error} onRetry={limits.refresh} /> : null}
      {!limits.loaded ? (
        <Loading what="Loading global limits…" />
      ) : limits.items.length === 0 ? (
        limits.error ? null : (
          <EmptyState title="No global concurrency limits.">
            Create one here or with <code>baton global-concurrency-limit create NAME --limit N</code>.
          </EmptyState>
        )
      ) : (
        <>
          <table className="table" aria-label="Global limits">
            <thead>
              <tr>
                <th>Name</th>
                <th>Limit</th>
                <th>Slots in use</th>
                <th>Decay</th>
                <th>Status</th>
                <th>Updated</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {limits.items.map((limit) => (
                <GlobalLimitRow key={limit.id} limit={limit} onChanged={limits.refresh} />
              ))}
            </tbody>
          </table>
          <LoadMore nextOffset={limits.nextOffset} loading={limits.loadingMore} onClick={limits.loadMore} />
        </>
      )}
    </section>
  );
}
