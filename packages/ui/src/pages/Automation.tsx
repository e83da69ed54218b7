import type { Automation } from "@baton/core";
import { Suspense, useState } from "react";
import { isNotFound, useApi } from "../api.js";
import { ActionRuns } from "../action-runs.js";
import { AutomationControls, EnabledBadge } from "../automation-controls.js";
import { actionSummary, triggerSummary } from "../automation-text.js";
import { EmptyState, ErrorBox, Json, Loading, Time, useTitle } from "../components.js";
import { Link, navigate } from "../router.js";
import { useSecrets } from "../secrets.js";
import { AutomationEditor } from "./Automations.js";

function Details({ automation }: { automation: Automation }) {
  return (
    <dl className="details">
      {automation.description ? (
        <>
          <dt>Description</dt>
          <dd>{automation.description}</dd>
        </>
      ) : null}
      {automation.deploymentId ? (
        <>
          <dt>Deployment</dt>
          <dd>
            {/* A deployment's trigger: deploying it again replaces this automation. */}
            <Link href={`/deployments/${automation.deploymentId}`}>Its deployment</Link>
            <span className="muted small"> · a deployment trigger, replaced when it is deployed again</span>
          </dd>
        </>
      ) : null}
      <dt>Trigger</dt>
      <dd>{triggerSummary(automation.trigger)}</dd>
      <dt>Actions</dt>
      <dd>
        <ol className="action-list">
          {automation.actions.map((action, index) => (
            <li key={index}>
              <code>{actionSummary(action)}</code>
              {"text" in action && action.text ? (
                <div className="muted small message">{action.text}</div>
              ) : null}
            </li>
          ))}
        </ol>
      </dd>
      <dt>Created</dt>
      <dd>
        <Time value={automation.created} />
      </dd>
      <dt>Updated</dt>
      <dd>
        <Time value={automation.updated} />
      </dd>
    </dl>
  );
}

function Editor({ automation, onDone }: { automation: Automation; onDone: () => void }) {
  const secrets = useSecrets();
  return (
    <Suspense fallback={<Loading what="Loading the editor…" />}>
      <AutomationEditor
        automation={automation}
        secrets={secrets.loaded ? secrets.items.map((secret) => secret.name) : undefined}
        onSaved={onDone}
        onCancel={onDone}
      />
    </Suspense>
  );
}

export function AutomationPage({ id }: { id: string }) {
  const automation = useApi((client, signal) => client.api.readAutomation({ params: { id } }, signal), [id]);
  const [editing, setEditing] = useState(false);
  useTitle(automation.data?.name ?? "Automation");

  if (!automation.data) {
    if (automation.error && isNotFound(automation.error)) {
      return (
        <EmptyState title="This automation does not exist.">
          It may have been deleted. <Link href="/automations">Back to automations</Link>
        </EmptyState>
      );
    }
    if (automation.error) return <ErrorBox error={automation.error} onRetry={automation.reload} />;
    return <Loading what="Loading automation…" />;
  }

  const current = automation.data;
  return (
    <>
      <p className="breadcrumb">
        <Link href="/automations">Automations</Link>
      </p>
      <div className="page-header">
        <h1 className="run-title">
          {current.name} <EnabledBadge enabled={current.enabled} />
        </h1>
        <div className="page-actions">
          <button type="button" className="button" disabled={editing} onClick={() => setEditing(true)}>
            Edit
          </button>
          <AutomationControls
            automation={current}
            onChanged={automation.reload}
            onDeleted={() => navigate("/automations")}
          />
        </div>
      </div>
      {automation.error ? <ErrorBox error={automation.error} onRetry={automation.reload} /> : null}

      {editing ? (
        <Editor
          automation={current}
          onDone={() => {
            setEditing(false);
            automation.reload();
          }}
        />
      ) : null}

      <div className="columns">
        <section className="card">
          <h2>Details</h2>
          <Details automation={current} />
        </section>
        <section className="card">
          <h2>As JSON</h2>
          <Json value={{ trigger: current.trigger, actions: current.actions }} />
        </section>
      </div>

      <ActionRuns automationId={id} />
    </>
  );
}
