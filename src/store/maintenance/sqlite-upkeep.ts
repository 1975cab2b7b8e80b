/**
 * SQLite housekeeping: `PRAGMA wal_checkpoint(TRUNCATE)` copies the write-ahead log back into the
 * database and truncates it (in WAL mode the log otherwise only grows while readers keep it busy),
 * and `PRAGMA optimize` refreshes the planner's statistics where SQLite thinks they are stale.
 * PostgreSQL does both by itself (autovacuum), so there it is a no-op that reports no counts.
 *
 * Both pragmas run outside a transaction: a checkpoint cannot complete inside one.
 */
import type { Ledger } from '../ledger.js';
import { retryTransient } from '../engine/retry-transient.js';
import { toNumber } from '../engine/sql.js';

export interface SqliteUpkeepCounts {
  [count: string]: number;
}

export async function sqliteUpkeep(ledger: Ledger): Promise<SqliteUpkeepCounts> {
  if (ledger.dialect !== 'sqlite') return {};
  return ledger.read(async (sql) => {
    // Each returns one row: busy (1 if a reader or writer kept it from finishing), log (frames in the
    // WAL), checkpointed (frames copied back); -1 when the database is not in WAL mode (":memory:").
    // TRUNCATE reports the log after truncating it (0), so a PASSIVE pass first tells the sizes.
    const [passive] = await sql.all('PRAGMA wal_checkpoint(PASSIVE)');
    const [truncate] = await sql.all('PRAGMA wal_checkpoint(TRUNCATE)');
    // `optimize` may run ANALYZE, a write: it meets the write lock like any writer and is retried
    // while the database is busy, as a transaction is (retry-transient.ts).
    await retryTransient(() => sql.run('PRAGMA optimize'));
    return {
      walFrames: toNumber(passive?.log ?? 0),
      walFramesCheckpointed: toNumber(passive?.checkpointed ?? 0),
      walBusy: toNumber(truncate?.busy ?? 0),
      optimized: 1,
    };
  });
}
