/**
 * Transactions and reads through MikroORM (everything off the hot path: operator actions, runs,
 * state, maintenance), and what a lost connection means for them (connection-loss.ts).
 */
import { CommitOutcomeUnknownError } from '../../errors.js';
import { asUnavailable, isConnectionLoss } from '../engine/connection-loss.js';
import { forkEm, type LedgerOrm } from './open-orm.js';
import type { Sql } from '../engine/sql.js';
import { sqlFor } from './em-sql.js';
import { takeWriteLock } from '../engine/sqlite/write-lock.js';

export interface OrmTransactionOptions {
  /**
   * `work` may run again after it landed and change nothing more (conditional updates, inserts of
   * rows with ids made before the transaction that it reads back): a COMMIT cut off with its
   * connection then simply runs it again, and what it reads tells. Default false.
   */
  idempotent?: boolean;
}

/**
 * One transaction on a fresh fork. A connection lost before COMMIT wrote nothing: it becomes a
 * `DatabaseUnavailableError`, which `retryTransient` runs again. One lost during COMMIT may have
 * landed; unless `work` is idempotent (then it runs again), these transactions have no witness row
 * to settle it by (cut-commit.ts covers the hot path and enqueue), so the caller is told the
 * outcome is unknown rather than given a guess.
 */
export async function ormTransaction<T>(orm: LedgerOrm, work: (sql: Sql) => Promise<T>, options: OrmTransactionOptions = {}): Promise<T> {
  let committing = false;
  try {
    return await forkEm(orm).transactional(async (em) => {
      const sql = sqlFor(em);
      // SQLite: the write lock before the first read, so a read-then-write cannot meet a newer commit.
      await takeWriteLock(sql);
      const result = await work(sql);
      committing = true;
      return result;
    });
  } catch (error) {
    if (!isConnectionLoss(error)) throw error;
    if (committing && !options.idempotent) throw new CommitOutcomeUnknownError('a ledger transaction', [], error);
    throw asUnavailable('a ledger transaction', error);
  }
}

/** Reads on a fresh fork; a lost connection becomes a `DatabaseUnavailableError` (reads are safe to run again). */
export async function ormRead<T>(orm: LedgerOrm, work: (sql: Sql) => Promise<T>): Promise<T> {
  try {
    return await work(sqlFor(forkEm(orm)));
  } catch (error) {
    throw asUnavailable('a ledger read', error);
  }
}
