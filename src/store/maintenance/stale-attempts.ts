/**
 * The ledger side of recovering attempts whose heartbeat died (the reconcile task's first step; the
 * Redis side is in workers/maintenance/reconcile.ts). A running attempt's `heartbeat_at` is written
 * each time BullMQ renews the job's lock; one that has not moved for longer than the lock (plus a
 * margin) belongs to a worker that is gone or cut off.
 *
 * Ages are measured against the DATABASE's clock, not the reconciling process's: the reconciler may
 * run on any host, and hosts' clocks drift. The heartbeats, an attempt's first one at its start
 * included, are stamped with the same clock (attempt-signals.ts, attempt-writes.ts), so a worker's
 * clock does not make its attempts look older or younger than they are.
 */
import type { DatabaseDialect } from '../../config.js';
import type { JobRow } from '../entities/index.js';
import { appendEvents, appendStandaloneJobEvent, jobEvent } from '../jobs/events.js';
import type { Ledger } from '../ledger.js';
import { attemptFrom, attemptStatusSql, attemptTransitions, jobFrom, jobStatusSql, jobTransitions } from '../lifecycle.js';
import { toJobRow } from '../jobs/job-rows.js';
import { databaseNowSql } from '../engine/database-clock.js';
import { notIndexed, toNumber } from '../engine/sql.js';

export interface StaleAttempt {
  attemptId: string;
  jobId: string;
  number: number;
  queue: string;
  workerId: string;
  heartbeatAt: number;
  /** The job is `running` with this attempt as its current one (else it moved on without it: cancelled, say). */
  current: boolean;
}

export type StaleRecovery =
  /** The attempt is now `stalled` and the job `queued`: it must be in Redis to run again. */
  | { kind: 'requeued'; job: JobRow }
  /** The attempt is now `stalled`; the job had already moved on, so only the attempt changed. */
  | { kind: 'marked' }
  /** It heartbeat or finished meanwhile: nothing changed. */
  | { kind: 'skipped' };

/** The database's current time in epoch milliseconds. */
export async function databaseNow(ledger: Ledger): Promise<number> {
  const [row] = await ledger.read((sql) => sql.all(`SELECT ${databaseNowSql(sql.dialect)} AS now_ms`));
  return toNumber(row?.now_ms);
}

/**
 * Running attempts whose heartbeat is older than the first parameter, one page after the id given as
 * the second. The page boundary is kept off the primary key so that the planner takes the index of
 * running attempts (few) rather than walking every attempt after it in id order, which is SQLite's
 * choice without statistics (a test checks the plan).
 */
export function staleAttemptsQuery(dialect: DatabaseDialect): string {
  return `SELECT a.id, a.job_id, a.number, a.worker_id, a.heartbeat_at, j.queue, j.status AS job_status, j.current_attempt
     FROM attempts a JOIN jobs j ON j.id = a.job_id
     WHERE ${attemptFrom('stall', 'a.status')} AND a.heartbeat_at < ? AND ${notIndexed(dialect, 'a.id')} > ?
     ORDER BY a.id LIMIT ?`;
}

/** Running attempts whose heartbeat is older than `staleBefore` (database time), in id order after `afterId`. */
export async function findStaleAttempts(
  ledger: Ledger,
  input: { staleBefore: number; afterId: string; limit: number },
): Promise<StaleAttempt[]> {
  const rows = await ledger.read((sql) => sql.all(staleAttemptsQuery(sql.dialect), [input.staleBefore, input.afterId, input.limit]));
  return rows.map((r) => ({
    attemptId: r.id as string,
    jobId: r.job_id as string,
    number: toNumber(r.number),
    queue: r.queue as string,
    workerId: r.worker_id as string,
    heartbeatAt: toNumber(r.heartbeat_at),
    current: r.job_status === jobTransitions.loseAttempt.from[0] && toNumber(r.current_attempt) === toNumber(r.number),
  }));
}


/**
 * Records a dead attempt as `stalled` and, if it was its job's current attempt, puts the job back
 * to `queued`, with a `job.stalled` event, in one transaction. Fenced: an attempt that heartbeat or
 * finished since it was found (or a job that moved on) is left alone.
 */
export async function recoverStaleAttempt(
  ledger: Ledger,
  attempt: StaleAttempt,
  input: { staleBefore: number; now: number },
): Promise<StaleRecovery> {
  return ledger.transaction(async (tx) => {
    const marked = await tx.run(
      `UPDATE attempts SET status = ${attemptStatusSql(attemptTransitions.stall.to)}, finished_at = ?, duration_ms = ? - started_at
       WHERE id = ? AND ${attemptFrom('stall')} AND heartbeat_at < ?`,
      [input.now, input.now, attempt.attemptId, input.staleBefore],
    );
    if (marked === 0) return { kind: 'skipped' } as const;
    const reason = `attempt ${attempt.number} lost: no heartbeat from ${attempt.workerId} since ${new Date(attempt.heartbeatAt).toISOString()}`;
    const [requeued] = await tx.all(
      `UPDATE jobs SET status = ${jobStatusSql(jobTransitions.loseAttempt.to)}, status_reason = ?, updated_at = ?, version = version + 1
       WHERE id = ? AND current_attempt = ? AND ${jobFrom('loseAttempt')} RETURNING *`,
      [reason, input.now, attempt.jobId, attempt.number],
    );
    // The attempt's loss is an event of its job either way; a job that moved on still gets one.
    const payload = { attempt: attempt.number, detectedBy: 'reconciler', heartbeatAt: attempt.heartbeatAt, databaseNow: input.now };
    if (requeued) await appendEvents(tx, [jobEvent(attempt.jobId, toNumber(requeued.version), 'job.stalled', payload, input.now)]);
    else await appendStandaloneJobEvent(tx, attempt.jobId, 'job.stalled', payload, input.now);
    return requeued ? ({ kind: 'requeued', job: toJobRow(tx.dialect, requeued) } as const) : ({ kind: 'marked' } as const);
  });
}
