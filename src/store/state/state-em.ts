/**
 * An EntityManager fork per state or snapshot operation. Writes go through `Ledger.transactionWith`,
 * so they keep what every ledger write transaction has: on SQLite their turn among this process's
 * writers and the write lock before the first read (write-turns.ts, write-lock.ts), and a run from
 * the start after a lost lock race (retry-transient.ts). Both wait for the dispatched marks queued
 * before them, as `Ledger.transaction` and `Ledger.read` do. A driver error reaches the caller as
 * the coded `DatabaseError` every ledger statement gives (database-errors.ts), without its values.
 */
import { CommitOutcomeUnknownError } from '../../errors.js';
import { asUnavailable, isConnectionLoss } from '../engine/connection-loss.js';
import { wrapDatabaseError } from '../engine/database-errors.js';
import type { Ledger } from '../ledger.js';
import { forkEm, type LedgerEm } from '../orm/open-orm.js';

/**
 * Runs `work` in one transaction on a fresh fork. A connection lost before COMMIT wrote nothing: it
 * becomes a `DatabaseUnavailableError` and the transaction runs again (retry-transient.ts). One
 * lost during COMMIT may have landed, and these writes have no witness row to tell: the caller gets
 * a `CommitOutcomeUnknownError` rather than a guess.
 */
export async function stateTransaction<T>(ledger: Ledger, work: (em: LedgerEm) => Promise<T>): Promise<T> {
  await ledger.dispatchedMarksSettled();
  let committing = false;
  try {
    return await ledger.transactionWith(forkEm(ledger.orm), async (em) => {
      committing = false;
      try {
        const result = await work(em as LedgerEm);
        // The fork's pending changes go out before COMMIT, so a lost connection here is not a commit.
        await em.flush();
        committing = true;
        return result;
      } catch (error) {
        throw isConnectionLoss(error) ? asUnavailable('a ledger transaction', error) : error;
      }
    });
  } catch (error) {
    if (!isConnectionLoss(error)) throw wrapOrmError(error, ledger);
    if (committing) throw new CommitOutcomeUnknownError('a ledger transaction', [], error);
    throw asUnavailable('a ledger transaction', error);
  }
}

/** Reads on a fresh fork, outside any transaction; one whose connection ended runs again (they change nothing). */
export async function stateRead<T>(ledger: Ledger, work: (em: LedgerEm) => Promise<T>): Promise<T> {
  try {
    return await ledger.read(() => work(forkEm(ledger.orm)));
  } catch (error) {
    throw wrapOrmError(error, ledger);
  }
}

/**
 * A driver error from an ORM statement, as a coded `DatabaseError` (database-errors.ts). MikroORM 6
 * writes a statement's values into its SQL text, and the driver's message and stack start with that
 * text: both are cut down to the database's own reason (SQLite's) or to nothing (PostgreSQL's
 * reason may quote values; its code, constraint and table stay on the error), and the stack frames.
 */
function wrapOrmError(error: unknown, ledger: Ledger): unknown {
  const wrapped = wrapDatabaseError(error, ledger.dialect);
  if (wrapped === error || !(error instanceof Error)) return wrapped;
  const cut = error.message.lastIndexOf(' - ');
  const reason = ledger.dialect === 'sqlite' ? ` - ${cut < 0 ? error.message : error.message.slice(cut + 3)}` : '';
  const frames = (error.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line));
  try {
    error.message = `[statement and values withheld]${reason}`;
    error.stack = [`${error.name}: ${error.message}`, ...frames].join('\n');
  } catch {
    // a frozen error: the wrapper's message holds no value either way
  }
  return wrapped;
}
