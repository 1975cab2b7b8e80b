/** Read-only checks for `jobledger doctor` and health endpoints. */
import { databaseNowSql } from './engine/database-clock.js';
import { toNumber, type Sql } from './engine/sql.js';
import { attemptFrom, jobFrom } from './lifecycle.js';

export type ProbeResult = { ok: true } | { ok: false; error: string };

/** Runs `probe` (a trivial query), failing it after `timeoutMs`; never throws. */
export async function probeWithin(probe: () => Promise<void>, timeoutMs: number): Promise<ProbeResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    await Promise.race([probe(), timeout]);
    return { ok: true };
  } catch (error) {
    const e = error as { code?: unknown; message?: unknown } | null;
    const message = typeof e?.message === 'string' ? e.message.split('\n')[0]! : String(error);
    return { ok: false, error: typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code} ${message}` : message };
  } finally {
    clearTimeout(timer);
  }
}

/** Jobs committed at least `olderThanMs` ago and still not handed to Redis. */
export async function countUndispatched(sql: Sql, now: number, olderThanMs: number): Promise<number> {
  const [row] = await sql.all(`SELECT COUNT(*) AS n FROM jobs WHERE ${jobFrom('dispatch')} AND dispatched_at IS NULL AND updated_at <= ?`, [
    now - olderThanMs,
  ]);
  return toNumber(row?.n ?? 0);
}

/**
 * Attempts still `running` whose last heartbeat is older than the lock, by the database's clock (the
 * one heartbeats are stamped with): their worker is likely gone.
 */
export async function countAttemptsPastLock(sql: Sql, lockDurationMs: number): Promise<number> {
  const [row] = await sql.all(`SELECT COUNT(*) AS n FROM attempts WHERE ${attemptFrom('stall')} AND heartbeat_at < ${databaseNowSql(sql.dialect)} - ?`, [
    lockDurationMs,
  ]);
  return toNumber(row?.n ?? 0);
}
