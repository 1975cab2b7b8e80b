/**
 * Reading the cold archive's index (`archive_segments`, `archived_jobs`), and the restore's
 * transaction: a segment's jobs, attempts and events inserted back into the live tables with their
 * search documents, its index rows deleted and the segment marked `restored`, with the audit row,
 * all in one transaction.
 */
import { ArchiveSegmentEntity, ArchivedJobEntity, AttemptEntity, EventEntity, JobEntity, type ArchiveSegmentRow, type ArchivedJobRow } from '../entities/index.js';
import { allPropertiesOf, entityColumns } from '../engine/entity-columns.js';
import { encodeJson, insertRows, placeholders, type Column, type Sql } from '../engine/sql.js';
import type { Ledger } from '../ledger.js';
import { plainRow, plainRows } from '../orm/entity-rows.js';
import { sqlFor } from '../orm/em-sql.js';
import { recordAudit, type AuditContext } from '../audit/audit-writes.js';
import type { JobDetail, JobFilter } from '../jobs/job-queries.js';
import { newId } from '../ids.js';
import { writeRecordDocuments } from '../search/record-documents.js';
import { NotFoundError } from '../../errors.js';

/** The segment rows, newest first. */
export function listSegments(ledger: Ledger, filter: { status?: ArchiveSegmentRow['status']; limit?: number } = {}): Promise<ArchiveSegmentRow[]> {
  return ledger.readEntities(async (em) =>
    plainRows(
      ArchiveSegmentEntity,
      await em.find(ArchiveSegmentEntity, filter.status ? { status: filter.status } : {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: filter.limit ?? 1000 }),
    ),
  );
}

/** One segment's row; a typed not-found error when there is none. */
export function getSegment(ledger: Ledger, segmentId: string): Promise<ArchiveSegmentRow> {
  return ledger.readEntities(async (em) => {
    const row = await em.findOne(ArchiveSegmentEntity, { id: segmentId });
    if (!row) throw new NotFoundError('archive segment', segmentId);
    return plainRow(ArchiveSegmentEntity, row);
  });
}

/** The ids among `segmentIds` that have a row (active or restored). */
export function knownSegmentIds(ledger: Ledger, segmentIds: readonly string[]): Promise<Map<string, ArchiveSegmentRow['status']>> {
  return ledger.readEntities(async (em) => {
    const known = new Map<string, ArchiveSegmentRow['status']>();
    for (let at = 0; at < segmentIds.length; at += 500) {
      const rows = await em.find(ArchiveSegmentEntity, { id: { $in: segmentIds.slice(at, at + 500) } }, { fields: ['id', 'status'] });
      for (const row of rows) known.set(row.id, row.status);
    }
    return known;
  });
}

/** The index rows of `jobIds` that exist (archived jobs), by job id. */
export function findArchivedJobs(ledger: Ledger, jobIds: readonly string[]): Promise<Map<string, ArchivedJobRow>> {
  return ledger.readEntities(async (em) => {
    const rows = await em.find(ArchivedJobEntity, { jobId: { $in: [...jobIds] } });
    return new Map(plainRows(ArchivedJobEntity, rows).map((r) => [r.jobId, r]));
  });
}

/** How many index rows point at `segmentId`. */
export function countSegmentJobs(ledger: Ledger, segmentId: string): Promise<number> {
  return ledger.readEntities((em) => em.count(ArchivedJobEntity, { segmentId }));
}

/** The filters the index serves: the job listing's, except payload fields and error text (checked on the records). */
export type ArchivedJobFilter = Pick<JobFilter, 'status' | 'name' | 'queue' | 'runId' | 'kind' | 'since' | 'until'>;

/** A page of archived jobs matching `filter`, newest first, after `before` (keyset on created_at, job id). */
export function listArchivedJobs(
  ledger: Ledger,
  filter: ArchivedJobFilter,
  page: { limit: number; before?: { createdAt: number; jobId: string } },
): Promise<ArchivedJobRow[]> {
  return ledger.readEntities(async (em) => {
    const list = <T>(value: T | T[] | undefined): T[] | undefined => (value === undefined ? undefined : Array.isArray(value) ? value : [value]);
    const and: object[] = [];
    const add = (field: keyof ArchivedJobRow, values: unknown[] | undefined) => {
      if (values !== undefined) and.push({ [field]: { $in: values } });
    };
    add('status', list(filter.status));
    add('name', list(filter.name));
    add('queue', list(filter.queue));
    add('runId', list(filter.runId));
    if (filter.kind === 'stage') and.push({ pipelineId: { $ne: null } });
    if (filter.kind === 'job') and.push({ pipelineId: null });
    if (filter.since !== undefined) and.push({ createdAt: { $gte: filter.since } });
    if (filter.until !== undefined) and.push({ createdAt: { $lt: filter.until } });
    if (page.before) {
      const { createdAt, jobId } = page.before;
      and.push({ $or: [{ createdAt: { $lt: createdAt } }, { createdAt, jobId: { $lt: jobId } }] });
    }
    const rows = await em.find(ArchivedJobEntity, and.length ? { $and: and } : {}, { orderBy: { createdAt: 'desc', jobId: 'desc' }, limit: page.limit });
    return plainRows(ArchivedJobEntity, rows);
  });
}

const tables = [
  { table: 'jobs', entity: JobEntity },
  { table: 'attempts', entity: AttemptEntity },
  { table: 'events', entity: EventEntity },
] as const;

/** A table's columns (all but the PostgreSQL-only commit order of events, which its default sets). */
function restoreColumns(entity: (typeof tables)[number]['entity']): { properties: string[]; columns: Column[] } {
  const properties = (allPropertiesOf(entity as never) as string[]).filter((p) => p !== 'txId');
  return { properties, columns: entityColumns(entity as never, properties as never) };
}

const restorable = tables.map(({ table, entity }) => ({ table, ...restoreColumns(entity) }));

function values(row: Record<string, unknown>, properties: readonly string[], columns: readonly Column[]): unknown[] {
  return properties.map((p, i) => (columns[i]!.type === 'json' ? encodeJson(row[p] ?? null) : (row[p] ?? null)));
}

export interface RestoredSegment {
  jobs: number;
  attempts: number;
  events: number;
  /** False when the segment was restored before: nothing was written (a restore run again). */
  restored: boolean;
}

/**
 * Brings `records` (the verified contents of `segment`) back into the live tables in one
 * transaction: only the jobs whose index rows still name this segment, then those index rows go and
 * the segment row becomes `restored`, with an audit row. Run again, it finds no index rows and
 * writes nothing.
 */
export function restoreSegmentRows(
  ledger: Ledger,
  input: { segment: ArchiveSegmentRow; records: readonly JobDetail[]; audit: AuditContext; reason: string | null; now: number },
): Promise<RestoredSegment> {
  const auditId = newId('aud');
  return ledger.unitOfWork(async (em) => {
    const sql = sqlFor(em);
    const indexed = new Set((await em.find(ArchivedJobEntity, { segmentId: input.segment.id }, { fields: ['jobId'] })).map((r) => r.jobId));
    if (indexed.size === 0) return { jobs: 0, attempts: 0, events: 0, restored: false };
    const chosen = input.records.filter((r) => indexed.has(r.job.id));
    const rows = [chosen.map((r) => r.job), chosen.flatMap((r) => r.attempts), chosen.flatMap((r) => r.events)];
    for (const [i, { table, properties, columns }] of restorable.entries()) {
      await insertRows(sql, table, columns, rows[i]!.map((row) => values(row as unknown as Record<string, unknown>, properties, columns)));
    }
    // Searchable again as it was before the move (search/record-documents.ts says why not by the indexer).
    await writeRecordDocuments(sql, chosen);
    await deleteIndexRows(sql, [...indexed]);
    await em.nativeUpdate(ArchiveSegmentEntity, { id: input.segment.id, status: 'active' }, { status: 'restored', restoredAt: input.now });
    recordAudit(em, input.audit, {
      id: auditId,
      action: 'archive.restore',
      subjectType: 'archive_segment',
      subjectId: input.segment.id,
      reason: input.reason,
      changes: { status: { before: 'active', after: 'restored' } },
      count: chosen.length,
      createdAt: input.now,
    });
    return { jobs: chosen.length, attempts: rows[1]!.length, events: rows[2]!.length, restored: true };
  });
}

async function deleteIndexRows(sql: Sql, jobIds: readonly string[]): Promise<void> {
  for (let at = 0; at < jobIds.length; at += 500) {
    const chunk = jobIds.slice(at, at + 500);
    await sql.run(`DELETE FROM archived_jobs WHERE job_id IN (${placeholders(chunk.length)})`, chunk);
  }
}
