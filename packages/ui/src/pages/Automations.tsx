import { EventName, type Automation } from "@baton/core";
import { lazy, Suspense, useState } from "react";
import { useApi, useDebouncedBatch, useEvents, usePagedList } from "../api.js";
import { AutomationControls, EnabledBadge } from "../automation-controls.js";
import { actionSummary, triggerSummary } from "../automation-text.js";
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
import { navigate, Link } from "../router.js";
import { SecretsSection, useSecrets } from "../secrets.js";

// The editor is the form library and its validator: loaded on first use, as the Run form is.
export const AutomationEditor = lazy(() =>
  import("../automation-form.js").then((module) => ({ default: module.AutomationEditor })),
);

/** When each automation last fired: the time of its newest action run (null: never). */
function useLastFired(ids: string[]) {
  const key = ids.join(",");
  return useApi(
    async (client, signal) =>
      new Map(
        await Promise.all(
          ids.map(async (automationId) => {
            const page = await client.api.listActionRuns({ query: { automationId, limit: 1 } }, signal);
            return [automationId, page.items[0]?.created ?? null] as const;
          }),
        ),
      ),
    [key],
  );
}

function AutomationRow({
  automation,
  lastFired,
  onChanged,
}: {
  automation: Automation;
  lastFired: string | null | undefined;
  onChanged: () => void;
}) {
  return (
    <tr>
      <td>
        <Link href={`/automations/${automation.id}`} className="strong">
          {automation.name}
        </Link>
        {automation.description ? <div className="muted small">{automation.description}</div> : null}
      </td>
      <td>
        <EnabledBadge enabled={automation.enabled} />
      </td>
      <td className="summary">{triggerSummary(automation.trigger)}</td>
      <td>
        <ul className="plain-list">
          {automation.actions.map((action, index) => (
            <li key={index}>
              <code>{actionSummary(action)}</code>
            </li>
          ))}
        </ul>
      </td>
      <td>
        {lastFired === undefined ? (
          <span className="muted">…</span>
        ) : lastFired === null ? (
          <span className="muted">never</span>
        ) : (
          <Time value={lastFired} relative />
        )}
      </td>
      <td className="row-actions">
        <AutomationControls automation={automation} small onChanged={onChanged} />
      </td>
    </tr>
  );
}

export function AutomationsPage() {
  useTitle("Automations");
  const automations = usePagedList<Automation>(
    (client, page, signal) => client.api.listAutomations({ query: page }, signal),
    [],
    { pageSize: 100 },
  );
  const lastFired = useLastFired(automations.items.map((automation) => automation.id));
  const secrets = useSecrets();
  const [creating, setCreating] = useState(false);

  // Nothing announces changes to automations themselves; firings are announced.
  const schedule = useDebouncedBatch<"fired" | "all">((changed) => {
    if (changed.has("all")) automations.refresh();
    lastFired.reload();
  }, 500);
  const live = useEvents(
    { names: [EventName.AutomationTriggered] },
    () => schedule("fired"),
    () => schedule("all"),
  );

  return (
    <>
      <PageHeader title="Automations">
        <LiveIndicator status={live} />
        <Link href="/events">Events</Link>
        <button
          type="button"
          className="button primary"
          disabled={creating}
          onClick={() => setCreating(true)}
        >
          New automation
        </button>
      </PageHeader>
      <p className="muted intro">
        An automation reacts to the server&apos;s events (a run that fails, a worker that goes offline…) with
        actions: a Slack message, a webhook, a run of a deployment, a cancel or a pause. The server carries
        them out itself and retries notifications that fail.
      </p>

      {creating ? (
        <Suspense fallback={<Loading what="Loading the editor…" />}>
          <AutomationEditor
            secrets={secrets.loaded ? secrets.items.map((secret) => secret.name) : undefined}
            onSaved={(created) => navigate(`/automations/${created.id}`)}
            onCancel={() => setCreating(false)}
          />
        </Suspense>
      ) : null}

      {automations.error ? <ErrorBox error={automations.error} onRetry={automations.refresh} /> : null}
      {!automations.loaded ? (
        <Loading what="Loading automations…" />
      ) : automations.items.length === 0 ? (
        automations.error ? null : (
          <EmptyState title="No automations yet.">
            Create one with New automation, or with <code>baton automation create --file</code>.
          </EmptyState>
        )
      ) : (
        <>
          <table className="table" aria-label="Automations">
            <thead>
              <tr>
                <th>Name</th>
                <th>Status</th>
                <th>Trigger</th>
                <th>Actions</th>
                <th>Last fired</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {automations.items.map((automation) => (
                <AutomationRow
                  key={automation.id}
                  automation={automation}
                  lastFired={
                    lastFired.data?.has(automation.id) ? lastFired.data.get(automation.id) : undefined
                  }
                  onChanged={automations.refresh}
                />
              ))}
            </tbody>
          </table>
          <LoadMore
            nextOffset={automations.nextOffset}
            loading={automations.loadingMore}
            onClick={automations.loadMore}
          />
        </>
      )}

      <SecretsSection secrets={secrets} />
    </>
  );
}
