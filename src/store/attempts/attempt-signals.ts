/**
 * What reaches the ledger about a running attempt from outside its outcome: progress reported by
 * the handler, heartbeats piggy-backed on BullMQ's lock renewal, and BullMQ giving up on a job that
 * stalled too often (no processor will ever report on it).
 */
import type { AttemptRef } from './attempt-writes.js';
import { appendEvents, jobEvent, type NewEvent } from '../jobs/events.js';
import { attemptFrom, attemptStatusSql, attemptTransitions, jobFrom, jobStatusSql, jobTransitions } from '../lifecycle.js';
import { endPipelineOfJob } from '../pipelines/pipeline-writes.js';
import { toJobRow } from '../jobs/job-rows.js';
import { databaseNowSql } from '../engine/database-clock.js';
import { encodeJson, placeholders, toNumber, type Sql } from '../engine/sql.js';
/**
 * Writes an attempt's latest progress onto the job, fenced on the attempt; with `event`, also a
 * `job.progress` event (the caller rate-limits those).
 */
export async function recordProgress(
  tx: Sql,
  ref: AttemptRef,
  progress: unknown,
  now: number,
  event: boolean,
): Promise<boolean> {
  const [updated] = await tx.all(
    `UPDATE jobs SET progress = ?, updated_at = ?, version = version + ?
     WHERE id = ? AND ${jobFrom('complete')} AND current_attempt = ? RETURNING version`,
    [encodeJson(progress), now, event ? 1 : 0, ref.jobId, ref.number],
  );
  if (!updated) return false;
  if (event) {
    await appendEvents(tx, [jobEvent(ref.jobId, toNumber(updated.version), 'job.progress', { attempt: ref.number, progress }, now)]);
  }
  return true;
}

/**
 * Heartbeats of running attempts, piggy-backed on BullMQ's lock renewal: each stamps its attempt
 * (by id, never another attempt of the same job) with the database's clock, the one the stale
 * check reads (maintenance/stale-attempts.ts). An attempt no longer running is left as it ended.
 */
export async function recordHeartbeats(sql: Sql, attemptIds: readonly string[]): Promise<void> {
  if (attemptIds.length === 0) return;
  await sql.run(
    `UPDATE attempts SET heartbeat_at = ${databaseNowSql(sql.dialect)}
     WHERE id IN (${placeholders(attemptIds.length)}) AND ${attemptFrom('stall')}`,
    attemptIds,
  );
}

/**
 * BullMQ failed a job on its own (it stalled more often than allowed), or the poison guard did (it
 * was lost too often in a row), so no processor will report on it: its running attempts are
 * recorded as stalled and the job as failed. With `deliveredAt` (the guard's delivery), nothing
 * changes if the job's running attempt began after that delivery was fetched: the delivery is stale,
 * and that attempt is alive, not lost.
 */
export async function failStalledJob(tx: Sql, jobId: string, reason: string, now: number, deliveredAt?: number): Promise<boolean> {
  // Locked on PostgreSQL until the commit (SQLite's write transaction holds the whole file): a
  // worker recording the same attempt lost at the same moment waits, and this read sees its commit.
  // Unlocked, its version bump made the fenced update below miss, and the poison guard that asked
  // started the job once more instead of failing it.
  const [raw] = await tx.all(`SELECT * FROM jobs WHERE id = ?${tx.dialect === 'postgresql' ? ' FOR UPDATE' : ''}`, [jobId]);
  if (!raw) return false;
  const job = toJobRow(tx.dialect, raw);
  const sources = jobTransitions.failStalled.from as readonly string[];
  if (!sources.includes(job.status)) return false;
  if (job.status === 'running' && deliveredAt !== undefined) {
    const [current] = await tx.all('SELECT started_at FROM attempts WHERE job_id = ? AND number = ?', [jobId, job.currentAttempt]);
    if (current && toNumber(current.started_at) > deliveredAt) return false;
  }
  const stalled = (
    await tx.all(
      `UPDATE attempts SET status = ${attemptStatusSql(attemptTransitions.stall.to)}, finished_at = ?, duration_ms = ? - started_at
       WHERE job_id = ? AND ${attemptFrom('stall')} RETURNING number`,
      [now, now, jobId],
    )
  ).map((r) => toNumber(r.number));
  const error = { name: 'StalledJobError', message: reason };
  const [updated] = await tx.all(
    `UPDATE jobs SET status = ${jobStatusSql(jobTransitions.failStalled.to)}, status_reason = ?, last_error = ?, finished_at = ?,
       updated_at = ?, version = version + ?
     WHERE id = ? AND version = ? AND ${jobFrom('failStalled')} RETURNING version`,
    [reason, encodeJson(error), now, now, stalled.length + 1, jobId, job.version],
  );
  // The row is locked and its status checked: a miss here is a bug, and the attempts updated above
  // must not stay stalled beside a job that is not failed.
  if (!updated) throw new Error(`job ${jobId} changed while it was locked to be failed as stalled`);
  const events: NewEvent[] = stalled.map((attempt, i) => ({
    subjectType: 'job',
    subjectId: jobId,
    seq: job.version + 1 + i,
    type: 'job.stalled',
    payload: { attempt },
    actor: 'system',
    createdAt: now,
  }));
  events.push({
    subjectType: 'job',
    subjectId: jobId,
    seq: toNumber(updated.version),
    type: 'job.failed',
    payload: { reason },
    actor: 'system',
    createdAt: now,
  });
  await appendEvents(tx, events);
  // No outcome hook sees this failure: a stage job's pipeline ends failed with it.
  await endPipelineOfJob(tx, job, { outcome: 'failed', reason, actor: 'system', now });
  return true;
}

/** `failStalledJob` for each request, in order, in the caller's transaction: one result each. */
export async function failStalledJobs(
  tx: Sql,
  requests: readonly { jobId: string; reason: string; now: number; deliveredAt?: number }[],
): Promise<boolean[]> {
  const results: boolean[] = [];
  for (const r of requests) results.push(await failStalledJob(tx, r.jobId, r.reason, r.now, r.deliveredAt));
  return results;
}
