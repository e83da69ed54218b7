import type { ConcurrencyLimit } from "@baton/core";
import { usePagedList } from "../api.js";
import { EmptyState, ErrorBox, Loading, LoadMore, PageHeader, Time, useTitle } from "../components.js";

function Slots({ limit }: { limit: ConcurrencyLimit }) {
  const used = limit.activeSlots.length;
  const ratio = limit.limit > 0 ? Math.min(1, used / limit.limit) : 1;
  const tone = used >= limit.limit ? "full" : ratio >= 0.75 ? "high" : "ok";
  return (
    <span className="slots">
      <span className={`meter meter-${tone}`} aria-hidden="true">
        <span style={{ width: `${ratio * 100}%` }} />
      </span>
      {used} / {limit.limit}
    </span>
  );
}

export function ConcurrencyLimitsPage() {
  useTitle("Concurrency limits");
  const limits = usePagedList<ConcurrencyLimit>(
    (client, page, signal) => client.api.listConcurrencyLimits({ query: page }, signal),
    [],
    { pageSize: 200 },
  );

  return (
    <>
      <PageHeader title="Concurrency limits">
        <button type="button" className="button" onClick={limits.refresh}>
          Refresh
        </button>
      </PageHeader>
      <p className="muted intro">
        A tag's limit caps how many task runs carrying that tag may run at once; each running task holds a
        slot.
      </p>
      {limits.error ? <ErrorBox error={limits.error} onRetry={limits.refresh} /> : null}
      {!limits.loaded ? (
        <Loading what="Loading concurrency limits…" />
      ) : limits.items.length === 0 ? (
        limits.error ? null : (
          <EmptyState title="No concurrency limits.">
            Task runs with any tag may run without limit.
          </EmptyState>
        )
      ) : (
        <>
          <table className="table">
            <thead>
              <tr>
                <th>Tag</th>
                <th className="num">Limit</th>
                <th>Slots in use</th>
                <th>Created</th>
                <th>Updated</th>
              </tr>
            </thead>
            <tbody>
              {limits.items.map((limit) => (
                <tr key={limit.id}>
                  <td>
                    <span className="tag">{limit.tag}</span>
                  </td>
                  <td className="num">{limit.limit}</td>
                  <td>
                    <Slots limit={limit} />
                  </td>
                  <td>
                    <Time value={limit.created} />
                  </td>
                  <td>
                    <Time value={limit.updated} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <LoadMore nextOffset={limits.nextOffset} loading={limits.loadingMore} onClick={limits.loadMore} />
        </>
      )}
    </>
  );
}
