/**
 * The ledger side of reconciling Redis against the ledger (workers/maintenance/reconcile.ts holds the
 * Redis side): which jobs should be in Redis, and which Redis job ids the ledger knows.
 */
import type { JobRow } from '../entities/index.js';
import type { Ledger } from '../ledger.js';
import { toJobRow } from '../jobs/job-rows.js';
import { placeholders } from '../engine/sql.js';
import { statusIn, unfinishedJobStatuses, type JobStatus } from '../lifecycle.js';

/** Statuses of a job that should be in Redis, waiting for a worker. */
const inRedisStatuses: readonly JobStatus[] = ['queued', 'delayed'];

/**
 * Jobs the ledger expects Redis to carry, in id order after `afterId`: `queued` and `delayed` ones
 * (handed over already). `pending` jobs are the outbox relay's; `running` jobs whose worker died are
 * found by their heartbeat first (stale-attempts.ts) and queued again.
 */
export async function findJobsExpectedInRedis(ledger: Ledger, input: { afterId: string; limit: number }): Promise<JobRow[]> {
  const rows = await ledger.read((sql) =>
    sql.all(`SELECT * FROM jobs WHERE id > ? AND ${statusIn('status', inRedisStatuses)} ORDER BY id LIMIT ?`, [input.afterId, input.limit]),
  );
  return rows.map((r) => toJobRow(ledger.dialect, r));
}

/** The given jobs as they are now, leaving out those that are gone or no longer at the same version. */
export async function unchangedJobs(ledger: Ledger, jobs: readonly Pick<JobRow, 'id' | 'version'>[]): Promise<JobRow[]> {
  if (jobs.length === 0) return [];
  const versions = new Map(jobs.map((j) => [j.id, j.version]));
  const rows = await ledger.read((sql) => sql.all(`SELECT * FROM jobs WHERE id IN (${placeholders(jobs.length)})`, jobs.map((j) => j.id)));
  return rows.map((r) => toJobRow(ledger.dialect, r)).filter((job) => versions.get(job.id) === job.version);
}

/** Which of these ids have a ledger row. */
export async function existingJobIds(ledger: Ledger, ids: readonly string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let start = 0; start < ids.length; start += 500) {
    const chunk = ids.slice(start, start + 500);
    const rows = await ledger.read((sql) => sql.all(`SELECT id FROM jobs WHERE id IN (${placeholders(chunk.length)})`, chunk));
    for (const r of rows) found.add(r.id as string);
  }
  return found;
}

/** Queues that hold jobs the ledger has not finished. */
export async function unfinishedQueues(ledger: Ledger): Promise<string[]> {
  const rows = await ledger.read((sql) =>
    sql.all(`SELECT DISTINCT queue FROM jobs WHERE ${statusIn('status', unfinishedJobStatuses)} ORDER BY queue`),
  );
  return rows.map((r) => r.queue as string);
}
