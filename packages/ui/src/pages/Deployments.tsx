import type { Deployment } from "@baton/core";
import { usePagedList } from "../api.js";
import { Badge, EmptyState, PageHeader, Tags, Time, useTitle } from "../components.js";
import { PagedTable } from "../paged-table.js";
import { Link } from "../router.js";
import { Schedules } from "../schedules.js";

function DeploymentRow({ deployment }: { deployment: Deployment }) {
  return (
    <tr>
      <td>
        <Link href={`/deployments/${deployment.id}`} className="strong">
          {deployment.name}
        </Link>
        {deployment.version ? <span className="muted small"> v{deployment.version}</span> : null}
        <div className="small">
          <Link href={`/runs?deployment=${deployment.id}`}>Runs</Link>
        </div>
      </td>
      <td>{deployment.flowName}</td>
      <td>{deployment.paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Active</Badge>}</td>
      <td>
        <Schedules schedules={deployment.schedules} />
      </td>
      <td>
        {deployment.workPoolName ? (
          <>
            {deployment.workPoolName}
            {deployment.workQueueName ? <span className="muted"> / {deployment.workQueueName}</span> : null}
          </>
        ) : (
          <span className="muted" title="Served by a process rather than a work pool">
            —
          </span>
        )}
      </td>
      <td className="num">{deployment.concurrencyLimit ?? <span className="muted">—</span>}</td>
      <td>
        <Tags tags={deployment.tags} />
      </td>
      <td>
        <Time value={deployment.updated} />
      </td>
    </tr>
  );
}

export function DeploymentsPage() {
  useTitle("Deployments");
  const deployments = usePagedList<Deployment>(
    (client, page, signal) => client.api.listDeployments({ query: page }, signal),
    [],
    { pageSize: 100 },
  );

  return (
    <>
      <PageHeader title="Deployments">
        <button type="button" className="button" onClick={deployments.refresh}>
          Refresh
        </button>
      </PageHeader>
      <PagedTable
        list={deployments}
        label="Deployments"
        columns={[
          "Deployment",
          "Flow",
          "Status",
          "Schedules",
          "Work pool",
          { title: "Concurrency", className: "num" },
          "Tags",
          "Updated",
        ]}
        row={(deployment) => <DeploymentRow deployment={deployment} />}
        loading="Loading deployments…"
        empty={
          <EmptyState title="No deployments yet.">
            A deployment makes a flow runnable on a schedule or on demand; it appears here once created.
          </EmptyState>
        }
      />
    </>
  );
}
