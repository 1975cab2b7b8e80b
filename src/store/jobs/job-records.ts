/**
 * Whole job records (the job, its attempts, its event log) for a page of jobs, in two reads however
 * many jobs the page holds: what an export streams, page after page.
 */
import type { JobRow } from '../entities/index.js';
import { placeholders, type Sql } from '../engine/sql.js';
import type { JobDetail } from './job-queries.js';
import { toAttemptRow, toEventRow } from './job-rows.js';

/** One record per job of `jobs`, in their order. */
export async function jobRecords(sql: Sql, jobs: readonly JobRow[]): Promise<JobDetail[]> {
  if (jobs.length === 0) return [];
  const ids = jobs.map((j) => j.id);
  const attempts = await sql.all(`SELECT * FROM attempts WHERE job_id IN (${placeholders(ids.length)}) ORDER BY job_id, number`, ids);
  const events = await sql.all(
    `SELECT * FROM events WHERE subject_type = 'job' AND subject_id IN (${placeholders(ids.length)}) ORDER BY subject_id, seq`,
    ids,
  );
  const records = new Map<string, JobDetail>(jobs.map((job) => [job.id, { job, attempts: [], events: [] }]));
  for (const row of attempts) {
    const attempt = toAttemptRow(sql.dialect, row);
    records.get(attempt.jobId)?.attempts.push(attempt);
  }
  for (const row of events) {
    const event = toEventRow(sql.dialect, row);
    records.get(event.subjectId)?.events.push(event);
  }
  return ids.map((id) => records.get(id)!);
}
