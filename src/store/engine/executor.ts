/**
 * The hot path's executors: the attempt starts and outcomes, bulk enqueue and dispatched marks run
 * here, below MikroORM, one executor per dialect (sqlite/executor.ts, postgres/executor.ts); all
 * other work goes through the ORM's unit of work.
 *
 * Why: MikroORM's `execute` inlines every parameter into the SQL text and hands knex a new raw
 * string per call, so nothing is ever prepared twice; on a 2-core host a job's start and finish
 * through it cost ~2.6 ms of CPU (381 jobs/s on SQLite, 267 on PostgreSQL with one transaction per
 * write). The executors run cached prepared statements (SQLite) and named statements with bound
 * parameters (PostgreSQL) on connections of their own, opened through the drivers' public APIs.
 * The SQL is the same as the rest of the store's.
 */
import type { DatabaseTarget } from '../../config.js';
import type { Sql } from './sql.js';
import type { RowBatch } from './row-batch.js';
import type { CutCommit, Witness } from './postgres/cut-commit.js';
import { wrapDatabaseError } from './database-errors.js';

export interface FastExecutor {
  /**
   * Runs `work` in one transaction on a dedicated path; rolls back if it throws. On PostgreSQL a
   * connection that ends before COMMIT runs `work` again on a fresh one (connection-loss.ts); one
   * that ends during COMMIT is settled by the first row `work` inserted through `insertRows`
   * (cut-commit.ts). So `work` must insert a row that way (or through `writeRows`: row-batch.ts),
   * or be safe to apply twice.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: runs `work` on a pooled connection outside any transaction, each statement
   * committing by itself. If the connection ends under a statement, its server process is fenced
   * (cut-commit.ts) before the error reaches the caller, so what the caller reads next is final:
   * a `StatementCutOffError` (postgres/transaction.ts) then says the statement may have landed.
   */
  autocommit?<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: writes `batch` (row-batch.ts) as one statement outside any transaction, so that
   * it commits by itself: one round trip where a transaction takes three (BEGIN, the statement,
   * COMMIT). One cut off with its connection is settled by the batch's witness row (cut-commit.ts)
   * and run again if it did not land. Returns false, having run nothing, when the batch's rows
   * cannot share one statement; the caller then writes them in `transaction`.
   */
  commitRows?(batch: RowBatch): Promise<boolean>;
  /**
   * PostgreSQL only: after a connection (this executor's or another's) ended with a COMMIT in
   * flight, fences its server process and reads `witness` (cut-commit.ts): true if it landed.
   */
  settleCommit?(input: Omit<CutCommit, 'retryMs'> & { witness: Witness }): Promise<boolean>;
  /** Runs a trivial query on the executor's connection (health checks); rejects if it cannot. */
  probe(): Promise<void>;
  /** Stops what the executor started beside the connection (the SQLite checkpointer). */
  close(): Promise<void>;
}

/** Driver errors leave the executor as coded `DatabaseError`s (database-errors.ts), after any retry. */
export function withWrappedErrors(executor: FastExecutor, dialect: DatabaseTarget['dialect']): FastExecutor {
  const wrap = (error: unknown): never => {
    throw wrapDatabaseError(error, dialect);
  };
  const wrapped: FastExecutor = {
    ...executor,
    transaction: (work) => executor.transaction(work).catch(wrap),
  };
  if (executor.autocommit) wrapped.autocommit = (work) => executor.autocommit!(work).catch(wrap);
  if (executor.commitRows) wrapped.commitRows = (batch) => executor.commitRows!(batch).catch(wrap);
  return wrapped;
}

/** better-sqlite3 and pg both refuse `undefined`; booleans become 1/0 on SQLite as MikroORM stores them. */
export function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
