/** Read-only checks for `jobledger doctor` and health endpoints. */
import { toNumber, type Sql } from './sql.js';

/** Jobs committed at least `olderThanMs` ago and still not handed to Redis. */
export async function countUndispatched(sql: Sql, now: number, olderThanMs: number): Promise<number> {
  const [row] = await sql.all(`SELECT COUNT(*) AS n FROM jobs WHERE status = 'pending' AND dispatched_at IS NULL AND updated_at <= ?`, [
    now - olderThanMs,
  ]);
  return toNumber(row?.n ?? 0);
}

/** Attempts still `running` whose last heartbeat is older than the lock: their worker is likely gone. */
export async function countAttemptsPastLock(sql: Sql, now: number, lockDurationMs: number): Promise<number> {
  const [row] = await sql.all(`SELECT COUNT(*) AS n FROM attempts WHERE status = 'running' AND heartbeat_at < ?`, [now - lockDurationMs]);
  return toNumber(row?.n ?? 0);
}
