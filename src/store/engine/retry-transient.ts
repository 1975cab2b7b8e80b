/**
 * Transactions that lost a race for a lock are retried as a whole, with jittered backoff.
 *
 * - SQLite allows one writer at a time. better-sqlite3 waits for a lock synchronously, which blocks
 *   the event loop (and with it BullMQ's lock renewal), so the connection's busy_timeout is kept
 *   short and a transaction that still finds the database locked is retried here, without blocking.
 * - PostgreSQL aborts one side of a deadlock (40P01) or of a serialization conflict (40001). Two
 *   processes writing overlapping job rows in different orders (a relay marking jobs dispatched
 *   while another worker's batch begins them) can meet that way; the aborted transaction wrote
 *   nothing, so running it again is safe and is what PostgreSQL's documentation asks of clients.
 *
 * - A connection that failed or ended before anything committed (`DatabaseUnavailableError`, see
 *   connection-loss.ts: a PostgreSQL restart, a terminated backend) wrote nothing either; it is
 *   retried on a fresh connection for up to `databaseRetryMs`, so a restart is waited out.
 *
 * Every caller passes a `work` that can run again from the start (it only writes through the
 * transaction it is given).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultDatabaseRetryMs, isRetryableLoss, reconnectDelayMs } from './connection-loss.js';
import { driverErrorOf } from './database-errors.js';

const maxTries = 40;

/** SQLSTATE codes after which PostgreSQL has rolled the transaction back and a retry may succeed. */
const postgresRetryableCodes = new Set(['40P01', '40001']);

export function isTransientError(error: unknown): boolean {
  const e = driverErrorOf(error) as { name?: string; code?: string; message?: string } | null;
  return (
    e?.name === 'LockWaitTimeoutException' ||
    e?.name === 'DeadlockException' ||
    e?.code === 'SQLITE_BUSY' ||
    e?.code === 'SQLITE_LOCKED' ||
    (typeof e?.code === 'string' && postgresRetryableCodes.has(e.code)) ||
    (typeof e?.message === 'string' && e.message.includes('database is locked'))
  );
}

export async function retryTransient<T>(work: () => Promise<T>, options: { databaseRetryMs?: number } = {}): Promise<T> {
  const startedAt = Date.now();
  const databaseRetryMs = options.databaseRetryMs ?? defaultDatabaseRetryMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (isRetryableLoss(error) && Date.now() - startedAt < databaseRetryMs) {
        await sleep(reconnectDelayMs(attempt));
        continue;
      }
      if (!isTransientError(error) || attempt >= maxTries) throw error;
      const ceiling = Math.min(200, 5 * 2 ** Math.min(attempt, 6));
      await sleep(ceiling / 2 + Math.random() * (ceiling / 2));
    }
  }
}
