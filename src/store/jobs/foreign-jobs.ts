/**
 * Jobs that reach a worker other than through jobledger's producer: put on a jobledger queue by
 * plain BullMQ (adopted into the ledger), or of a job type the worker does not know (handed back to
 * Redis). Through MikroORM's unit of work: these are rare, off the hot path.
 */
import { EventEntity, JobEntity, type JobRow } from '../entities/index.js';
import { newId } from '../ids.js';
import { refusedJobStatus, unfinishedJobStatuses, type JobStatus } from '../lifecycle.js';
import { plainRow } from '../orm/entity-rows.js';
import type { LedgerEm } from '../orm/open-orm.js';
import type { SerializedError } from '../attempts/outcome.js';
import type { InsertedJob, NewJob } from './job-writes.js';

/** Where an adopted job came from: recorded in its `job.enqueued` event. */
export interface JobOrigin {
  source: 'bullmq';
  /** The BullMQ queue it was added to. */
  queue: string;
  /** Its BullMQ job id (a Redis counter for `Queue.add` without a `jobId`). */
  jobId: string;
}

/**
 * Records a foreign job whose payload its job type refuses: inserted `failed`, with the validation
 * error, its `job.enqueued` and `job.failed` events, and never run. A job already holding the
 * idempotency key (the same BullMQ job delivered again) is returned as it is.
 */
export async function insertRefusedJob(em: LedgerEm, job: NewJob, error: SerializedError): Promise<InsertedJob> {
  if (job.idempotencyKey !== null) {
    const held = await em.findOne(JobEntity, { queue: job.queue, idempotencyKey: job.idempotencyKey });
    if (held) return { id: held.id, created: false, job: plainRow(JobEntity, held) };
  }
  const reason = `refused at adoption: ${error.message}`;
  const row: JobRow = {
    id: job.id, queue: job.queue, name: job.name, payload: job.payload, status: refusedJobStatus, statusReason: reason,
    priority: job.priority, runId: job.runId, pipelineId: null, stage: null, idempotencyKey: job.idempotencyKey,
    maxAttempts: job.maxAttempts, backoff: job.backoff, timeoutMs: job.timeoutMs, attemptsStarted: 0, attemptsFailed: 0,
    currentAttempt: 0, progress: null, result: null, lastError: error, runAt: job.runAt, createdAt: job.createdAt,
    dispatchedAt: null, startedAt: null, finishedAt: job.createdAt, updatedAt: job.createdAt, version: 2, traceContext: job.traceContext ?? null,
  };
  em.create(JobEntity, row);
  const event = (seq: number, type: string, payload: unknown) =>
    em.create(EventEntity, { id: newId('evt'), subjectType: 'job', subjectId: job.id, seq, type, payload, actor: job.actor, createdAt: job.createdAt });
  event(1, 'job.enqueued', { name: job.name, queue: job.queue, runId: null, priority: job.priority, runAt: job.runAt, idempotencyKey: job.idempotencyKey, origin: job.origin ?? null });
  event(2, 'job.failed', { reason, error });
  await em.flush();
  return { id: job.id, created: true, job: row };
}

export interface UnknownTypeHandBack {
  jobId: string;
  /** The job type the worker does not know. */
  name: string;
  workerId: string;
  /** The job types the worker does know. */
  knownTypes: readonly string[];
  /** When the delivery comes back, at the earliest (epoch ms). */
  retryAt: number;
  now: number;
}

/** Whether the hand-back was recorded, and the job's status (`null`: the ledger has no such job). */
export interface RecordedHandBack {
  recorded: boolean;
  status: JobStatus | null;
}

/**
 * Records that a worker handed a job back to Redis because it does not know its type: one
 * `job.type_unknown` event, at the job's next version. Nothing is written when the job is not in
 * the ledger, is finished, or changed meanwhile.
 */
export async function recordUnknownJobType(em: LedgerEm, handBack: UnknownTypeHandBack): Promise<RecordedHandBack> {
  const found = await em.findOne(JobEntity, { id: handBack.jobId });
  if (!found) return { recorded: false, status: null };
  const job = plainRow(JobEntity, found);
  if (!unfinishedJobStatuses.includes(job.status)) return { recorded: false, status: job.status };
  const changed = await em.nativeUpdate(JobEntity, { id: job.id, version: job.version }, { version: job.version + 1 });
  if (changed !== 1) return { recorded: false, status: job.status };
  em.create(EventEntity, {
    id: newId('evt'),
    subjectType: 'job',
    subjectId: job.id,
    seq: job.version + 1,
    type: 'job.type_unknown',
    payload: { name: handBack.name, workerId: handBack.workerId, knownTypes: [...handBack.knownTypes], retryAt: handBack.retryAt },
    actor: handBack.workerId,
    createdAt: handBack.now,
  });
  await em.flush();
  return { recorded: true, status: job.status };
}

/** A job waiting for a worker that knows its type. */
export interface JobAwaitingType {
  jobId: string;
  name: string;
  queue: string;
  status: JobStatus;
  /** The last worker that handed it back, and when. */
  handedBackBy: string;
  handedBackAt: number;
}

/**
 * Unfinished jobs that a worker handed back for not knowing their type (`job.type_unknown`) and
 * that no worker has started since: nobody running serves their type, or nobody has met them again
 * yet. Newest hand-backs first, at most `limit` jobs.
 */
export async function findJobsAwaitingType(em: LedgerEm, limit: number): Promise<JobAwaitingType[]> {
  const handBacks = await em.find(EventEntity, { subjectType: 'job', type: 'job.type_unknown' }, { orderBy: { createdAt: 'desc' }, limit: limit * 10 });
  const latest = new Map<string, { seq: number; by: string; at: number }>();
  for (const e of handBacks) if (!latest.has(e.subjectId)) latest.set(e.subjectId, { seq: e.seq, by: e.actor, at: e.createdAt });
  if (latest.size === 0) return [];
  const ids = [...latest.keys()];
  const waiting = unfinishedJobStatuses.filter((s) => s !== 'running');
  const jobs = await em.find(JobEntity, { id: { $in: ids }, status: { $in: [...waiting] } });
  const starts = await em.find(EventEntity, { subjectType: 'job', subjectId: { $in: jobs.map((j) => j.id) }, type: 'job.started' });
  const lastStart = new Map<string, number>();
  for (const s of starts) lastStart.set(s.subjectId, Math.max(lastStart.get(s.subjectId) ?? 0, s.seq));
  return jobs
    .flatMap((job) => {
      const handBack = latest.get(job.id)!;
      if ((lastStart.get(job.id) ?? 0) > handBack.seq) return [];
      return [{ jobId: job.id, name: job.name, queue: job.queue, status: job.status, handedBackBy: handBack.by, handedBackAt: handBack.at }];
    })
    .sort((a, b) => b.handedBackAt - a.handedBackAt)
    .slice(0, limit);
}
