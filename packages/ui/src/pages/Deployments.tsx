import type { Deployment } from "@baton/core";
import { usePagedList } from "../api.js";
import {
  Badge,
  EmptyState,
  ErrorBox,
  Loading,
  LoadMore,
  PageHeader,
  Tags,
  Time,
  useTitle,
} from "../components.js";
import { Link } from "../router.js";
import { Schedules } from "../schedules.js";

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
      {deployments.error ? <ErrorBox error={deployments.error} onRetry={deployments.refresh} /> : null}
      {!deployments.loaded ? (
        <Loading what="Loading deployments…" />
      ) : deployments.items.length === 0 ? (
        deployments.error ? null : (
          <EmptyState title="No deployments yet.">
            A deployment makes a flow runnable on a schedule or on demand; it appears here once created.
          </EmptyState>
        )
      ) : (
        <>
          <table className="table">
            <thead>
              <tr>
                <th>Deployment</th>
                <th>Flow</th>
                <th>Status</th>
                <th>Schedules</th>
                <th>Work pool</th>
                <th className="num">Concurrency</th>
                <th>Tags</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {deployments.items.map((deployment) => (
                <tr key={deployment.id}>
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
                  <td>
                    {deployment.paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Active</Badge>}
                  </td>
                  <td>
                    <Schedules schedules={deployment.schedules} />
                  </td>
                  <td>
                    {deployment.workPoolName ? (
                      <>
                        {deployment.workPoolName}
                        {deployment.workQueueName ? (
                          <span className="muted"> / {deployment.workQueueName}</span>
                        ) : null}
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
              ))}
            </tbody>
          </table>
          <LoadMore
            nextOffset={deployments.nextOffset}
            loading={deployments.loadingMore}
            onClick={deployments.loadMore}
          />
        </>
      )}
    </>
  );
}
