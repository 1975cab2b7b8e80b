/**
 * The ledger side of reconciling Redis against the ledger (workers/maintenance/reconcile.ts holds the
 * Redis side): which jobs should be in Redis, and which Redis job ids the ledger knows. Read through
 * the job entity on an EntityManager fork per call (`Ledger.readEntities`): a maintenance task, a
 * page at a time.
 */
import { JobEntity, type JobRow } from '../entities/index.js';
import type { Ledger } from '../ledger.js';
import { plainRows } from '../orm/entity-rows.js';
import { unfinishedJobStatuses, type JobStatus } from '../lifecycle.js';

/** Statuses of a job that should be in Redis, waiting for a worker. */
const inRedisStatuses: readonly JobStatus[] = ['queued', 'delayed'];

/** Ids per statement, well below either database's limit on bound parameters. */
const idsPerRead = 500;

/**
 * Jobs the ledger expects Redis to carry, in id order after `afterId`: `queued` and `delayed` ones
 * (handed over already). `pending` jobs are the outbox relay's; `running` jobs whose worker died are
 * found by their heartbeat first (stale-attempts.ts) and queued again.
 */
export function findJobsExpectedInRedis(ledger: Ledger, input: { afterId: string; limit: number }): Promise<JobRow[]> {
  return ledger.readEntities(async (em) =>
    plainRows(JobEntity, await em.find(JobEntity, { id: { $gt: input.afterId }, status: { $in: [...inRedisStatuses] } }, { orderBy: { id: 'asc' }, limit: input.limit })),
  );
}

/** The given jobs as they are now, leaving out those that are gone or no longer at the same version. */
export async function unchangedJobs(ledger: Ledger, jobs: readonly Pick<JobRow, 'id' | 'version'>[]): Promise<JobRow[]> {
  const versions = new Map(jobs.map((j) => [j.id, j.version]));
  const current: JobRow[] = [];
  for (const chunk of chunks([...versions.keys()])) {
    current.push(...(await ledger.readEntities(async (em) => plainRows(JobEntity, await em.find(JobEntity, { id: { $in: chunk } })))));
  }
  return current.filter((job) => versions.get(job.id) === job.version);
}

/** Which of these ids have a ledger row. */
export async function existingJobIds(ledger: Ledger, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (const chunk of chunks(ids)) {
    const rows = await ledger.readEntities((em) => em.find(JobEntity, { id: { $in: chunk } }, { fields: ['id'] }));
    for (const row of rows) found.add(row.id);
  }
  return found;
}

/** Queues that hold jobs the ledger has not finished. */
export async function unfinishedQueues(ledger: Ledger): Promise<string[]> {
  const rows = await ledger.readEntities((em) =>
    em
      .createQueryBuilder(JobEntity)
      .select('queue', true)
      .where({ status: { $in: [...unfinishedJobStatuses] } })
      .orderBy({ queue: 'asc' })
      .execute('all'),
  );
  return rows.map((r) => r.queue);
}

function* chunks(ids: readonly string[]): Generator<string[]> {
  for (let start = 0; start < ids.length; start += idsPerRead) yield ids.slice(start, start + idsPerRead);
}
