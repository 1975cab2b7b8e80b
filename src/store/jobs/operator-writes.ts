/**
 * Operator actions on one job: cancel and retry. Each is an explicit request, so a state that does
 * not allow it raises `IllegalTransitionError` instead of being dropped quietly. Each records who
 * and why in its event.
 */
import { IllegalTransitionError, NotFoundError } from '../../errors.js';
import type { JobRow } from '../entities/index.js';
import { appendEvents } from './events.js';
import { canTransition, jobFrom, jobStatusSql, jobTransitions, type JobStatus } from '../lifecycle.js';
import { endPipelineOfJob } from '../pipelines/pipeline-writes.js';
import { toJobRow } from './job-rows.js';
import { toNumber, type Sql } from '../engine/sql.js';

export interface OperatorRequest {
  jobId: string;
  actor: string;
  reason: string;
  now: number;
}

export interface OperatorResult {
  job: JobRow;
  previousStatus: JobStatus;
}

export async function cancelJob(tx: Sql, request: OperatorRequest): Promise<OperatorResult> {
  const job = await readJob(tx, request.jobId);
  if (!canTransition(job.status, 'cancel')) throw new IllegalTransitionError(job.id, job.status, 'cancel');
  const [updated] = await tx.all(
    `UPDATE jobs SET status = ${jobStatusSql(jobTransitions.cancel.to)}, status_reason = ?, finished_at = ?, updated_at = ?, version = version + 1
     WHERE id = ? AND version = ? AND ${jobFrom('cancel')} RETURNING *`,
    [request.reason, request.now, request.now, job.id, job.version],
  );
  if (!updated) throw new IllegalTransitionError(job.id, 'changing concurrently', 'cancel');
  const after = toJobRow(tx.dialect, updated);
  await appendEvents(tx, [
    {
      subjectType: 'job',
      subjectId: job.id,
      seq: after.version,
      type: 'job.cancelled',
      payload: { reason: request.reason, previousStatus: job.status, runningAttempt: job.status === 'running' ? job.currentAttempt : null },
      actor: request.actor,
      createdAt: request.now,
    },
  ]);
  // A cancelled stage job ends its pipeline (failed, state `cancelled`) in the same transaction.
  await endPipelineOfJob(tx, after, { outcome: 'cancelled', reason: request.reason, actor: request.actor, now: request.now });
  return { job: after, previousStatus: job.status };
}

/**
 * Gives a failed or cancelled job a new life with a fresh retry budget: it goes back to the outbox
 * (`pending`) and its next attempt gets the next number. Nothing of its history is overwritten.
 */
export async function retryJob(tx: Sql, request: OperatorRequest): Promise<OperatorResult> {
  const job = await readJob(tx, request.jobId);
  if (!canTransition(job.status, 'retry')) throw new IllegalTransitionError(job.id, job.status, 'retry');
  const [updated] = await tx.all(
    `UPDATE jobs SET status = ${jobStatusSql(jobTransitions.retry.to)}, status_reason = ?, attempts_failed = 0, dispatched_at = NULL,
       finished_at = NULL, run_at = ?, updated_at = ?, version = version + 1
     WHERE id = ? AND version = ? AND ${jobFrom('retry')} RETURNING *`,
    [request.reason, request.now, request.now, job.id, job.version],
  );
  if (!updated) throw new IllegalTransitionError(job.id, 'changing concurrently', 'retry');
  const after = toJobRow(tx.dialect, updated);
  await appendEvents(tx, [
    {
      subjectType: 'job',
      subjectId: job.id,
      seq: toNumber(after.version),
      type: 'job.retried',
      payload: { reason: request.reason, previousStatus: job.status, nextAttempt: job.attemptsStarted + 1 },
      actor: request.actor,
      createdAt: request.now,
    },
  ]);
  return { job: after, previousStatus: job.status };
}

async function readJob(tx: Sql, jobId: string): Promise<JobRow> {
  const [raw] = await tx.all('SELECT * FROM jobs WHERE id = ?', [jobId]);
  if (!raw) throw new NotFoundError('job', jobId);
  return toJobRow(tx.dialect, raw);
}
