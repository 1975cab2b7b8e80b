/**
 * SQLite: takes the database's write lock at the start of a transaction, as `BEGIN IMMEDIATE` does.
 *
 * MikroORM (through knex) opens SQLite transactions with a plain, deferred `BEGIN`, which takes the
 * write lock only at the first write. A transaction that reads and then writes fails at that write,
 * at once and without waiting, with `SQLITE_BUSY_SNAPSHOT` when another connection committed since
 * its read (SQLite cannot move a reader's snapshot forward). A write statement that changes no row
 * takes the lock first (waiting up to the connection's busy timeout, then `SQLITE_BUSY`, which the
 * caller retries with the whole transaction: retry-transient.ts), and every read after it sees the
 * latest commit. The ledger's own hot path opens its transactions with `BEGIN IMMEDIATE` (sqlite/executor.ts).
 *
 * PostgreSQL: nothing to do; rows are locked as they are written, and a keyed insert waits for the
 * transaction holding its key (job-writes.ts).
 */
import type { Sql } from '../sql.js';

export async function takeWriteLock(sql: Sql): Promise<void> {
  if (sql.dialect === 'sqlite') await sql.run('UPDATE jobs SET version = version WHERE 0');
}
