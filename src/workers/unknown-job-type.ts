/**
 * A delivery of a job type this worker does not know (a fleet mid-deploy, a worker started with
 * fewer job types, a job type removed while jobs of it still wait): nothing can run it here, so it
 * is not started and spends nothing. It goes back to Redis, delayed, for a worker that knows the
 * type, and no attempt is recorded. The delay grows with each delivery of the job (1 s, 2 s, 4 s,
 * ... at most a minute), so a fleet where no worker knows the type does not spin on it.
 *
 * The ledger gets one `job.type_unknown` event per job per worker (not one per delivery), which
 * `jobledger doctor` reports while the job waits. A job added by plain BullMQ has no ledger row to
 * record it on: it is logged once per worker instead.
 */
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { JobRegistry } from '../jobs/registry.js';
import type { Logger } from '../logger.js';
import { isConnectionLoss, type Ledger, type WorkerIdentity } from '../store/index.js';
import { isForeignDelivery } from './adopt-foreign-job.js';

/** The delay of the n-th delivery's hand-back: 1 s doubling to at most 60 s, plus up to a fifth of jitter. */
export function handBackDelayMs(deliveries: number): number {
  const base = Math.min(60_000, 1000 * 2 ** Math.min(6, Math.max(0, deliveries - 1)));
  return base + Math.floor(Math.random() * (base / 5));
}

/** How many jobs a worker remembers having recorded; past that it starts over (a few repeated events at worst). */
const rememberedJobs = 10_000;

export class UnknownJobTypes {
  /** Jobs this worker has recorded (or logged) already: the bound of one event per job per worker. */
  private readonly recorded = new Set<string>();

  constructor(private readonly deps: { ledger: Ledger; registry: JobRegistry; identity: WorkerIdentity; logger: Logger }) {}

  /** True when this worker cannot run the delivery's job type. */
  unknown(job: Job): boolean {
    return !this.deps.registry.has(job.name);
  }

  /**
   * Hands the delivery back to Redis, after recording it once. A job the ledger has finished
   * already is finished in Redis instead (as any delivery of a final job is), and one the ledger has
   * no row for and that jobledger put there is failed in Redis (as execute-attempt.ts does).
   */
  async handBack(job: Job, token: string | undefined): Promise<unknown> {
    const { ledger, registry, identity, logger } = this.deps;
    const delayMs = handBackDelayMs(job.attemptsStarted);
    const foreign = isForeignDelivery(job);
    const key = foreign ? `${job.queueName}\u0000${job.id}` : job.id!;
    if (!this.recorded.has(key)) {
      if (this.recorded.size >= rememberedJobs) this.recorded.clear();
      this.recorded.add(key);
      logger.warn({ jobId: job.id, name: job.name, queue: job.queueName, foreign, knownTypes: registry.names() }, 'handing back a job of a type this worker does not know');
      if (!foreign) {
        let recorded;
        try {
          recorded = await ledger.recordUnknownJobType({
            jobId: job.id!, name: job.name, workerId: identity.workerId, knownTypes: registry.names(), retryAt: Date.now() + delayMs, now: Date.now(),
          });
        } catch (error) {
          this.recorded.delete(key); // recorded at the next delivery, then
          if (isConnectionLoss(error)) throw error; // the worker hands it back while the database is down
          logger.warn({ err: error, jobId: job.id }, 'could not record the hand-back of a job of an unknown type; handing it back all the same');
        }
        if (recorded?.status === null) throw new UnrecoverableError('no ledger row for this job id');
        if (recorded?.status === 'completed') return null;
        if (recorded?.status === 'failed' || recorded?.status === 'cancelled') throw new UnrecoverableError(`already ${recorded.status} in the ledger`);
        if (recorded && !recorded.recorded) this.recorded.delete(key); // changed meanwhile: try again at the next delivery
      }
    }
    await job.moveToDelayed(Date.now() + delayMs, token);
    throw new DelayedError();
  }
}
