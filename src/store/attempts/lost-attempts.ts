/**
 * Lost attempts: attempts that ended without an applied outcome because their worker died, froze or
 * lost the job. In the ledger that is an attempt
 *   - `stalled`: the next attempt, the reconciler or the worker itself recorded it lost, or
 *   - `superseded`: it was lost, and its outcome came back after another attempt took over (the
 *     outcome is kept in the `job.superseded` event, never applied), or
 *   - still `running` while the job is being delivered again (it is about to be recorded stalled).
 * A late outcome does not make the loss any less a loss: a job that freezes its process on every
 * run comes back late every time, and counting only `stalled` let it reset its own count.
 *
 * A job whose latest attempts were all lost is likely killing or freezing its process: the worker
 * runtime fails it instead of starting it again (workers/poison-guard.ts), which also decides whose
 * fault a loss was (a suspect runs alone).
 */
import type { AttemptRef, RecordedOutcome } from './attempt-writes.js';
import { recordLateOutcome } from './outcome-writes.js';
import { appendEvents, jobEvent } from '../jobs/events.js';
import type { Ledger } from '../ledger.js';
import { attemptFrom, attemptStatusSql, attemptTransitions, jobFrom, jobStatusSql, jobTransitions } from '../lifecycle.js';
import type { Outcome } from './outcome.js';
import { decodeJson, toNumber, type Sql } from '../engine/sql.js';

/** Attempt statuses that count as lost (see above). */
export const lostAttemptStatuses: readonly string[] = ['stalled', 'superseded', 'running'];

/**
 * How many of the job's most recent attempts, since its last operator retry (a new life starts
 * with a fresh budget), were lost in a row. Looks at `lookBack` attempts at most. `deliveredAt` is
 * when the delivery asking was fetched: a `running` attempt that began after it is not lost, the
 * delivery is stale (its process froze between its fetch and now), and the count stops there.
 */
export async function countLostAttemptsInARow(ledger: Ledger, jobId: string, lookBack: number, deliveredAt?: number): Promise<number> {
  return ledger.read(async (sql) => {
    const attempts = await sql.all('SELECT number, status, started_at FROM attempts WHERE job_id = ? ORDER BY number DESC LIMIT ?', [jobId, lookBack]);
    if (attempts.length === 0) return 0;
    const [retried] = await sql.all(
      `SELECT payload FROM events WHERE subject_type = 'job' AND subject_id = ? AND type = 'job.retried' ORDER BY seq DESC LIMIT 1`,
      [jobId],
    );
    const lifeStart = retried ? toNumber((decodeJson(sql.dialect, retried.payload) as { nextAttempt?: number } | null)?.nextAttempt ?? 0) : 0;
    let lost = 0;
    for (const attempt of attempts) {
      if (toNumber(attempt.number) < lifeStart) break;
      if (!lostAttemptStatuses.includes(attempt.status as string)) break;
      if (attempt.status === 'running' && deliveredAt !== undefined && toNumber(attempt.started_at) > deliveredAt) break;
      lost++;
    }
    return lost;
  });
}

/** An attempt its own worker found lost: its lock lapsed while the process was frozen. */
export interface LostAttempt {
  /** Why, in words (the `job.stalled` event and the job's `status_reason` carry it). */
  reason: string;
  /** The worker that found it lost (its own). */
  detectedBy: string;
  /** What the handler's result would have made of the attempt; recorded, never applied. */
  discarded: Outcome;
}

export type RecordedLoss =
  /** The attempt is `stalled` and the job `queued`, waiting for its next delivery. */
  | { kind: 'requeued' }
  /** The job had moved on already (another attempt, a cancel): recorded as a late outcome. */
  | RecordedOutcome;


/**
 * Records an attempt as lost by its own worker: the attempt `stalled`, the job back to `queued`
 * (a lost attempt spends no retry budget) and a `job.stalled` event saying why and what the
 * handler's discarded result was, in one transaction, fenced on the attempt still being the job's
 * current one. If it no longer is, the attempt's result is a late outcome like any other.
 */
export async function recordLostAttempt(tx: Sql, ref: AttemptRef, lost: LostAttempt, now: number): Promise<RecordedLoss> {
  const durationMs = Math.max(0, now - ref.startedAt);
  const [requeued] = await tx.all(
    `UPDATE jobs SET status = ${jobStatusSql(jobTransitions.loseAttempt.to)}, status_reason = ?, updated_at = ?, version = version + 1
     WHERE id = ? AND current_attempt = ? AND ${jobFrom('loseAttempt')} RETURNING version`,
    [`attempt ${ref.number} lost: ${lost.reason}`, now, ref.jobId, ref.number],
  );
  if (!requeued) return recordLateOutcome(tx, ref, lost.discarded, now, durationMs);
  await tx.run(`UPDATE attempts SET status = ${attemptStatusSql(attemptTransitions.stall.to)}, finished_at = ?, duration_ms = ? WHERE id = ? AND ${attemptFrom('stall')}`, [
    now,
    durationMs,
    ref.attemptId,
  ]);
  const payload = { attempt: ref.number, detectedBy: lost.detectedBy, reason: lost.reason, durationMs, discardedOutcome: lost.discarded.type };
  await appendEvents(tx, [jobEvent(ref.jobId, toNumber(requeued.version), 'job.stalled', payload, now)]);
  return { kind: 'requeued' };
}
