/**
 * Operator actions on a whole pipeline: cancel a running one, retry a failed (or cancelled) one. Each
 * is an explicit request, so a pipeline whose status does not allow it raises
 * `IllegalTransitionError`; each records who and why in the pipeline's event. Through MikroORM's unit
 * of work (`Ledger.unitOfWork`); the pipeline row is locked first (FOR UPDATE on PostgreSQL, the
 * write lock on SQLite), so a stage outcome committing meanwhile waits and then finds the pipeline
 * moved on (pipeline-advance.ts leaves a pipeline alone once its job is no longer the running stage).
 */
import type { FindOptions } from '@mikro-orm/core';
import { LockMode } from '../orm/mikro-orm.js';
import { IllegalTransitionError, NotFoundError } from '../../errors.js';
import { dialectOf } from '../engine/sql.js';
import { EventEntity, JobEntity, PipelineEntity, PipelineHistoryEntity, type AuditSource, type JobRow, type PipelineRow } from '../entities/index.js';
import { fieldChanges, recordAudit } from '../audit/audit-writes.js';
import { jobTransitions, type JobStatus } from '../lifecycle.js';
import { newId } from '../ids.js';
import { cancelJob, type OperatorResult } from '../jobs/operator-writes.js';
import { insertJobs, type NewJob } from '../jobs/job-writes.js';
import { plainRow, plainRows } from '../orm/entity-rows.js';
import { sqlFor } from '../orm/em-sql.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { lockPipeline, recordPipelineStep } from './pipeline-writes.js';

export interface PipelineOperatorRequest {
  pipelineId: string;
  actor: string;
  reason: string;
  now: number;
  /** Where the action came from, for its audit row (default `library`). */
  source?: AuditSource;
}

/** The pipeline fields an action changes, as its audit row records them. */
const auditedPipelineFields = ['status', 'state', 'statusReason', 'currentJobId', 'finishedAt'] as const satisfies readonly (keyof PipelineRow)[];

export interface CancelledPipeline {
  pipeline: PipelineRow;
  /** The stage jobs this cancel ended (their Redis side is the caller's, after the commit). */
  cancelledJobs: OperatorResult[];
}

export interface RetriedPipeline {
  pipeline: PipelineRow;
  /** The stage the pipeline runs again. */
  stage: string;
  /** The new stage job, committed `pending`: the caller hands it to Redis after the commit. */
  job: JobRow;
}

/** What a retry needs to make the stage's new job: the job of the visit that ended the pipeline, and a way to build one. */
export type RetryStageJob = (input: {
  pipeline: PipelineRow;
  stage: string;
  /** This stage's visit number for the new job. */
  visit: number;
  /** The stage job whose visit ended the pipeline, or null if retention pruned it. */
  previous: JobRow | null;
}) => NewJob;

const cancellable: readonly JobStatus[] = jobTransitions.cancel.from;

/**
 * Ends a running pipeline in state `cancelled` (status `failed`, the reason naming the actor), then
 * cancels its stage jobs that have not finished (the running stage's job; an operator may have given
 * an earlier stage's job a new life too), each with its own `job.cancelled` event.
 */
export async function cancelPipeline(em: LedgerEm, request: PipelineOperatorRequest): Promise<CancelledPipeline> {
  const sql = sqlFor(em);
  // Jobs are locked before their pipeline, in the order a stage outcome takes them (its job's update,
  // then the pipeline in the outcome hook), so the two cannot deadlock on PostgreSQL. The pipeline
  // is read first without a lock to learn its jobs, and must not have moved once it is locked.
  const seen = await em.findOne(PipelineEntity, { id: request.pipelineId }, { disableIdentityMap: true });
  if (seen && seen.status !== 'running') throw new IllegalTransitionError(seen.id, seen.status, 'cancel', 'pipeline');
  // The path names every job the pipeline ran (jobs.pipeline_id has no index): found by primary key.
  const jobIds = seen ? [...new Set([...seen.path.map((e) => e.jobId), ...(seen.currentJobId ? [seen.currentJobId] : [])])] : [];
  const lock: FindOptions<JobRow> = dialectOf(em) === 'postgresql' ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {};
  const unfinished = jobIds.length
    ? plainRows(JobEntity, await em.find(JobEntity, { id: { $in: jobIds }, status: { $in: [...cancellable] } }, { ...lock, orderBy: { id: 'asc' } }))
    : [];
  const pipeline = await livePipeline(em, request.pipelineId, 'cancel');
  if (pipeline.status !== 'running') throw new IllegalTransitionError(pipeline.id, pipeline.status, 'cancel', 'pipeline');
  // It advanced while its jobs were being locked: its jobs are not the ones read (the call may simply be repeated).
  if (pipeline.version !== seen?.version) throw new IllegalTransitionError(pipeline.id, 'moving to its next stage', 'cancel', 'pipeline');
  const statusReason = `cancelled by ${request.actor}: ${request.reason}`;
  const after = await recordPipelineStep(sql, pipeline, {
    entry: { stage: pipeline.state, jobId: pipeline.currentJobId ?? '', outcome: 'cancelled', at: request.now, next: 'cancelled' },
    state: 'cancelled',
    status: 'failed',
    statusReason,
    context: pipeline.context,
    retries: pipeline.retries,
    loops: pipeline.loops,
    feedback: pipeline.feedback,
    currentJobId: null,
    event: {
      type: 'pipeline.cancelled',
      payload: { stage: pipeline.state, jobId: pipeline.currentJobId, reason: request.reason, cancelledJobs: unfinished.map((j) => j.id) },
    },
    actor: request.actor,
    now: request.now,
  });
  const context = { actor: request.actor, source: request.source ?? 'library' };
  recordAudit(em, context, {
    action: 'pipeline.cancel',
    subjectType: 'pipeline',
    subjectId: pipeline.id,
    reason: request.reason,
    changes: fieldChanges(pipeline, after, auditedPipelineFields),
    count: unfinished.length,
    createdAt: request.now,
  });
  // The pipeline has ended, so each job's cancel leaves it as it is (endPipelineOfJob finds it not running).
  const cancelledJobs: OperatorResult[] = [];
  for (const job of unfinished) cancelledJobs.push(await cancelJob(em, { jobId: job.id, reason: request.reason, now: request.now, ...context }));
  return { pipeline: after, cancelledJobs };
}

/**
 * Runs a failed or cancelled pipeline again from the stage whose visit ended it, with a new job for
 * that stage (its payload carries the pipeline's context, loop counters and latest feedback as they
 * are now). Loop budgets are not refilled: the retry is one more visit, not a fresh pipeline. The
 * path keeps the visit that ended it; the pipeline is `running` again with `pipeline.retried`.
 */
export async function retryPipeline(em: LedgerEm, request: PipelineOperatorRequest, makeJob: RetryStageJob): Promise<RetriedPipeline> {
  const pipeline = await livePipeline(em, request.pipelineId, 'retry');
  if (pipeline.status !== 'failed') throw new IllegalTransitionError(pipeline.id, pipeline.status, 'retry', 'pipeline');
  const last = pipeline.path.at(-1);
  // A pipeline ends by a stage visit (appended to its path); one with no path has nothing to run again.
  if (!last) throw new IllegalTransitionError(pipeline.id, `${pipeline.status} without any stage visit`, 'retry', 'pipeline');
  const stage = last.stage;
  const previousFound = last.jobId ? await em.findOne(JobEntity, { id: last.jobId }) : null;
  const previous = previousFound ? plainRow(JobEntity, previousFound) : null;
  const visit = pipeline.path.filter((e) => e.stage === stage).length + 1;
  const newJob = { ...makeJob({ pipeline, stage, visit, previous }), pipelineId: pipeline.id, stage, actor: request.actor };

  const changes: Partial<PipelineRow> = {
    state: stage, status: 'running', statusReason: null, currentJobId: newJob.id, updatedAt: request.now, finishedAt: null,
    version: pipeline.version + 1,
  };
  const changed = await em.nativeUpdate(PipelineEntity, { id: pipeline.id, version: pipeline.version, status: 'failed' }, changes);
  if (changed !== 1) throw new IllegalTransitionError(pipeline.id, 'changing concurrently', 'retry', 'pipeline');
  em.create(EventEntity, {
    id: newId('evt'),
    subjectType: 'pipeline',
    subjectId: pipeline.id,
    seq: pipeline.version + 1,
    type: 'pipeline.retried',
    payload: { reason: request.reason, previousState: pipeline.state, stage, visit, jobId: newJob.id, previousJobId: last.jobId || null },
    actor: request.actor,
    createdAt: request.now,
  });
  recordAudit(em, { actor: request.actor, source: request.source ?? 'library' }, {
    action: 'pipeline.retry',
    subjectType: 'pipeline',
    subjectId: pipeline.id,
    reason: request.reason,
    changes: fieldChanges(pipeline, { ...pipeline, ...changes }, auditedPipelineFields),
    createdAt: request.now,
  });
  await em.flush();
  // Jobs go in through the enqueue path's statements (job-writes.ts), on this transaction's connection.
  const [inserted] = await insertJobs(sqlFor(em), [newJob]);
  return { pipeline: { ...pipeline, ...changes }, stage, job: inserted!.job };
}

/** The live pipeline, locked for this transaction; an archived one has ended for good. */
async function livePipeline(em: LedgerEm, id: string, action: 'cancel' | 'retry'): Promise<PipelineRow> {
  const pipeline = await lockPipeline(sqlFor(em), id);
  if (pipeline) return pipeline;
  const archived = await em.findOne(PipelineHistoryEntity, { id }, { fields: ['id', 'status'] });
  if (archived) throw new IllegalTransitionError(id, `${archived.status} and archived`, action, 'pipeline');
  throw new NotFoundError('pipeline', id);
}
