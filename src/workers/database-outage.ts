/**
 * A delivery that arrives while the database cannot be reached (a restart, a failover): no attempt
 * could be recorded, so the handler must not run. It goes back to Redis unstarted, delayed a moment,
 * and BullMQ spends none of the job's attempts on it; the worker keeps fetching and the job runs
 * once the database answers. (If the begin's commit could not be settled, the next delivery finds
 * the attempt in the ledger and records it stalled.)
 */
import { DelayedError, type Job } from 'bullmq';
import type { Logger } from '../logger.js';

/** How long a delivery waits in Redis before it is tried again: 1-2 s, jittered. */
function handBackDelayMs(): number {
  return 1000 + Math.floor(Math.random() * 1000);
}

export async function handBackWhileDatabaseDown(job: Job, token: string | undefined, error: unknown, logger: Logger): Promise<never> {
  logger.warn({ jobId: job.id, err: error }, 'database unreachable before the attempt could start; handing the job back to Redis');
  await job.moveToDelayed(Date.now() + handBackDelayMs(), token);
  throw new DelayedError();
}
