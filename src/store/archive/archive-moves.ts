/**
 * The cold archive's SQL side of a move: which finished jobs are due (the retention's selection,
 * store/maintenance/prune.ts, under the archive's own days), and the one transaction that makes a
 * written segment the truth for its jobs: the segment's row and one index row per job are inserted
 * and the jobs, their attempts and their events deleted, or nothing is. A segment file whose
 * transaction never committed has no row: the archive run treats it as an orphan (jobs/archive/).
 */
import { ArchiveSegmentEntity, ArchivedJobEntity, type ArchiveSegmentRow, type ArchivedJobRow, type JobRow } from '../entities/index.js';
import { allPropertiesOf, entityColumns } from '../engine/entity-columns.js';
import { insertRows, placeholders, toNumber, type Sql } from '../engine/sql.js';
import { finalJobStatuses } from '../lifecycle.js';
import type { Ledger } from '../ledger.js';
import { prunableWhere, retentionGroups, type RetentionGroup, type RetentionPolicy } from '../maintenance/prune.js';
import { jobRecords } from '../jobs/job-records.js';
import type { JobDetail } from '../jobs/job-queries.js';
import { toJobRow } from '../jobs/job-rows.js';
import { deleteDocuments } from '../search/search-documents.js';

/** Days after which finished jobs are archived: a default and per-queue overrides (`null`: never). */
export type ArchivePolicy = Pick<RetentionPolicy, 'defaultDays' | 'byQueue'>;

/** The groups of jobs `policy` makes due at `now` (one per overridden queue, one for the rest). */
export function archiveGroups(policy: ArchivePolicy, now: number): RetentionGroup[] {
  return retentionGroups({ defaultDays: policy.defaultDays, byQueue: policy.byQueue ?? {} }, now);
}

/**
 * The oldest `limit` due jobs of `group` that are not in `exclude`, with their attempts and
 * events, as one read. Outside any transaction: the move's transaction checks that they did not
 * change since (`commitSegment`).
 */
export function dueJobRecords(ledger: Ledger, group: RetentionGroup, limit: number): Promise<JobDetail[]> {
  return ledger.read(async (sql) => {
    const where = prunableWhere(group);
    const rows = await sql.all(`SELECT * FROM jobs WHERE ${where.sql} ORDER BY created_at, id LIMIT ?`, [...where.params, limit]);
    return jobRecords(sql, rows.map((r) => toJobRow(sql.dialect, r)));
  });
}

/** How many jobs, attempts and events of `group` are due (a dry run). */
export function countDue(ledger: Ledger, group: RetentionGroup): Promise<{ jobs: number; attempts: number; events: number }> {
  return ledger.read(async (sql) => {
    const where = prunableWhere(group);
    const [jobs] = await sql.all(`SELECT COUNT(*) AS n FROM jobs WHERE ${where.sql}`, where.params);
    const [attempts] = await sql.all(`SELECT COUNT(*) AS n FROM attempts WHERE job_id IN (SELECT id FROM jobs WHERE ${where.sql})`, where.params);
    const [events] = await sql.all(`SELECT COUNT(*) AS n FROM events WHERE subject_type = 'job' AND subject_id IN (SELECT id FROM jobs WHERE ${where.sql})`, where.params);
    return { jobs: toNumber(jobs?.n ?? 0), attempts: toNumber(attempts?.n ?? 0), events: toNumber(events?.n ?? 0) };
  });
}

/**
 * The live rows of a segment's jobs changed between the read that wrote the segment and the move's
 * transaction (an operator retried one, another archiver moved them): the transaction rolled back,
 * and the segment is an orphan to remove. Internal to the archive run, which reads the jobs again.
 */
export class ArchiveMoveConflict extends Error {
  constructor(detail: string) {
    super(`the jobs changed while their segment was written: ${detail}`);
    this.name = 'ArchiveMoveConflict';
  }
}

const segmentProperties = allPropertiesOf(ArchiveSegmentEntity);
const segmentColumns = entityColumns(ArchiveSegmentEntity, segmentProperties);
const indexProperties = allPropertiesOf(ArchivedJobEntity);
const indexColumns = entityColumns(ArchivedJobEntity, indexProperties);
const finalList = finalJobStatuses.map((s) => `'${s}'`).join(', ');

/** The index row of an archived job. */
export function indexRowOf(job: JobRow, segmentId: string): ArchivedJobRow {
  return {
    jobId: job.id, segmentId, queue: job.queue, name: job.name, status: job.status, runId: job.runId, pipelineId: job.pipelineId,
    createdAt: job.createdAt, finishedAt: job.finishedAt,
  };
}

/**
 * The move: in one transaction, the segment's row, its jobs' index rows, and the deletion of those
 * jobs with their attempts and events. Each job must still be final at the version the segment
 * holds, with as many attempts and events: otherwise `ArchiveMoveConflict` and nothing changed.
 */
export function commitSegment(ledger: Ledger, segment: ArchiveSegmentRow, records: readonly JobDetail[], beforeCommit?: () => void): Promise<void> {
  return ledger.transaction(async (sql) => {
    await insertRows(sql, 'archive_segments', segmentColumns, [segmentProperties.map((p) => segment[p])]);
    await insertRows(sql, 'archived_jobs', indexColumns, records.map((r) => { const row = indexRowOf(r.job, segment.id); return indexProperties.map((p) => row[p]); }));
    await deleteLiveRows(sql, records);
    beforeCommit?.();
  });
}

async function deleteLiveRows(sql: Sql, records: readonly JobDetail[]): Promise<void> {
  const ids = records.map((r) => r.job.id);
  const list = placeholders(ids.length);
  const deleted = await sql.all(`DELETE FROM jobs WHERE id IN (${list}) AND status IN (${finalList}) RETURNING id, version`, ids);
  const versions = new Map(deleted.map((r) => [r.id as string, toNumber(r.version)]));
  for (const { job } of records) {
    const version = versions.get(job.id);
    if (version === undefined) throw new ArchiveMoveConflict(`job ${job.id} is no longer a finished job in the ledger`);
    if (version !== job.version) throw new ArchiveMoveConflict(`job ${job.id} is at version ${version}, the segment holds ${job.version}`);
  }
  const attempts = await sql.run(`DELETE FROM attempts WHERE job_id IN (${list})`, ids);
  const events = await sql.run(`DELETE FROM events WHERE subject_type = 'job' AND subject_id IN (${list})`, ids);
  const expected = { attempts: records.reduce((n, r) => n + r.attempts.length, 0), events: records.reduce((n, r) => n + r.events.length, 0) };
  if (attempts !== expected.attempts || events !== expected.events) {
    throw new ArchiveMoveConflict(`${attempts} attempts and ${events} events in the ledger, the segment holds ${expected.attempts} and ${expected.events}`);
  }
  // Full-text search covers the live ledger: an archived job's document goes with its rows.
  await deleteDocuments(sql, ids);
}
