/**
 * Transactions and reads through MikroORM (everything off the hot path: operator actions, runs,
 * state, pipelines, maintenance), and what a lost connection means for them (connection-loss.ts).
 */
import { CommitOutcomeUnknownError } from '../../errors.js';
import { asUnavailable, isConnectionLoss } from '../engine/connection-loss.js';
import { wrapDatabaseError } from '../engine/database-errors.js';
import type { DatabaseDialect } from '../../config.js';
import { forkEm, type LedgerEm, type LedgerOrm } from './open-orm.js';
import { dialectOf, type Sql } from '../engine/sql.js';
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
 * One transaction on a fresh fork, through its unit of work: what `work` persists is flushed before
 * COMMIT. A driver error met by the ORM comes back coded and without values, as one met by a raw
 * statement does (database-errors.ts). A connection lost before COMMIT wrote nothing: it becomes a
 * `DatabaseUnavailableError`, which `retryTransient` runs again. One lost during COMMIT may have
 * landed; unless `work` is idempotent (then it runs again), these transactions have no witness row
 * to settle it by (cut-commit.ts covers the hot path and enqueue), so the caller is told the
 * outcome is unknown rather than given a guess.
 */
export async function ormUnitOfWork<T>(orm: LedgerOrm, work: (em: LedgerEm) => Promise<T>, options: OrmTransactionOptions = {}): Promise<T> {
  let committing = false;
  const fork = forkEm(orm);
  // begin/commit on the fork rather than `em.transactional`: that one runs its callback inside an
  // AsyncLocalStorage, and the first such run switches on Node's promise hooks for the whole
  // process, for good. Every promise of the hot path then paid for them (measured: a worker's CPU
  // per job rose by about half once one maintenance or operator transaction had run in it).
  try {
    await fork.begin();
    try {
      // SQLite: the write lock before the first read, so a read-then-write cannot meet a newer commit.
      await takeWriteLock(sqlFor(fork));
      const result = await work(fork);
      await fork.flush();
      committing = true;
      await fork.commit();
      return result;
    } catch (error) {
      if (fork.getTransactionContext()) await fork.rollback().catch(() => undefined);
      throw error;
    }
  } catch (error) {
    if (!isConnectionLoss(error)) throw wrapOrmError(error, dialectOf(fork));
    if (committing && !options.idempotent) throw new CommitOutcomeUnknownError('a ledger transaction', [], error);
    throw asUnavailable('a ledger transaction', error);
  }
}

/** `ormUnitOfWork` for work written as statements (`Sql` on the transaction's connection). */
export function ormTransaction<T>(orm: LedgerOrm, work: (sql: Sql) => Promise<T>, options: OrmTransactionOptions = {}): Promise<T> {
  return ormUnitOfWork(orm, (em) => work(sqlFor(em)), options);
}

/** Reads on a fresh fork; a lost connection becomes a `DatabaseUnavailableError` (reads are safe to run again). */
export async function ormEntityRead<T>(orm: LedgerOrm, work: (em: LedgerEm) => Promise<T>): Promise<T> {
  const fork = forkEm(orm);
  try {
    return await work(fork);
  } catch (error) {
    throw isConnectionLoss(error) ? asUnavailable('a ledger read', error) : wrapOrmError(error, dialectOf(fork));
  }
}

/** `ormEntityRead` for reads written as statements. */
export function ormRead<T>(orm: LedgerOrm, work: (sql: Sql) => Promise<T>): Promise<T> {
  return ormEntityRead(orm, (em) => work(sqlFor(em)));
}

/**
 * A driver error from an ORM statement, as a coded `DatabaseError` (database-errors.ts). MikroORM 6
 * writes a statement's values into its SQL text, and the driver's message and stack start with that
 * text: both are cut down to the database's own reason (SQLite's) or to nothing (PostgreSQL's
 * reason may quote values; its code, constraint and table stay on the error), and the stack frames.
 */
function wrapOrmError(error: unknown, dialect: DatabaseDialect): unknown {
  const wrapped = wrapDatabaseError(error, dialect);
  if (wrapped === error || !(error instanceof Error)) return wrapped;
  const cut = error.message.lastIndexOf(' - ');
  const reason = dialect === 'sqlite' ? ` - ${cut < 0 ? error.message : error.message.slice(cut + 3)}` : '';
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  try {
    error.message = `[statement and values withheld]${reason}`;
    error.stack = [`${error.name}: ${error.message}`, ...frames].join('\n');
  } catch {
    // a frozen error: the wrapper's message holds no value either way
  }
  return wrapped;
}
