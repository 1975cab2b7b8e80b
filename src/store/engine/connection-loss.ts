/**
 * Database connections end: a PostgreSQL restart or failover, a pooler, an idle timeout or an
 * operator's `pg_terminate_backend` closes them under the client. What that means for a write
 * depends on where it happened:
 *
 * - before COMMIT was sent (connecting, BEGIN, a statement inside the transaction): the server
 *   rolled the transaction back, nothing was written, and the write is retried like a deadlock
 *   (retry-transient.ts) for up to `Config.databaseRetryMs`, long enough to ride out a restart. If the
 *   database stays away, the caller gets a `DatabaseUnavailableError` (retryable);
 * - while COMMIT (or a statement that commits by itself) was in flight: it may or may not have
 *   landed. That is never assumed either way: the write's own rows in the ledger tell, read once the
 *   old server process is gone (cut-commit.ts). If they cannot be read, the caller gets a
 *   `CommitOutcomeUnknownError`.
 *
 * This module only classifies errors; the executors (sqlite/executor.ts, postgres/executor.ts, ledger.ts) decide which case
 * they are in.
 */
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from '../../errors.js';

/** How long a call waits for the database to come back before it gives up (`Config.databaseRetryMs`). */
export const defaultDatabaseRetryMs = 20_000;

/**
 * SQLSTATEs after which the connection is gone or could not be made: admin shutdown (57P01, what
 * `pg_terminate_backend` and a fast shutdown send), crash shutdown (57P02), starting up or shutting
 * down (57P03), idle-session and idle-in-transaction timeouts (57P05, 25P03), the connection
 * exception class (08xxx) and too many connections (53300, met while a restarted server fills up).
 */
const lostCodes = new Set(['57P01', '57P02', '57P03', '57P05', '25P03', '53300', '08000', '08001', '08003', '08004', '08006', '08007']);

/** Socket errors of a connection that broke or could not be opened. */
const socketCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/**
 * Messages pg and knex give a connection that ended or could not be had, without a code. knex's
 * "Transaction query already complete" is what a statement meets in a transaction whose BEGIN
 * failed on a connection that had just ended: knex ended the transaction and kept the cause to
 * itself. It never follows a COMMIT in the ledger's transactions, so nothing of it was written.
 */
const lostMessages = [
  'Connection terminated unexpectedly',
  'Transaction query already complete',
  'Connection terminated due to connection timeout',
  'Client has encountered a connection error and is not queryable',
  'terminating connection due to',
  'the database system is',
  'timeout expired',
  'Timeout acquiring a connection',
];

/**
 * True when `error` (or its cause, or its cause's cause) says the database connection ended or could
 * not be made, as the driver reports it (pg, knex, MikroORM's wrappers, which keep the code).
 */
export function isConnectionLoss(error: unknown): boolean {
  let current = error as { code?: unknown; message?: unknown; name?: unknown; cause?: unknown } | null | undefined;
  for (let depth = 0; current && depth < 4; depth++) {
    if (current instanceof DatabaseUnavailableError || current instanceof CommitOutcomeUnknownError) return true;
    const code = typeof current.code === 'string' ? current.code : undefined;
    if (code && (lostCodes.has(code) || socketCodes.has(code))) return true;
    if (current.name === 'KnexTimeoutError') return true;
    if (typeof current.message === 'string' && lostMessages.some((m) => (current!.message as string).includes(m))) return true;
    current = current.cause as typeof current;
  }
  return false;
}

/** A loss that wrote nothing: retry-transient.ts runs the write again while the window lasts. */
export function isRetryableLoss(error: unknown): error is DatabaseUnavailableError {
  return error instanceof DatabaseUnavailableError;
}

/** The pause before the next try after a loss: 50 ms doubling to 1 s, jittered. */
export function reconnectDelayMs(attempt: number): number {
  const ceiling = Math.min(1000, 50 * 2 ** Math.min(attempt, 5));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}

/** `error` as a `DatabaseUnavailableError` if it is a connection loss (and not one already); else as is. */
export function asUnavailable(what: string, error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError || error instanceof CommitOutcomeUnknownError) return error;
  return isConnectionLoss(error) ? new DatabaseUnavailableError(what, error) : error;
}
