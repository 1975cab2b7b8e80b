/**
 * Operator actions on one job: cancel and retry. Each is an explicit request, so a state that does
 * not allow it raises `IllegalTransitionError` instead of being dropped quietly. Each records who
 * and why in its event.
 */
import { IllegalTransitionError, NotFoundError } from '../../errors.js';
import type { JobRow } from '../entities/index.js';
import { appendEvents, jobEvent } from './events.js';
import { canTransition, jobFrom, jobStatusSql, jobTransitions, type EventType, type JobStatus } from '../lifecycle.js';
import { endPipelineOfJob } from '../pipelines/pipeline-writes.js';
import { toJobRow } from './job-rows.js';
import type { Sql } from '../engine/sql.js';

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
  const result = await applyOperatorTransition(tx, request, 'cancel', {
    set: 'status_reason = ?, finished_at = ?',
    params: [request.reason, request.now],
    event: 'job.cancelled',
    payload: (job) => ({ reason: request.reason, previousStatus: job.status, runningAttempt: job.status === 'running' ? job.currentAttempt : null }),
  });
  // A cancelled stage job ends its pipeline (failed, state `cancelled`) in the same transaction.
  await endPipelineOfJob(tx, result.job, { outcome: 'cancelled', reason: request.reason, actor: request.actor, now: request.now });
  return result;
}

/**
 * Gives a failed or cancelled job a new life with a fresh retry budget: it goes back to the outbox
 * (`pending`) and its next attempt gets the next number. Nothing of its history is overwritten.
 */
export function retryJob(tx: Sql, request: OperatorRequest): Promise<OperatorResult> {
  return applyOperatorTransition(tx, request, 'retry', {
    set: 'status_reason = ?, attempts_failed = 0, dispatched_at = NULL, finished_at = NULL, run_at = ?',
    params: [request.reason, request.now],
    event: 'job.retried',
    payload: (job) => ({ reason: request.reason, previousStatus: job.status, nextAttempt: job.attemptsStarted + 1 }),
  });
}

/**
 * One operator transition: refused unless the table allows it from the job's status, then one
 * update fenced on the table's sources and on the version read (a concurrent change refuses it
 * too), and its event at the new version.
 */
async function applyOperatorTransition(
  tx: Sql,
  request: OperatorRequest,
  transition: 'cancel' | 'retry',
  change: { set: string; params: unknown[]; event: EventType; payload: (job: JobRow) => unknown },
): Promise<OperatorResult> {
  const job = await readJob(tx, request.jobId);
  if (!canTransition(job.status, transition)) throw new IllegalTransitionError(job.id, job.status, transition);
  const [updated] = await tx.all(
    `UPDATE jobs SET status = ${jobStatusSql(jobTransitions[transition].to)}, ${change.set}, updated_at = ?, version = version + 1
     WHERE id = ? AND version = ? AND ${jobFrom(transition)} RETURNING *`,
    [...change.params, request.now, job.id, job.version],
  );
  if (!updated) throw new IllegalTransitionError(job.id, 'changing concurrently', transition);
  const after = toJobRow(tx.dialect, updated);
  await appendEvents(tx, [jobEvent(job.id, after.version, change.event, change.payload(job), request.now, request.actor)]);
  return { job: after, previousStatus: job.status };
}

async function readJob(tx: Sql, jobId: string): Promise<JobRow> {
  const [raw] = await tx.all('SELECT * FROM jobs WHERE id = ?', [jobId]);
  if (!raw) throw new NotFoundError('job', jobId);
  return toJobRow(tx.dialect, raw);
}
