/**
 * Operator actions on one job: cancel and retry. Each is an explicit request, so a state that does
 * not allow it raises `IllegalTransitionError` instead of being dropped quietly. Each records who
 * and why in its event and in one audit row (audit/audit-writes.ts), in the same transaction. Through MikroORM's unit of work on the operation's EntityManager fork
 * (`Ledger.unitOfWork`): a few a second at most, where the ORM's cost does not matter.
 */
import { LockMode } from '../orm/mikro-orm.js';
import { IllegalTransitionError, NotFoundError } from '../../errors.js';
import { EventEntity, JobEntity, type JobRow } from '../entities/index.js';
import { canTransition, jobTransitions, type EventType, type JobStatus } from '../lifecycle.js';
import { endPipelineOfJob } from '../pipelines/pipeline-writes.js';
import { newId } from '../ids.js';
import { plainRow } from '../orm/entity-rows.js';
import { sqlFor } from '../orm/em-sql.js';
import { dialectOf } from '../engine/sql.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { fieldChanges, recordAudit, type AuditContext } from '../audit/audit-writes.js';

export interface OperatorRequest {
  jobId: string;
  actor: string;
  reason: string;
  now: number;
  /** Where the action came from, for its audit row. Default `library`. */
  source?: AuditContext['source'];
  /** The bulk action (its audit row's id) this one is part of, or null. */
  bulkId?: string | null;
}

/** The job fields an operator action may change, shown before and after in its audit row. */
const auditedJobFields = ['status', 'statusReason', 'attemptsFailed', 'dispatchedAt', 'finishedAt', 'runAt'] as const;

export interface OperatorResult {
  job: JobRow;
  previousStatus: JobStatus;
}

export async function cancelJob(em: LedgerEm, request: OperatorRequest): Promise<OperatorResult> {
  const result = await applyOperatorTransition(em, request, 'cancel', 'job.cancel', {
    set: { statusReason: request.reason, finishedAt: request.now },
    event: 'job.cancelled',
    payload: (job) => ({ reason: request.reason, previousStatus: job.status, runningAttempt: job.status === 'running' ? job.currentAttempt : null }),
  });
  // A cancelled stage job ends its pipeline (failed, state `cancelled`) in the same transaction.
  await endPipelineOfJob(sqlFor(em), result.job, { outcome: 'cancelled', reason: request.reason, actor: request.actor, now: request.now });
  return result;
}

/**
 * Gives a failed or cancelled job a new life with a fresh retry budget: it goes back to the outbox
 * (`pending`) and its next attempt gets the next number. Nothing of its history is overwritten.
 */
export function retryJob(em: LedgerEm, request: OperatorRequest): Promise<OperatorResult> {
  return applyOperatorTransition(em, request, 'retry', 'job.retry', {
    set: { statusReason: request.reason, attemptsFailed: 0, dispatchedAt: null, finishedAt: null, runAt: request.now },
    event: 'job.retried',
    payload: (job) => ({ reason: request.reason, previousStatus: job.status, nextAttempt: job.attemptsStarted + 1 }),
  });
}

/**
 * One operator transition: refused unless the table allows it from the job's status, then one
 * update fenced on the table's sources and on the version read (a worker's write on the hot path,
 * which does not go through this unit of work, refuses it too), and its event at the new version.
 */
async function applyOperatorTransition(
  em: LedgerEm,
  request: OperatorRequest,
  transition: 'cancel' | 'retry',
  auditAction: string,
  change: { set: Partial<JobRow>; event: EventType; payload: (job: JobRow) => unknown },
): Promise<OperatorResult> {
  // PostgreSQL: locked until COMMIT, so a concurrent action waits and then reads the new version.
  const lock = dialectOf(em) === 'postgresql' ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {};
  const found = await em.findOne(JobEntity, { id: request.jobId }, lock);
  if (!found) throw new NotFoundError('job', request.jobId);
  const job = plainRow(JobEntity, found);
  if (!canTransition(job.status, transition)) throw new IllegalTransitionError(job.id, job.status, transition);
  const { to, from } = jobTransitions[transition];
  const changes: Partial<JobRow> = { ...change.set, status: to, updatedAt: request.now, version: job.version + 1 };
  const changed = await em.nativeUpdate(JobEntity, { id: job.id, version: job.version, status: { $in: [...from] } }, changes);
  const after: JobRow = { ...job, ...changes };
  if (changed !== 1) throw new IllegalTransitionError(job.id, 'changing concurrently', transition);
  em.create(EventEntity, {
    id: newId('evt'),
    subjectType: 'job',
    subjectId: job.id,
    seq: after.version,
    type: change.event,
    payload: change.payload(job) ?? null,
    actor: request.actor,
    createdAt: request.now,
  });
  recordAudit(em, { actor: request.actor, source: request.source ?? 'library', bulkId: request.bulkId ?? null }, {
    action: auditAction,
    subjectType: 'job',
    subjectId: job.id,
    reason: request.reason,
    changes: fieldChanges(job, after, auditedJobFields),
    createdAt: request.now,
  });
  await em.flush();
  return { job: after, previousStatus: job.status };
}
