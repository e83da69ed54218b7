import {
  Kysely,
  PostgresDialect,
  SelectQueryNode,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
  type Transaction,
  type TransactionBuilder,
  type TransactionSettings,
} from "kysely";
import { BatonError } from "@baton/core";
import { isStalePlan } from "./prepared-statements.js";

/**
 * Surviving a PostgreSQL connection that dies under a request (a restart, a failover, an admin's
 * pg_terminate_backend): what is safe to try again on a new connection is tried again here, in one
 * place, and what is not answers 503 instead of 500.
 *
 * Safe to try again: getting a connection; a transaction whose connection died before its COMMIT was
 * sent (nothing of it was committed, so `transaction().execute(fn)` runs fn again); a lone read (not
 * a SELECT whose WITH queries write); any statement the client refused to send because it already knew
 * its connection was gone. Never tried again: a COMMIT or a lone write that was sent, since it may have
 * committed before the answer was lost (creating a flow run reads it back by its id: flow-runs.ts).
 * Also tried again: a statement refused because its prepared plan went stale (prepared-statements.ts),
 * which PostgreSQL did not carry out.
 */

// SQLSTATE classes and codes of a connection that went away: 08 connection exceptions, 57P01–57P03
// (terminated by an administrator, a crash, or the server still starting); then socket errors.
const LOST_CODES = new Set(["57P01", "57P02", "57P03", "ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);
// What pg says when the socket closes or a connection cannot be made in time.
const LOST_MESSAGES = /Connection terminated|not queryable|timeout exceeded when trying to connect/i;

/** Whether an error means the connection failed, not the statement. */
export function isConnectionLost(error: unknown): boolean {
  if (!(error instanceof Error) || error instanceof BatonError) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (code.startsWith("08") || LOST_CODES.has(code))) return true;
  return LOST_MESSAGES.test(error.message);
}

/** The 503 of a statement whose connection was lost (unreachable, or its outcome unknown). */
export const connectionLostUnder = (error: unknown): boolean =>
  error instanceof BatonError && error.code === "unavailable" && isConnectionLost(error.cause);

/**
 * Tries at creating a run written by one statement (PostgreSQL) whose connection was lost under it:
 * the caller reads the run back by its id and sends it again if it was not saved, then answers 503.
 */
export const INSERT_TRIES = 3;

/** pg refuses a statement on a connection it knows is broken without sending it. */
const neverSent = (error: unknown): boolean => error instanceof Error && /not queryable/.test(error.message);

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const unreachable = (cause: unknown): BatonError =>
  new BatonError(
    "unavailable",
    `the database is unreachable; retrying (${describe(cause)}): try again in a moment`,
    { cause },
  );

const outcomeUnknown = (cause: unknown): BatonError =>
  new BatonError(
    "unavailable",
    `the database connection was lost before the database confirmed this change (${describe(cause)}); ` +
      "it may or may not have been saved: read it back before trying again",
    { cause },
  );

// About 1.5 s in all: longer than a connection takes to be replaced, short enough for a request.
const RETRY_DELAYS_MS = [10, 25, 50, 100, 200, 400, 800];

/** Runs `attempt` again while it fails for a lost connection; then answers 503. */
async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
  for (let tries = 0; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!isConnectionLost(error) && !isStalePlan(error)) throw error;
      const delay = RETRY_DELAYS_MS[tries];
      if (delay === undefined) throw unreachable(error);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * Runs a write that changes nothing more when it runs twice (a heartbeat: "alive now") again while
 * its connection is lost, even after it was sent: an answer lost with its connection costs nothing.
 */
export function retryIdempotent<T>(write: () => Promise<T>): Promise<T> {
  return retrying(() =>
    write().catch((error: unknown) => {
      // The 503 of a write sent on a connection that died: the lost connection is what to retry on.
      throw connectionLostUnder(error) ? (error as BatonError).cause : error;
    }),
  );
}

/** A SELECT that writes nothing: not one with a data-modifying WITH query (a conditioned write's). */
const isRead = ({ query }: CompiledQuery): boolean =>
  SelectQueryNode.is(query) &&
  (query.with?.expressions.every(({ expression }) => SelectQueryNode.is(expression)) ?? true);

/** One checkout of a pooled connection: knows whether it is in a transaction, and can be replaced. */
class CheckedOutConnection implements DatabaseConnection {
  inTransaction = false;
  #inner: DatabaseConnection | undefined;
  readonly #driver: Driver;

  constructor(driver: Driver, inner: DatabaseConnection) {
    this.#driver = driver;
    this.#inner = inner;
  }

  get inner(): DatabaseConnection {
    if (!this.#inner) throw unreachable(new Error("no connection to the database"));
    return this.#inner;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    try {
      return await this.inner.executeQuery<R>(query);
    } catch (error) {
      // A transaction is tried again as a whole (ResilientKysely), never statement by statement.
      if (isStalePlan(error) && !this.inTransaction) return this.inner.executeQuery<R>(query);
      if (!isConnectionLost(error)) throw error;
      if (this.inTransaction) throw error;
      if (!isRead(query) && !neverSent(error)) throw outcomeUnknown(error);
      return retrying(async () => {
        await this.#replace();
        return this.inner.executeQuery<R>(query);
      });
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }

  async #replace(): Promise<void> {
    const broken = this.#inner;
    this.#inner = undefined;
    // The pool drops a client that had a connection error instead of lending it again.
    if (broken) await this.#driver.releaseConnection(broken);
    this.#inner = await this.#driver.acquireConnection();
  }

  async release(): Promise<void> {
    const inner = this.#inner;
    this.#inner = undefined;
    if (inner) await this.#driver.releaseConnection(inner);
  }
}

/** Kysely's PostgreSQL driver, with connections that may be replaced and a COMMIT that is never sent twice. */
class ResilientDriver implements Driver {
  readonly #inner: Driver;

  constructor(inner: Driver) {
    this.#inner = inner;
  }

  init(): Promise<void> {
    return this.#inner.init();
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    try {
      return new CheckedOutConnection(this.#inner, await retrying(() => this.#inner.acquireConnection()));
    } catch (error) {
      // Whatever keeps the server from a connection (refused, not accepting, still starting) is a 503.
      throw error instanceof BatonError ? error : unreachable(error);
    }
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    const checkedOut = connection as CheckedOutConnection;
    checkedOut.inTransaction = true;
    await this.#inner.beginTransaction(checkedOut.inner, settings);
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    const checkedOut = connection as CheckedOutConnection;
    try {
      await this.#inner.commitTransaction(checkedOut.inner);
      checkedOut.inTransaction = false;
    } catch (error) {
      // Sent and unanswered: it may have committed, so it must not run again.
      if (isConnectionLost(error) && !neverSent(error)) throw outcomeUnknown(error);
      throw error;
    }
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    const checkedOut = connection as CheckedOutConnection;
    try {
      await this.#inner.rollbackTransaction(checkedOut.inner);
    } catch (error) {
      // PostgreSQL rolls back the transaction of a connection that ended: the error that ended it is
      // the one to report.
      if (!isConnectionLost(error)) throw error;
    } finally {
      checkedOut.inTransaction = false;
    }
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return (connection as CheckedOutConnection).release();
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}

export class ResilientPostgresDialect extends PostgresDialect {
  override createDriver(): Driver {
    return new ResilientDriver(super.createDriver());
  }
}

/**
 * Kysely whose transactions run again on a new connection when theirs died before COMMIT was sent:
 * every `transaction().execute(fn)` of the store gets this, none has to ask for it.
 */
export class ResilientKysely<DB> extends Kysely<DB> {
  override transaction(): TransactionBuilder<DB> {
    return retryingTransactions(super.transaction());
  }
}

function retryingTransactions<DB>(builder: TransactionBuilder<DB>): TransactionBuilder<DB> {
  const execute = builder.execute.bind(builder);
  const setAccessMode = builder.setAccessMode.bind(builder);
  const setIsolationLevel = builder.setIsolationLevel.bind(builder);
  builder.execute = <T>(callback: (trx: Transaction<DB>) => Promise<T>): Promise<T> =>
    retrying(() => execute(callback));
  builder.setAccessMode = (mode) => retryingTransactions(setAccessMode(mode));
  builder.setIsolationLevel = (level) => retryingTransactions(setIsolationLevel(level));
  return builder;
}
