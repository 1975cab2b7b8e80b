/**
 * An EntityManager fork per state or snapshot operation, through the Ledger's unit of work
 * (orm/orm-transaction.ts): on SQLite a write takes its turn among this process's writers and the
 * write lock before its first read, a lost lock race runs it again from the start, and a driver
 * error reaches the caller as the coded `DatabaseError` every ledger statement gives, without its
 * values. Both wait for the dispatched marks queued before them.
 */
import type { Ledger } from '../ledger.js';
import type { LedgerEm } from '../orm/open-orm.js';

/**
 * Runs `work` in one transaction on a fresh fork; what it persists is flushed before COMMIT. A
 * connection lost during COMMIT gives a `CommitOutcomeUnknownError` (these writes have no witness
 * row to settle it by).
 */
export function stateTransaction<T>(ledger: Ledger, work: (em: LedgerEm) => Promise<T>): Promise<T> {
  return ledger.unitOfWork(work);
}

/** Reads on a fresh fork, outside any transaction; one whose connection ended runs again. */
export function stateRead<T>(ledger: Ledger, work: (em: LedgerEm) => Promise<T>): Promise<T> {
  return ledger.readEntities(work);
}
