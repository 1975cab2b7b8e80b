/**
 * What someone did to a job in Redis rather than through jobledger (Bull Board's "promote", a
 * retry of a finished job that the ledger refused, a "remove"), recorded in the job's log with
 * actor `redis`.
 * A Redis retry the ledger accepts goes through the operator's own retry (operator-writes.ts).
 * Through MikroORM's unit of work: these are rare, off the hot path.
 */
import { EventEntity, JobEntity, type JobRow } from '../entities/index.js';
import { newId } from '../ids.js';
import { plainRow } from '../orm/entity-rows.js';
import type { LedgerEm } from '../orm/open-orm.js';
import type { EventType } from '../lifecycle.js';

/** The actor of every event this file writes: the change came from Redis, not from jobledger. */
export const redisActor = 'redis';

export interface PromotedJob {
  jobId: string;
  /** The attempt the early delivery started. */
  attempt: number;
  /** The run time the ledger held. */
  scheduledFor: number;
  /** When Redis delivered it (the delivery's fetch time). */
  deliveredAt: number;
  now: number;
}

/**
 * A `job.promoted` event, and the job's `run_at` moved to when it was delivered, so that the ledger
 * says when it really became due. Written only while the attempt the early delivery started is the
 * job's current one (a later change wins). True if recorded.
 */
export function recordPromotedJob(em: LedgerEm, promoted: PromotedJob): Promise<boolean> {
  const payload = { attempt: promoted.attempt, scheduledFor: promoted.scheduledFor, deliveredAt: promoted.deliveredAt, earlyByMs: promoted.scheduledFor - promoted.deliveredAt };
  return appendRedisEvent(em, promoted.jobId, 'job.promoted', payload, promoted.now, (job) =>
    job.status === 'running' && job.currentAttempt === promoted.attempt ? { runAt: promoted.deliveredAt } : undefined,
  );
}

export interface RefusedRedisRetry {
  jobId: string;
  /** Why the ledger did not run it again. */
  reason: string;
  now: number;
}

/** A `job.retry_refused` event on a finished job: Redis asked to run it again and nothing ran. True if recorded. */
export function recordRefusedRedisRetry(em: LedgerEm, refused: RefusedRedisRetry): Promise<boolean> {
  return appendRedisEvent(em, refused.jobId, 'job.retry_refused', { reason: refused.reason }, refused.now, () => ({}), true);
}

export interface RedisRemoval {
  jobId: string;
  /** The job's state in Redis when it was removed (BullMQ's `prev`: `completed`, `waiting`, ...). */
  redisState: string;
  /** The id of BullMQ's `removed` event in the queue's event stream: one removal, one ledger event. */
  redisEventId: string;
  /** The ledger holds the job unfinished, so the next reconcile hands it to Redis again. */
  handedBackByReconcile: boolean;
  now: number;
}

/**
 * A `job.redis_removed` event: the job was removed from Redis by someone else than jobledger
 * (Bull Board's "remove", `Job.remove`, `Queue.remove`). The ledger keeps the job as it is. Each
 * worker sees the same removal; the one that records it first wins, the others find its event.
 * True if recorded.
 */
export function recordRedisRemoval(em: LedgerEm, removal: RedisRemoval): Promise<boolean> {
  const payload = { redisState: removal.redisState, redisEventId: removal.redisEventId, handedBackByReconcile: removal.handedBackByReconcile };
  const recordedBefore = async (): Promise<boolean> => {
    const earlier = await em.find(EventEntity, { subjectType: 'job', subjectId: removal.jobId, type: 'job.redis_removed' });
    return earlier.some((event) => (event.payload as { redisEventId?: unknown } | null)?.redisEventId === removal.redisEventId);
  };
  return appendRedisEvent(em, removal.jobId, 'job.redis_removed', payload, removal.now, () => ({}), true, recordedBefore);
}

/**
 * One event at the job's next version, with `changes` to its row, fenced on the version read: a
 * job that changed meanwhile is read again (a worker's progress or heartbeat bumps it), a few times.
 * `changes` returning undefined means the job no longer fits, and `recordedBefore` true that the
 * event is there already: nothing is written.
 */
async function appendRedisEvent(
  em: LedgerEm,
  jobId: string,
  type: EventType,
  payload: Record<string, unknown>,
  now: number,
  changes: (job: JobRow) => Partial<JobRow> | undefined,
  withPreviousStatus = false,
  recordedBefore?: () => Promise<boolean>,
): Promise<boolean> {
  for (let tries = 0; tries < 3; tries++) {
    const found = await em.findOne(JobEntity, { id: jobId }, { refresh: true });
    if (!found) return false;
    const job = plainRow(JobEntity, found);
    const change = changes(job);
    if (!change || (await recordedBefore?.())) return false;
    const changed = await em.nativeUpdate(JobEntity, { id: job.id, version: job.version }, { ...change, updatedAt: now, version: job.version + 1 });
    if (changed !== 1) continue;
    em.create(EventEntity, {
      id: newId('evt'),
      subjectType: 'job',
      subjectId: job.id,
      seq: job.version + 1,
      type,
      payload: withPreviousStatus ? { ...payload, status: job.status } : payload,
      actor: redisActor,
      createdAt: now,
    });
    await em.flush();
    return true;
  }
  return false;
}
