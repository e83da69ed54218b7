import type { WorkPool, WorkQueue, Worker as PoolWorker } from "@baton/core";
import type { BatonClient } from "@baton/client";
import { readAll, useApi } from "../api.js";
import { Badge, EmptyState, ErrorBox, Loading, PageHeader, Time, useTitle } from "../components.js";
import { pluralize } from "../format.js";

export interface PoolView {
  pool: WorkPool;
  queues: WorkQueue[];
  workers: PoolWorker[];
}

export async function loadPools(client: BatonClient, signal: AbortSignal): Promise<PoolView[]> {
  const pools = await readAll((page) => client.api.listWorkPools({ query: page }, signal));
  return Promise.all(
    pools.map(async (pool) => {
      const params = { pool: pool.name };
      const [queues, workers] = await Promise.all([
        readAll((page) => client.api.listWorkQueues({ params, query: page }, signal)),
        readAll((page) => client.api.listWorkers({ params, query: page }, signal)),
      ]);
      return { pool, queues: [...queues].sort((a, b) => a.priority - b.priority), workers };
    }),
  );
}

function Pool({ view: { pool, queues, workers } }: { view: PoolView }) {
  const online = workers.filter((worker) => worker.status === "ONLINE").length;
  return (
    <section className="card">
      <div className="section-header">
        <h2>
          {pool.name} <span className="muted small">{pool.type}</span>
        </h2>
        <div className="pool-meta">
          {pool.paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Ready</Badge>}
          <span className="muted">
            Concurrency limit: {pool.concurrencyLimit ?? "none"} · {pluralize(online, "worker")} online
          </span>
        </div>
      </div>
      {pool.description ? <p className="muted">{pool.description}</p> : null}

      <div className="columns">
        <div>
          <h3>Queues</h3>
          {queues.length === 0 ? (
            <p className="muted">This pool has no queues.</p>
          ) : (
            <table className="table compact">
              <thead>
                <tr>
                  <th>Name</th>
                  <th className="num">Priority</th>
                  <th className="num">Limit</th>
                  <th>Status</th>
                  <th>Last polled</th>
                </tr>
              </thead>
              <tbody>
                {queues.map((queue) => (
                  <tr key={queue.id}>
                    <td className="strong" title={queue.description ?? undefined}>
                      {queue.name}
                    </td>
                    <td className="num">{queue.priority}</td>
                    <td className="num">{queue.concurrencyLimit ?? <span className="muted">—</span>}</td>
                    <td>
                      {queue.paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Ready</Badge>}
                    </td>
                    <td>
                      <Time value={queue.lastPolled} relative />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <div>
          <h3>Workers</h3>
          {workers.length === 0 ? (
            <p className="muted">No worker has polled this pool yet.</p>
          ) : (
            <table className="table compact">
              <thead>
                <tr>
                  <th>Name</th>
                  <th>Status</th>
                  <th>Last heartbeat</th>
                </tr>
              </thead>
              <tbody>
                {workers.map((worker) => (
                  <tr key={worker.id}>
                    <td className="strong">{worker.name}</td>
                    <td>
                      {worker.status === "ONLINE" ? (
                        <Badge tone="ok">Online</Badge>
                      ) : (
                        <Badge tone="off">Offline</Badge>
                      )}
                    </td>
                    <td>
                      <Time value={worker.lastHeartbeat} relative />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </section>
  );
}

export function WorkPoolsPage() {
  useTitle("Work pools");
  const pools = useApi(loadPools, []);
  return (
    <>
      <PageHeader title="Work pools">
        <button type="button" className="button" onClick={pools.reload} disabled={pools.loading}>
          {pools.loading && pools.data ? "Refreshing…" : "Refresh"}
        </button>
      </PageHeader>
      {pools.error ? <ErrorBox error={pools.error} onRetry={pools.reload} /> : null}
      {!pools.data ? (
        pools.error ? null : (
          <Loading what="Loading work pools…" />
        )
      ) : pools.data.length === 0 ? (
        <EmptyState title="No work pools yet.">
          A work pool holds queues of scheduled runs that workers pick up; it appears here once created.
        </EmptyState>
      ) : (
        pools.data.map((view) => <Pool key={view.pool.id} view={view} />)
      )}
    </>
  );
}
