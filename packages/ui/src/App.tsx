import { useState, type FormEvent, type ReactNode } from "react";
import { ApiProvider, useApiContext } from "./api.js";
import { EmptyState, useTitle } from "./components.js";
import { ArtifactKeyPage, ArtifactsPage } from "./pages/Artifacts.js";
import { AutomationPage } from "./pages/Automation.js";
import { AutomationsPage } from "./pages/Automations.js";
import { BackgroundTasksPage, TaskRunPage } from "./pages/BackgroundTasks.js";
import { ConcurrencyLimitsPage } from "./pages/ConcurrencyLimits.js";
import { DeploymentPage } from "./pages/Deployment.js";
import { DeploymentsPage } from "./pages/Deployments.js";
import { EventsPage } from "./pages/Events.js";
import { OverviewPage } from "./pages/Overview.js";
import { RunDetailPage } from "./pages/RunDetail.js";
import { RunsPage } from "./pages/Runs.js";
import { VariablesPage } from "./pages/Variables.js";
import { WaitingForInputPage } from "./pages/WaitingForInput.js";
import { WebhooksPage } from "./pages/Webhooks.js";
import { WorkPoolsPage } from "./pages/WorkPools.js";
import { Link, useLocation } from "./router.js";

const NAV = [
  { href: "/", label: "Overview" },
  { href: "/runs", label: "Runs" },
  { href: "/waiting-for-input", label: "Waiting for input" },
  { href: "/deployments", label: "Deployments" },
  { href: "/work-pools", label: "Work pools" },
  { href: "/background-tasks", label: "Background tasks" },
  { href: "/concurrency-limits", label: "Concurrency limits" },
  { href: "/variables", label: "Variables" },
  { href: "/artifacts", label: "Artifacts" },
  { href: "/automations", label: "Automations" },
  { href: "/events", label: "Events" },
  { href: "/webhooks", label: "Webhooks" },
] as const;

function route(path: string): ReactNode {
  if (path === "/") return <OverviewPage />;
  if (path === "/runs") return <RunsPage />;
  const run = /^\/runs\/([^/]+)$/.exec(path);
  if (run?.[1]) {
    const id = decodeURIComponent(run[1]);
    return <RunDetailPage key={id} id={id} />;
  }
  if (path === "/waiting-for-input") return <WaitingForInputPage />;
  if (path === "/deployments") return <DeploymentsPage />;
  const deployment = /^\/deployments\/([^/]+)$/.exec(path);
  if (deployment?.[1]) {
    const id = decodeURIComponent(deployment[1]);
    return <DeploymentPage key={id} id={id} />;
  }
  if (path === "/work-pools") return <WorkPoolsPage />;
  if (path === "/background-tasks") return <BackgroundTasksPage />;
  const taskRun = /^\/task-runs\/([^/]+)$/.exec(path);
  if (taskRun?.[1]) {
    const id = decodeURIComponent(taskRun[1]);
    return <TaskRunPage key={id} id={id} />;
  }
  if (path === "/concurrency-limits") return <ConcurrencyLimitsPage />;
  if (path === "/variables") return <VariablesPage />;
  if (path === "/artifacts") return <ArtifactsPage />;
  const artifactKey = /^\/artifacts\/([^/]+)$/.exec(path);
  if (artifactKey?.[1]) {
    const key = decodeURIComponent(artifactKey[1]);
    return <ArtifactKeyPage key={key} artifactKey={key} />;
  }
  if (path === "/automations") return <AutomationsPage />;
  const automation = /^\/automations\/([^/]+)$/.exec(path);
  if (automation?.[1]) {
    const id = decodeURIComponent(automation[1]);
    return <AutomationPage key={id} id={id} />;
  }
  if (path === "/events") return <EventsPage />;
  if (path === "/webhooks") return <WebhooksPage />;
  return <NotFound />;
}

function NotFound() {
  useTitle("Not found");
  return (
    <EmptyState title="There is no page here.">
      <Link href="/">Go to the overview</Link>
    </EmptyState>
  );
}

function ApiKeyForm() {
  useTitle("API key");
  const { apiKey, setApiKey } = useApiContext();
  const [value, setValue] = useState("");
  function submit(event: FormEvent<HTMLFormElement>) {
    event.preventDefault();
    if (value.trim()) setApiKey(value.trim());
  }
  return (
    <form className="card key-form" onSubmit={submit}>
      <h1>API key required</h1>
      <p>
        This Baton server asks for an API key (the value of <code>BATON_API_KEY</code>). It is kept in this
        browser&apos;s local storage.
      </p>
      {apiKey ? (
        <p className="error-box" role="alert">
          The key stored in this browser was refused.
        </p>
      ) : null}
      <label className="field">
        API key
        <input
          type="password"
          autoComplete="off"
          autoFocus
          value={value}
          onChange={(event) => setValue(event.target.value)}
        />
      </label>
      <button type="submit" className="button primary" disabled={!value.trim()}>
        Save and continue
      </button>
    </form>
  );
}

function Shell() {
  const { path } = useLocation();
  const { needsKey, apiKey, setApiKey } = useApiContext();
  const section = `/${path.split("/")[1] ?? ""}`;
  return (
    <>
      <header className="topbar">
        <div className="topbar-inner">
          <Link href="/" className="brand">
            <span className="brand-mark" aria-hidden="true" />
            Baton
          </Link>
          <nav aria-label="Main">
            {NAV.map((item) => (
              <Link
                key={item.href}
                href={item.href}
                aria-current={section === item.href ? "page" : undefined}
              >
                {item.label}
              </Link>
            ))}
          </nav>
          {apiKey && !needsKey ? (
            <button type="button" className="link-button forget-key" onClick={() => setApiKey(null)}>
              Forget API key
            </button>
          ) : null}
        </div>
      </header>
      <main className="main">{needsKey ? <ApiKeyForm /> : route(path)}</main>
    </>
  );
}

export function App() {
  return (
    <ApiProvider>
      <Shell />
    </ApiProvider>
  );
}
