/**
 * What someone did to a jobledger job in Redis, from Bull Board or any BullMQ client, and how a
 * delivery honours it instead of silently undoing it (docs/bull-board.md):
 *
 * - A retry of a job the ledger holds `failed` or `cancelled` (Bull Board's "retry", `Job.retry`,
 *   `Queue.retryJobs`) is an operator's retry: recorded in the ledger with actor `redis` (a fresh
 *   retry budget, a `job.retried` event), and the delivery runs its next attempt.
 * - A retry of a job the ledger holds `completed` (Bull Board retries completed jobs too) is refused:
 *   nothing runs, BullMQ completes the job again with the ledger's result, and `job.retry_refused`
 *   (actor `redis`) records that Redis asked.
 * - A delayed job delivered before its run time (Bull Board's "promote", `Job.promote`) is recorded
 *   as `job.promoted`, with its `run_at` moved to the delivery.
 * - Any other delivery of a finished job (at-least-once delivery brings them back) runs nothing, and
 *   BullMQ is told the ledger's own outcome: its result, or its failure reason.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { IllegalTransitionError } from '../errors.js';
import type { Logger } from '../logger.js';
import { redisActor, type JobRow, type Ledger, type StartedJob, type AttemptRef } from '../store/index.js';

/** The reason an operator retry from Redis records. */
export const redisRetryReason = 'retried from Redis (Bull Board)';

/**
 * A delivery this much before the ledger's run time was promoted in Redis. BullMQ never delivers a
 * delayed job early by itself; the margin absorbs clocks of producer and worker hosts that differ.
 */
export const promotedEarlyMs = 1000;

/**
 * True if Redis moved this job back to wait from BullMQ's failed set (`Job.retry`,
 * `Queue.retryJobs`). Both delete the job's `failedReason` and keep the stack traces of its
 * failures; every other way back to wait (a stalled delivery, a delayed retry, a hand-back) keeps
 * `failedReason` once a failure was recorded. So: failed before, and no failure reason now. Read
 * from the delivered job itself: no Redis read.
 */
export function retriedInRedis(bullJob: Pick<Job, 'failedReason' | 'stacktrace'>): boolean {
  return !bullJob.failedReason && Array.isArray(bullJob.stacktrace) && bullJob.stacktrace.length > 0;
}

/**
 * True if this delivery of a job the ledger completed was asked for in Redis (`Job.retry('completed')`,
 * Bull Board's retry of a completed job, or a job added again under its id) rather than brought
 * back by at-least-once delivery. BullMQ brings a job back on its own only through its stalled check
 * (a worker that died or lost its lock after the ledger's commit), which counts each such return in
 * the job's `stalledCounter`; a job that never stalled and comes again was sent again. A job that
 * stalled once before it completed cannot be told apart this way: its retry is not recorded.
 */
export function completedJobSentAgain(bullJob: Pick<Job, 'stalledCounter'>): boolean {
  return !(bullJob.stalledCounter > 0);
}

/** The reason a refused retry of a completed job records. */
export const completedRetryRefusal = 'the job completed in the ledger and does not run again; replay it (jobledger replay) to run its payload as a new job';

export interface RedisActionDeps {
  ledger: Ledger;
  logger: Logger;
}

/**
 * A delivery of a job the ledger holds final, retried in Redis: the operator retry, with actor
 * `redis`. True if the ledger took it (the caller then begins the attempt on this delivery); false
 * if it was no retry, or the ledger refused it (`job.retry_refused` records why).
 */
export async function acceptRetryFromRedis(deps: RedisActionDeps, bullJob: Job, job: JobRow): Promise<boolean> {
  if (job.status === 'completed') {
    if (completedJobSentAgain(bullJob)) await refuseRedisRetry(deps, job, completedRetryRefusal);
    return false;
  }
  if (!retriedInRedis(bullJob)) return false;
  try {
    await deps.ledger.retryJob({ jobId: job.id, actor: redisActor, reason: redisRetryReason, now: Date.now() });
    deps.logger.info({ jobId: job.id, previousStatus: job.status }, 'a job retried in Redis (Bull Board) is retried in the ledger');
    return true;
  } catch (error) {
    if (!(error instanceof IllegalTransitionError)) throw error;
    await refuseRedisRetry(deps, job, error.message);
    return false;
  }
}

/** Records a retry from Redis that runs nothing (`job.retry_refused`, actor `redis`, with `reason`). */
async function refuseRedisRetry(deps: RedisActionDeps, job: JobRow, reason: string): Promise<void> {
  deps.logger.warn({ jobId: job.id, status: job.status, reason }, 'a retry from Redis was refused by the ledger');
  await deps.ledger.recordRefusedRedisRetry({ jobId: job.id, reason, now: Date.now() });
}

/**
 * Tells BullMQ what the ledger holds of a finished job, running nothing: a completed job completes
 * with its stored result (when `result` mirrors it), a failed or cancelled one fails with the
 * ledger's own reason, never with a message that would replace it in Redis.
 */
export function finishFinalDelivery(job: JobRow, result: ((value: unknown) => unknown) | undefined): unknown {
  if (job.status === 'completed') return result ? result(job.result) : null;
  throw new UnrecoverableError(ledgerReason(job));
}

/** What a finished job's failure reason is in the ledger, as BullMQ's `failedReason`. */
export function ledgerReason(job: Pick<JobRow, 'status' | 'statusReason' | 'lastError'>): string {
  const lastError = job.lastError as { message?: unknown } | null;
  const reason = job.statusReason ?? (typeof lastError?.message === 'string' ? lastError.message : undefined);
  if (job.status === 'cancelled') return reason ? `cancelled: ${reason}` : 'cancelled in the ledger';
  return reason ?? `${job.status} in the ledger`;
}

/**
 * True if this delivery of a started job came well before its run time in the ledger: it was
 * promoted in Redis. Plain arithmetic on what the begin returned, so every attempt can ask.
 */
export function deliveredEarly(job: Pick<StartedJob, 'runAt'>, deliveredAt: number): boolean {
  return job.runAt - deliveredAt > promotedEarlyMs;
}

/** Records the promotion (`job.promoted`, actor `redis`); a failure to record it is logged, never fatal. */
export async function recordPromotion(deps: RedisActionDeps, job: Pick<StartedJob, 'id' | 'runAt'>, attempt: AttemptRef, deliveredAt: number): Promise<void> {
  try {
    await deps.ledger.recordPromotedJob({ jobId: job.id, attempt: attempt.number, scheduledFor: job.runAt, deliveredAt, now: Date.now() });
    deps.logger.info({ jobId: job.id, scheduledFor: job.runAt, deliveredAt }, 'a delayed job was promoted in Redis; recorded');
  } catch (error) {
    deps.logger.warn({ err: error, jobId: job.id }, 'could not record a promotion from Redis');
  }
}
