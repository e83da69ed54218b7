import type pg from "pg";

/**
 * PostgreSQL parses and plans every statement sent unnamed, which is how `pg` sends Kysely's; for the
 * store's statements that was a third of PostgreSQL's CPU per run (docs/performance.md). Here a pooled
 * connection names the store's statements (those with parameters), so that it parses each once and
 * PostgreSQL may keep its plan: after five executions it uses one generic plan when that costs no more
 * than planning anew.
 *
 * Names are given per statement text, to this many texts in all (IN lists of every length make
 * texts of their own); statements beyond are sent unnamed, as before.
 */
const MAX_NAMED = 500;

const names = new Map<string, string>();

function nameOf(text: string): string | undefined {
  let name = names.get(text);
  if (name === undefined && names.size < MAX_NAMED) {
    name = `baton_${names.size}`;
    names.set(text, name);
  }
  return name;
}

/**
 * PostgreSQL's "cached plan must not change result type": a newer server's migration changed what a
 * table returns since this connection prepared a statement on it. The statement was not carried out:
 * connection-loss.ts tries it (or its transaction) again, and it goes unnamed from then on.
 */
export const isStalePlan = (error: unknown): boolean =>
  (error as { code?: unknown } | null)?.code === "0A000" &&
  /cached plan/.test((error as { message?: unknown }).message as string);

/** Makes `client` send the store's parameterized statements as prepared statements of its own. */
export function prepareStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
  // Statements whose prepared form went stale on this connection (isStalePlan): sent unnamed from then on.
  const stale = new Set<string>();
  client.query = ((...args: unknown[]) => {
    const [text, values, callback] = args;
    if (typeof text !== "string" || !Array.isArray(values) || values.length === 0 || callback !== undefined)
      return query(...args);
    const name = nameOf(text);
    if (name === undefined || stale.has(name)) return query(...args);
    return query({ name, text, values }).catch((error: unknown) => {
      if (isStalePlan(error)) stale.add(name);
      throw error;
    });
  }) as typeof client.query;
}
