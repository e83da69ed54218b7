import { EventName, STATE_TYPES } from "@baton/core";
import type { BatonClient } from "@baton/client";
import { FLOW_RUN_EVENTS, useApi, useDebouncedBatch, useEvents } from "../api.js";
import {
  Badge,
  ErrorBox,
  LiveIndicator,
  Loading,
  PageHeader,
  Time,
  useEvery,
  useTitle,
} from "../components.js";
import { pluralize, stateLabel } from "../format.js";
import { Link } from "../router.js";
import { bucketsFromHistory, HOUR_MS, totals, windowStart, type HourBucket } from "../run-buckets.js";
import { RunsChart, Swatch } from "../runs-chart.js";
import { loadPools, type PoolView } from "./WorkPools.js";

const WINDOW_HOURS = 24;
/** Late runs are counted up to this many (one page of the list). */
const MAX_LATE = 1000;
/** Workers' heartbeats raise no event, so their status is read again on this beat. */
const POOLS_REFRESH_MS = 15_000;
/** The window moves on without any event: the runs are read again on this beat. */
const RUNS_REFRESH_MS = 60_000;

interface RecentRuns {
  /** Start of the window, an hour boundary, so that the query and the chart's hours agree. */
  since: string;
  buckets: HourBucket[];
  late: number;
  /** More runs are late than were counted. */
  moreLate: boolean;
}

/**
 * The runs of the last hours counted by the server (by hour and state type, in SQL), however many
 * there are; and the Late runs (a SCHEDULED state by name: the type lets the server use its index).
 */
async function loadRecentRuns(client: BatonClient, signal: AbortSignal): Promise<RecentRuns> {
  const since = windowStart(Date.now(), WINDOW_HOURS);
  const [history, late] = await Promise.all([
    client.api.flowRunHistory(
      {
        query: {
          since: new Date(since).toISOString(),
          until: new Date(since + WINDOW_HOURS * HOUR_MS).toISOString(),
          bucketSeconds: HOUR_MS / 1000,
        },
      },
      signal,
    ),
    client.api.listFlowRuns(
      { query: { stateType: ["SCHEDULED"], stateName: "Late", limit: MAX_LATE } },
      signal,
    ),
  ]);
  return {
    since: new Date(since).toISOString(),
    buckets: bucketsFromHistory(history, since, WINDOW_HOURS),
    late: late.items.length,
    moreLate: late.nextOffset !== null,
  };
}

function StateTotals({ recent }: { recent: RecentRuns }) {
  const counts = totals(recent.buckets);
  const present = STATE_TYPES.filter((type) => counts[type] > 0);
  return (
    <ul className="state-totals">
      {present.map((type) => (
        <li key={type}>
          <Link href={`/runs?state=${type}&after=${encodeURIComponent(recent.since)}`}>
            <Swatch type={type} />
            {counts[type]} {stateLabel(type)}
          </Link>
        </li>
      ))}
    </ul>
  );
}

function RunsCard({ recent }: { recent: RecentRuns }) {
  const count = Object.values(totals(recent.buckets)).reduce((sum, n) => sum + n, 0);
  const description = `Flow runs created in the last ${WINDOW_HOURS} hours, by hour and state: ${pluralize(count, "run")}.`;
  return (
    <section className="card">
      <div className="section-header">
        <h2>Flow runs, last {WINDOW_HOURS} hours</h2>
        <span className="muted small">by the hour they were created, in the state they are in now</span>
      </div>
      {count === 0 ? (
        <p className="muted">No flow run was created in the last {WINDOW_HOURS} hours.</p>
      ) : (
        <>
          <RunsChart buckets={recent.buckets} description={description} />
          <StateTotals recent={recent} />
        </>
      )}
    </section>
  );
}

function AttentionItem({
  count,
  more = false,
  label,
  href,
  tone,
}: {
  count: number;
  /** More than `count`: only that many were counted. */
  more?: boolean;
  label: string;
  href: string;
  tone: string;
}) {
  return (
    <Link href={href} className={`attention${count > 0 ? ` attention-${tone}` : ""}`}>
      <span className="attention-count">
        {count}
        {more ? "+" : ""}
      </span>
      <span className="attention-label">{label}</span>
    </Link>
  );
}

function AttentionCard({ recent }: { recent: RecentRuns }) {
  const counts = totals(recent.buckets);
  const after = `after=${encodeURIComponent(recent.since)}`;
  return (
    <section className="card">
      <h2>Needs attention</h2>
      <div className="attention-list">
        <AttentionItem
          count={counts.FAILED}
          label={`failed (${WINDOW_HOURS} h)`}
          href={`/runs?state=FAILED&${after}`}
          tone="failed"
        />
        <AttentionItem
          count={counts.CRASHED}
          label={`crashed (${WINDOW_HOURS} h)`}
          href={`/runs?state=CRASHED&${after}`}
          tone="crashed"
        />
        <AttentionItem
          count={recent.late}
          more={recent.moreLate}
          label="late now"
          href="/runs?stateName=Late"
          tone="late"
        />
      </div>
    </section>
  );
}

const lastHeartbeat = ({ workers }: PoolView): string | null =>
  workers.reduce<string | null>(
    (latest, w) => (!latest || w.lastHeartbeat > latest ? w.lastHeartbeat : latest),
    null,
  );

function PoolsCard({ pools }: { pools: PoolView[] }) {
  return (
    <section className="card">
      <div className="section-header">
        <h2>Work pools</h2>
        <Link href="/work-pools">All work pools</Link>
      </div>
      {pools.length === 0 ? (
        <p className="muted">No work pools. Deployments served by a process need none.</p>
      ) : (
        <table className="table compact">
          <thead>
            <tr>
              <th>Pool</th>
              <th>Status</th>
              <th>Workers online</th>
              <th>Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {pools.map((view) => {
              const online = view.workers.filter((worker) => worker.status === "ONLINE").length;
              return (
                <tr key={view.pool.id}>
                  <td className="strong">{view.pool.name}</td>
                  <td>
                    {view.pool.paused ? <Badge tone="warn">Paused</Badge> : <Badge tone="ok">Ready</Badge>}
                  </td>
                  <td>
                    <Badge tone={online > 0 ? "ok" : "off"}>
                      {online} of {view.workers.length}
                    </Badge>
                  </td>
                  <td>
                    <Time value={lastHeartbeat(view)} relative />
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function OverviewPage() {
  useTitle("Overview");
  const recent = useApi(loadRecentRuns, []);
  const pools = useApi(loadPools, []);

  const schedule = useDebouncedBatch<"runs" | "pools">((changed) => {
    if (changed.has("runs")) recent.reload();
    if (changed.has("pools")) pools.reload();
  }, 1000);
  const live = useEvents(
    { names: [...FLOW_RUN_EVENTS, EventName.WorkPoolUpdated] },
    (event) => schedule(event.name === EventName.WorkPoolUpdated ? "pools" : "runs"),
    () => {
      schedule("runs");
      schedule("pools");
    },
  );
  useEvery(POOLS_REFRESH_MS, pools.reload);
  useEvery(RUNS_REFRESH_MS, recent.reload);

  const data = recent.data;
  return (
    <>
      <PageHeader title="Overview">
        <LiveIndicator status={live} />
      </PageHeader>
      {recent.error ? <ErrorBox error={recent.error} onRetry={recent.reload} /> : null}
      {pools.error ? <ErrorBox error={pools.error} onRetry={pools.reload} /> : null}
      {data ? (
        <>
          <RunsCard recent={data} />
          <div className="columns">
            <AttentionCard recent={data} />
            {pools.data ? <PoolsCard pools={pools.data} /> : null}
          </div>
        </>
      ) : recent.error ? null : (
        <Loading what="Loading the overview…" />
      )}
    </>
  );
}
