import {
  EventName,
  type FlowRunQuery,
  type WorkPool,
  type WorkQueue,
  type Worker as PoolWorker,
} from "@baton/core";
import type { BatonClient } from "@baton/client";
import { FLOW_RUN_EVENTS, readAll, useAction, useApi, useDebouncedBatch, useEvents } from "../api.js";
import {
  Badge,
  EmptyState,
  ErrorBox,
  InlineError,
  LiveIndicator,
  Loading,
  PageHeader,
  Time,
  UsageMeter,
  useEvery,
  useTitle,
} from "../components.js";
import { pluralize } from "../format.js";
import { LimitEditor } from "../limit-editor.js";
import { PoolJobVariables } from "../pool-job-variables.js";

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

/** The states in which a run holds a place under its pool's and queue's limits, as the server counts them. */
const IN_FLIGHT = ["PENDING", "RUNNING", "CANCELLING"] as const;
/** Counting stops here without a limit to compare with, to keep the page light. */
const COUNT_CAP = 200;

interface InFlight {
  runs: number;
  /** More runs are in flight than were counted. */
  more: boolean;
}

async function countInFlight(
  client: BatonClient,
  query: Pick<FlowRunQuery, "workPoolName" | "workQueueName">,
  limit: number | null,
  signal: AbortSignal,
): Promise<InFlight> {
  const cap = Math.min(1000, Math.max(COUNT_CAP, (limit ?? 0) + 1));
  const page = await client.api.listFlowRuns(
    { query: { ...query, stateType: [...IN_FLIGHT], limit: cap } },
    signal,
  );
  return { runs: page.items.length, more: page.nextOffset !== null };
}

interface PoolLoad extends PoolView {
  inFlight: InFlight;
  /** By queue name. */
  queueInFlight: Map<string, InFlight>;
}

async function loadPoolsInFlight(client: BatonClient, signal: AbortSignal): Promise<PoolLoad[]> {
  const views = await loadPools(client, signal);
  return Promise.all(
    views.map(async (view) => {
      const workPoolName = view.pool.name;
      const [inFlight, ...perQueue] = await Promise.all([
        countInFlight(client, { workPoolName }, view.pool.concurrencyLimit, signal),
        ...view.queues.map((queue) =>
          countInFlight(client, { workPoolName, workQueueName: queue.name }, queue.concurrencyLimit, signal),
        ),
      ]);
      const queueInFlight = new Map(view.queues.map((queue, index) => [queue.name, perQueue[index]!]));
      return { ...view, inFlight, queueInFlight };
    }),
  );
}

function Status({ paused }: { paused: boolean }) {
  return paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Ready</Badge>;
}

function PauseButton({
  paused,
  subject,
  onClick,
}: {
  paused: boolean;
  subject: string;
  onClick: () => void;
}) {
  const verb = paused ? "Resume" : "Pause";
  return (
    <button type="button" className="button small" aria-label={`${verb} ${subject}`} onClick={onClick}>
      {verb}
    </button>
  );
}

/** What the page changes of a pool or a queue. */
interface Change {
  paused?: boolean;
  concurrencyLimit?: number | null;
}

/** Sends a pool's or a queue's change (`update`), then reloads the page; resolves true once done. */
function useChange(update: (client: BatonClient, change: Change) => Promise<unknown>, onChanged: () => void) {
  const action = useAction(onChanged);
  const change = (body: Change) => action.run("change", (client) => update(client, body)).then(Boolean);
  return { change, error: action.error };
}

function QueueRow({
  pool,
  queue,
  inFlight,
  onChanged,
}: {
  pool: string;
  queue: WorkQueue;
  inFlight: InFlight | undefined;
  onChanged: () => void;
}) {
  const subject = `queue ${queue.name}`;
  const { change, error } = useChange(
    (client, body) => client.api.updateWorkQueue({ params: { pool, name: queue.name }, body }),
    onChanged,
  );
  return (
    <tr>
      <td className="strong" title={queue.description ?? undefined}>
        {queue.name}
      </td>
      <td className="num">{queue.priority}</td>
      <td>
        {inFlight ? (
          <UsageMeter used={inFlight.runs} limit={queue.concurrencyLimit} more={inFlight.more} />
        ) : null}
      </td>
      <td>
        <LimitEditor
          limit={queue.concurrencyLimit}
          subject={subject}
          optional
          onSave={(concurrencyLimit) => change({ concurrencyLimit })}
        />
      </td>
      <td>
        <Status paused={queue.paused} />{" "}
        <PauseButton
          paused={queue.paused}
          subject={subject}
          onClick={() => void change({ paused: !queue.paused })}
        />
        <InlineError error={error} />
      </td>
      <td>
        <Time value={queue.lastPolled} relative />
      </td>
    </tr>
  );
}

function Queues({ view, onChanged }: { view: PoolLoad; onChanged: () => void }) {
  if (view.queues.length === 0) return <p className="muted">This pool has no queues.</p>;
  return (
    <table className="table compact" aria-label={`Queues of ${view.pool.name}`}>
      <thead>
        <tr>
          <th>Queue</th>
          <th className="num">Priority</th>
          <th>Runs in flight</th>
          <th>Limit</th>
          <th>Status</th>
          <th>Last polled</th>
        </tr>
      </thead>
      <tbody>
        {view.queues.map((queue) => (
          <QueueRow
            key={queue.id}
            pool={view.pool.name}
            queue={queue}
            inFlight={view.queueInFlight.get(queue.name)}
            onChanged={onChanged}
          />
        ))}
      </tbody>
    </table>
  );
}

function Workers({ workers }: { workers: PoolWorker[] }) {
  if (workers.length === 0) return <p className="muted">No worker has polled this pool yet.</p>;
  return (
    <table className="table compact">
      <thead>
        <tr>
          <th>Worker</th>
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
  );
}

function Pool({ view, onChanged }: { view: PoolLoad; onChanged: () => void }) {
  const { pool, workers } = view;
  const subject = `pool ${pool.name}`;
  const { change, error } = useChange(
    (client, body) => client.api.updateWorkPool({ params: { name: pool.name }, body }),
    onChanged,
  );
  const online = workers.filter((worker) => worker.status === "ONLINE").length;
  return (
    <section className="card" aria-label={`Work pool ${pool.name}`}>
      <div className="section-header">
        <h2>
          {pool.name} <span className="muted small">{pool.type}</span> <Status paused={pool.paused} />
        </h2>
        <div className="pool-meta">
          <InlineError error={error} />
          <PauseButton
            paused={pool.paused}
            subject={subject}
            onClick={() => void change({ paused: !pool.paused })}
          />
        </div>
      </div>
      {pool.description ? <p className="muted">{pool.description}</p> : null}
      <dl className="details pool-details">
        <dt>Runs in flight</dt>
        <dd>
          <UsageMeter used={view.inFlight.runs} limit={pool.concurrencyLimit} more={view.inFlight.more} />
        </dd>
        <dt>Concurrency limit</dt>
        <dd>
          <LimitEditor
            limit={pool.concurrencyLimit}
            subject={subject}
            optional
            onSave={(concurrencyLimit) => change({ concurrencyLimit })}
          />
        </dd>
        <dt>Workers</dt>
        <dd>{pluralize(online, "worker")} online</dd>
      </dl>
      <details>
        <summary>Job variables</summary>
        <p className="muted small">
          What the pool&apos;s workers take for each run, with the pool&apos;s defaults; a deployment&apos;s
          and a run&apos;s own job variables go over them.
        </p>
        {/* Made again from the saved pool once it changes, so the form shows what was saved. */}
        <PoolJobVariables key={pool.updated} pool={pool} onSaved={onChanged} />
      </details>
      <h3>Queues</h3>
      <Queues view={view} onChanged={onChanged} />
      <h3>Workers</h3>
      <Workers workers={workers} />
    </section>
  );
}

const EVENTS = [
  ...FLOW_RUN_EVENTS,
  EventName.WorkPoolUpdated,
  EventName.WorkQueueUpdated,
  EventName.WorkerOffline,
];
/** Workers' heartbeats come with no event: the page looks again this often. */
const HEARTBEAT_REFRESH_MS = 10_000;

export function WorkPoolsPage() {
  useTitle("Work pools");
  const pools = useApi(loadPoolsInFlight, []);
  const schedule = useDebouncedBatch<"pools">(() => pools.reload(), 1000);
  const live = useEvents(
    { names: EVENTS },
    () => schedule("pools"),
    () => schedule("pools"),
  );
  useEvery(HEARTBEAT_REFRESH_MS, pools.reload);
  return (
    <>
      <PageHeader title="Work pools">
        <LiveIndicator status={live} />
      </PageHeader>
      <p className="muted intro">
        Workers take runs from a pool&apos;s queues, higher priority (a lower number) first. A run holds a
        place under its queue&apos;s and pool&apos;s limits while it is pending, running or cancelling.
      </p>
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
        pools.data.map((view) => <Pool key={view.pool.id} view={view} onChanged={pools.reload} />)
      )}
    </>
  );
}
