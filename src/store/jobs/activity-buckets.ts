/**
 * Job activity over time, for the console's charts: per time bucket, the attempts that completed
 * their job (`job.completed`), the attempts that failed (`job.attempt_failed`) and the retries
 * (`job.retry_scheduled`, and operator retries `job.retried`), counted from the event log. The events
 * are written in the transaction of each outcome, at its time, and `events_created_at_index` bounds
 * the scan to the window asked for: no index on `attempts.finished_at` is needed (one would cost every
 * attempt's finish an index write on the hot path). Callers keep what they read of buckets that
 * have closed (activity-cache in the console), so each closed bucket is read once.
 */
import { toNumber, type Sql } from '../engine/sql.js';

export interface ActivityBucket {
  /** The bucket's start (epoch ms, a multiple of the bucket size). */
  at: number;
  completed: number;
  failed: number;
  retried: number;
}

const seriesOfType: Record<string, Exclude<keyof ActivityBucket, 'at'>> = {
  'job.completed': 'completed',
  'job.attempt_failed': 'failed',
  'job.retry_scheduled': 'retried',
  'job.retried': 'retried',
};

/** Buckets of `bucketMs` from `from` (inclusive, rounded down to a bucket) until `until` (exclusive), every bucket listed, oldest first. */
export async function countActivity(sql: Sql, window: { from: number; until: number; bucketMs: number }): Promise<ActivityBucket[]> {
  const { bucketMs } = window;
  if (!Number.isSafeInteger(bucketMs) || bucketMs < 1000) throw new RangeError(`bucketMs: expected a whole number of ms >= 1000, got ${bucketMs}`);
  const from = Math.floor(window.from / bucketMs) * bucketMs;
  const buckets = new Map<number, ActivityBucket>();
  for (let at = from; at < window.until; at += bucketMs) buckets.set(at, { at, completed: 0, failed: 0, retried: 0 });
  if (!buckets.size) return [];
  const types = Object.keys(seriesOfType);
  // The bucket size is a checked integer written into the statement: a bound parameter would leave
  // PostgreSQL to guess its type for the division.
  const rows = await sql.all(
    `SELECT (created_at / ${bucketMs}) AS bucket, type, COUNT(*) AS n FROM events
     WHERE created_at >= ? AND created_at < ? AND type IN (${types.map(() => '?').join(', ')})
     GROUP BY (created_at / ${bucketMs}), type`,
    [from, window.until, ...types],
  );
  for (const row of rows) {
    const bucket = buckets.get(toNumber(row.bucket) * bucketMs);
    const series = seriesOfType[String(row.type)];
    if (bucket && series) bucket[series] += toNumber(row.n);
  }
  return [...buckets.values()];
}
