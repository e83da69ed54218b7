import type { Compilable, CompiledQuery, Kysely, KyselyPlugin, QueryResult } from "kysely";
import type { Database } from "./schema.js";

/** Stands for the value at `index` while a query is compiled: a text no caller sends. */
const placeholder = (index: number) => `\u0000baton-value-${index}`;

/**
 * A query of one fixed shape, built and compiled by Kysely once per database (per plugin set, so per
 * dialect too) and from then on sent with new values. Building and compiling a query costs tens to
 * hundreds of microseconds each time: a run's lock, with its subqueries, was 7% of the server's time
 * per state change on PostgreSQL (docs/performance.md). `build` is called once, with a placeholder for
 * each value, and each must reach the compiled query's parameters as it is: compared with `=`, set or
 * inserted, not inside a list, a JSON value or an expression computed in JavaScript.
 */
export function compiledOnce<V extends unknown[], R>(
  build: (db: Kysely<Database>, ...values: V) => Compilable<R>,
): (db: Kysely<Database>, ...values: V) => Promise<QueryResult<R>> {
  // By the plugins that compiled it (a transaction's executor has a copy of its database's list); a
  // process opens few databases, so the last few are kept.
  const compiled: { plugins: readonly KyselyPlugin[]; query: CompiledQuery<R>; slots: number[] }[] = [];
  return async (db, ...values) => {
    const plugins = db.getExecutor().plugins;
    let entry = compiled.find(
      (known) => known.plugins.length === plugins.length && known.plugins.every((p, i) => p === plugins[i]),
    );
    if (!entry) {
      const marks = values.map((_, index) => placeholder(index));
      const query = build(db, ...(marks as V)).compile();
      const slots = query.parameters.map((parameter) => marks.indexOf(parameter as string));
      // Every value must reach a parameter (one may reach several: a run's id, say).
      if (new Set(slots.filter((slot) => slot >= 0)).size < values.length) {
        throw new Error(`compiledOnce: a value does not reach the parameters as it is in: ${query.sql}`);
      }
      entry = { plugins: [...plugins], query, slots };
      compiled.unshift(entry);
      compiled.splice(KEPT);
    }
    const { query, slots } = entry;
    const parameters = query.parameters.map((parameter, at) => {
      const slot = slots[at]!;
      return slot >= 0 ? values[slot] : parameter;
    });
    return db.executeQuery({ ...query, parameters });
  };
}

/** Compiled forms kept per query: one per database a process has open, at most. */
const KEPT = 8;
