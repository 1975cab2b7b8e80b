/**
 * Adoption: a job put on a jobledger queue by plain BullMQ (`Queue.add`, `addBulk`, any language's
 * BullMQ client) whose name is a job type this worker knows. It carries its payload in Redis and
 * has no ledger row, so the worker makes one: the payload is validated against the job type's
 * schema, and the job is inserted as an enqueue would insert it, its `job.enqueued` event naming
 * the origin (`bullmq`, the queue and the BullMQ job id), under the idempotency key
 * `bullmq:<queue>:<BullMQ id>`, so a delivery of the same BullMQ job again finds the same row.
 *
 * The adopted job then travels as any other: handed to Redis under its ledger id, where a worker
 * runs it with every guarantee of the ledger (attempts, heartbeats, cancel, retries). The BullMQ
 * job it came from is completed with `{ adoptedAs: <ledger id> }`: it was carried over, not run.
 * (Running it under its BullMQ id would need every ledger write, lock and cancel to translate
 * between two ids; BullMQ's ids, Redis counters, cannot be ledger ids.)
 *
 * A payload its schema refuses is recorded `failed`, with the validation error, and the BullMQ job
 * is failed with that reason: nothing is dropped. A job of a type the worker does not know never
 * gets here (unknown-job-type.ts hands it back).
 */
import { createHash } from 'node:crypto';
import { UnrecoverableError, type Job } from 'bullmq';
import { InvalidPayloadError } from '../errors.js';
import { ledgerBackoffType } from '../jobs/dispatcher.js';
import type { JobRegistry } from '../jobs/registry.js';
import { validateEnqueue } from '../jobs/validate-enqueue.js';
import type { Logger } from '../logger.js';
import { defaultMaxJsonDepth, isId, newId, toStorableJson, type JobOrigin, type JobRow, type Ledger, type NewJob } from '../store/index.js';
import { serializeError } from './serialize-error.js';

/** The actor of an adopted job's `job.enqueued` event. */
export const adoptionActor = 'bullmq';

export interface AdoptionDeps {
  ledger: Ledger;
  registry: JobRegistry;
  logger: Logger;
  /** Hands the adopted job to Redis (the relay does, if this fails or is absent). */
  dispatch?: (jobs: JobRow[]) => Promise<unknown>;
  maxErrorChars: number;
  /** Config.maxPayloadBytes. Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Config.maxJsonDepth. Default 64. */
  maxJsonDepth?: number;
}

/** What an adopted BullMQ job completes with. */
export interface Adopted {
  adoptedAs: string;
}

/**
 * True when jobledger did not put this job in Redis: every job its dispatcher adds carries the
 * ledger's backoff strategy (dispatcher.ts), which plain BullMQ producers do not know of. A job
 * whose id is a ledger job id is never foreign, however it was added: its row is gone (pruned by
 * retention, or of another ledger), and adopting it would bring a finished job back to life.
 */
export function isForeignDelivery(job: Pick<Job, 'id' | 'opts'>): boolean {
  if (isId('job', job.id)) return false;
  const backoff = job.opts.backoff;
  return typeof backoff !== 'object' || backoff === null || backoff.type !== ledgerBackoffType;
}

/** The idempotency key that maps every delivery of one BullMQ job to one ledger job. */
export function adoptionKey(origin: JobOrigin): string {
  const key = `bullmq:${origin.queue}:${origin.jobId}`;
  // Idempotency keys hold at most 255 characters; a long custom BullMQ id is hashed.
  return key.length <= 255 ? key : `bullmq:sha256:${createHash('sha256').update(`${origin.queue}\u0000${origin.jobId}`).digest('hex')}`;
}

/**
 * Adopts the delivery (see above). Resolves with the ledger job it became; rejects with
 * `UnrecoverableError` for a payload its schema refused (recorded `failed` first). Other errors (the
 * ledger could not be written) reach the caller, which hands the delivery back.
 */
export async function adoptForeignJob(deps: AdoptionDeps, bullJob: Job): Promise<Adopted> {
  const origin: JobOrigin = { source: 'bullmq', queue: bullJob.queueName, jobId: bullJob.id! };
  const idempotencyKey = adoptionKey(origin);
  const limits = { maxPayloadBytes: deps.maxPayloadBytes ?? 1024 * 1024, maxJsonDepth: deps.maxJsonDepth ?? defaultMaxJsonDepth };
  let job: NewJob;
  try {
    job = { ...validateEnqueue(deps.registry, { name: bullJob.name, payload: bullJob.data, options: { idempotencyKey, actor: adoptionActor } }, limits, Date.now()), origin };
  } catch (error) {
    if (!(error instanceof InvalidPayloadError)) throw error;
    const refused = await deps.ledger.insertRefusedJob(refusedJob(deps, bullJob, origin, idempotencyKey, limits), serializeError(error, deps.maxErrorChars));
    deps.logger.warn({ jobId: refused.id, bullmqJobId: origin.jobId, queue: origin.queue, err: error }, 'refused a job added by plain BullMQ: its payload fails its schema; recorded failed');
    throw new UnrecoverableError(`${error.message} (recorded failed in the ledger as ${refused.id})`);
  }
  const [inserted] = await deps.ledger.insertJobs([job]);
  const row = inserted!.job;
  if (inserted!.created) deps.logger.info({ jobId: row.id, bullmqJobId: origin.jobId, queue: origin.queue, name: row.name }, 'adopted a job added by plain BullMQ');
  // Not handed over yet (a first delivery, or one whose hand-over did not land): hand it over now.
  if (row.status === 'pending' && deps.dispatch) {
    await deps.dispatch([row]).catch((error: unknown) => deps.logger.warn({ err: error, jobId: row.id }, 'could not hand an adopted job to Redis; the relay will'));
  }
  return { adoptedAs: row.id };
}

/** The refused job's row: the payload as it came, as far as it is storable JSON. */
function refusedJob(deps: AdoptionDeps, bullJob: Job, origin: JobOrigin, idempotencyKey: string, limits: { maxPayloadBytes: number; maxJsonDepth: number }): NewJob {
  const type = deps.registry.get(bullJob.name);
  const stored = toStorableJson(bullJob.data ?? null, { path: '', name: 'payload' }, { maxBytes: limits.maxPayloadBytes, maxDepth: limits.maxJsonDepth });
  const now = Date.now();
  return {
    id: newId('job'),
    queue: type.queue,
    name: type.name,
    // Redis keeps the BullMQ job's data (until its removeOnFail): the ledger says why it holds none.
    payload: stored.ok && stored.value !== null ? stored.value : { unstorable: stored.ok ? 'null' : `expected ${stored.problem.expected}, got ${stored.problem.got}` },
    priority: type.priority,
    runId: null,
    idempotencyKey,
    maxAttempts: type.maxAttempts,
    backoff: type.backoff,
    timeoutMs: type.timeoutMs,
    runAt: now,
    createdAt: now,
    actor: adoptionActor,
    origin,
  };
}
