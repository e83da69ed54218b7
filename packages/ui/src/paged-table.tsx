import { Fragment, type ReactNode } from "react";
import type { PagedList } from "./api.js";
import { ErrorBox, InlineError, Loading, LoadMore } from "./components.js";

/**
 * What every paged list shows, in one order: its error with Retry above whatever is loaded, then
 * "Loading…" until the first page, then `empty` (unless that failed) or `children` and Load more.
 */
export function PagedView<T>({
  list,
  loading,
  empty,
  children,
}: {
  list: PagedList<T>;
  /** Says what is loading: "Loading webhooks…". */
  loading?: string;
  /** Shown when there is nothing and nothing failed. */
  empty: ReactNode;
  children: ReactNode;
}) {
  return (
    <>
      {list.error ? <ErrorBox error={list.error} onRetry={list.refresh} /> : null}
      {!list.loaded ? (
        <Loading what={loading} />
      ) : list.items.length === 0 ? (
        list.error ? null : (
          empty
        )
      ) : (
        <>
          {children}
          <LoadMore nextOffset={list.nextOffset} loading={list.loadingMore} onClick={list.loadMore} />
        </>
      )}
    </>
  );
}

/** A column's heading; an empty title heads the row's buttons. */
export type Column = string | { title: string; className: string };

/** A paged list as a table: a row of `row` a loaded item, keyed by its id, below `columns`. */
export function PagedTable<T extends { id: string }>({
  list,
  label,
  columns,
  row,
  compact = false,
  loading,
  empty,
}: {
  list: PagedList<T>;
  /** The table's name for screen readers (and for tests finding it). */
  label: string;
  columns: readonly Column[];
  /** An item's `<tr>`. */
  row: (item: T) => ReactNode;
  /** Tighter cells, for a table inside a card. */
  compact?: boolean;
  loading?: string;
  empty: ReactNode;
}) {
  return (
    <PagedView list={list} loading={loading} empty={empty}>
      <table className={compact ? "table compact" : "table"} aria-label={label}>
        <thead>
          <tr>
            {columns.map((column, index) =>
              typeof column === "string" ? (
                <th key={index}>{column}</th>
              ) : (
                <th key={index} className={column.className}>
                  {column.title}
                </th>
              ),
            )}
          </tr>
        </thead>
        <tbody>
          {list.items.map((item) => (
            <Fragment key={item.id}>{row(item)}</Fragment>
          ))}
        </tbody>
      </table>
    </PagedView>
  );
}

/** A row's last cell: its buttons, then why the last change failed. */
export function RowActions({ error, children }: { error: Error | null; children: ReactNode }) {
  return (
    <td className="row-actions">
      {children}
      <InlineError error={error} />
    </td>
  );
}
