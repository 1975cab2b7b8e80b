/**
 * Retention: deletes finished jobs (completed, failed, cancelled) that finished longer ago than their
 * queue's retention, together with their attempts and their events, in batches of one transaction
 * each. A job that an operator moved back to `pending` between the batch's select and its delete is
 * not deleted (the delete repeats the status condition), and neither are its attempts and events:
 * only the ids the job delete returned are followed.
 *
 * Under the default retention, the events of other subjects go too: those of runs and pipelines that
 * finished before the cutoff (a pipeline live or archived), and state events older than it (each
 * change's `state_transitions` row stays, and with it the entry's versions). Old `maintenance_runs`
 * rows go too, except each task's newest scheduled row, which missed-tick detection starts from.
 *
 * A pruned job's full-text search document goes with it, in the same transaction.
 *
 * The audit log is never pruned by job retention: it has its own (`auditDays`, default forever).
 *
 * Through MikroORM, one EntityManager fork per batch (`Ledger.unitOfWork`): rows are found through
 * their entities and deleted by id with `nativeDelete`, a few hundred at a time, which is set-based
 * work the unit of work need not track row by row.
 */
import type { FindOptions, ObjectQuery, QBFilterQuery } from '@mikro-orm/core';
import { LockMode, raw } from '../orm/mikro-orm.js';
import { InvalidOptionError } from '../../errors.js';
import type { Ledger } from '../ledger.js';
import { finalJobStatuses } from '../lifecycle.js';
import { dialectOf, placeholders, toNumber } from '../engine/sql.js';
import { AttemptEntity, AuditEntity, EventEntity, JobEntity, MaintenanceRunEntity, PipelineEntity, PipelineHistoryEntity, RunEntity } from '../entities/index.js';
import type { AuditRow, EventRow, JobRow, MaintenanceRunRow } from '../entities/index.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { sqlFor } from '../orm/em-sql.js';
import { deleteDocuments } from '../search/search-documents.js';

export interface RetentionPolicy {
  /** Days a finished job is kept after it finished; `null` keeps jobs forever. */
  defaultDays: number | null;
  /** Per-queue overrides of `defaultDays`; `null` keeps that queue's jobs forever. */
  byQueue?: Readonly<Record<string, number | null>>;
  /** Days an audit row is kept; `null` or absent keeps the audit log forever. */
  auditDays?: number | null;
}

export interface PruneOptions {
  policy: RetentionPolicy;
  /** The reference time (epoch ms). Default `Date.now()`. */
  now?: number;
  /** Jobs deleted per transaction. Default 500. */
  batchSize?: number;
  /** At most this many jobs per call; the next run takes the rest. Default 100,000. */
  limit?: number;
  /** Count what would be deleted, delete nothing. Default false. */
  dryRun?: boolean;
  /** Checked between batches: an aborted signal ends the call early with what was done so far. */
  signal?: AbortSignal;
  /** Delete no jobs (the cold archive moves them instead); the other rows go as usual. Default false. */
  keepJobs?: boolean;
}

export interface PruneCounts {
  jobs: number;
  attempts: number;
  events: number;
  /** Full-text search documents of the deleted jobs (search/search-documents.ts). */
  searchDocuments: number;
  maintenanceRuns: number;
  /** Events of finished runs, of finished pipelines, and of state changes, past the default retention. */
  runEvents: number;
  pipelineEvents: number;
  stateEvents: number;
  /** Audit rows past the audit retention. */
  audit: number;
  [count: string]: number;
}

const dayMs = 86_400_000;
const finalList = finalJobStatuses.map((s) => `'${s}'`).join(', ');

export async function pruneByRetention(ledger: Ledger, options: PruneOptions): Promise<PruneCounts> {
  const now = options.now ?? Date.now();
  const batchSize = positive('batchSize', options.batchSize ?? 500);
  const limit = positive('limit', options.limit ?? 100_000);
  const dryRun = options.dryRun ?? false;
  const counts: PruneCounts = { jobs: 0, attempts: 0, events: 0, searchDocuments: 0, maintenanceRuns: 0, runEvents: 0, pipelineEvents: 0, stateEvents: 0, audit: 0 };
  const add = (found: JobRowCounts): void => {
    counts.jobs += found.jobs;
    counts.attempts += found.attempts;
    counts.events += found.events;
    counts.searchDocuments += found.searchDocuments;
  };

  for (const group of options.keepJobs ? [] : retentionGroups(options.policy, now)) {
    if (dryRun) {
      add(await ledger.readEntities((em) => countPrunable(em, group)));
      continue;
    }
    while (counts.jobs < limit && !options.signal?.aborted) {
      const size = Math.min(batchSize, limit - counts.jobs);
      const batch = await ledger.unitOfWork((em) => deleteBatch(em, group, size));
      add(batch);
      if (batch.selected < size) break;
    }
  }

  const batches = { batchSize, dryRun, ...(options.signal ? { signal: options.signal } : {}) };
  if (options.policy.defaultDays !== null) {
    const cutoff = now - options.policy.defaultDays * dayMs;
    counts.maintenanceRuns = await pruneRows(ledger, oldMaintenanceRuns(cutoff), batches);
    counts.runEvents = await pruneRows(ledger, eventsOfFinishedRuns(cutoff), batches);
    counts.pipelineEvents = await pruneRows(ledger, eventsOfFinishedPipelines(cutoff), batches);
    counts.stateEvents = await pruneRows(ledger, eventRows(() => ({ subjectType: 'state', createdAt: { $lt: cutoff } })), batches);
  }
  const auditDays = options.policy.auditDays ?? null;
  if (auditDays !== null) {
    const cutoff = now - checkDays('auditDays', auditDays) * dayMs;
    counts.audit = await pruneRows(ledger, auditRows(() => ({ createdAt: { $lt: cutoff } })), batches);
  }
  return counts;
}

/** Rows of one table past a cutoff, found and deleted by id in batches, through its entity. */
interface PrunableRows {
  count(em: LedgerEm): Promise<number>;
  ids(em: LedgerEm, limit: number): Promise<string[]>;
  delete(em: LedgerEm, ids: string[]): Promise<number>;
}

/**
 * Each table's rows, typed by its entity. `where` is built on the operation's EntityManager, as a
 * condition may hold a subquery of that fork (QueryBuilder conditions take subqueries).
 */
type Where<T> = (em: LedgerEm) => QBFilterQuery<T> | Promise<QBFilterQuery<T>>;

function eventRows(where: Where<EventRow>): PrunableRows {
  return {
    count: async (em) => em.createQueryBuilder(EventEntity).where(await where(em)).getCount(),
    ids: async (em, limit) => idsOf(await em.createQueryBuilder(EventEntity).select('id').where(await where(em)).limit(limit).execute('all', false)),
    delete: (em, ids) => em.nativeDelete(EventEntity, { id: { $in: ids } }),
  };
}

function auditRows(where: Where<AuditRow>): PrunableRows {
  return {
    count: async (em) => em.createQueryBuilder(AuditEntity).where(await where(em)).getCount(),
    ids: async (em, limit) => idsOf(await em.createQueryBuilder(AuditEntity).select('id').where(await where(em)).limit(limit).execute('all', false)),
    delete: (em, ids) => em.nativeDelete(AuditEntity, { id: { $in: ids } }),
  };
}

function maintenanceRunRows(where: Where<MaintenanceRunRow>): PrunableRows {
  return {
    count: async (em) => em.createQueryBuilder(MaintenanceRunEntity).where(await where(em)).getCount(),
    ids: async (em, limit) => idsOf(await em.createQueryBuilder(MaintenanceRunEntity).select('id').where(await where(em)).limit(limit).execute('all', false)),
    delete: (em, ids) => em.nativeDelete(MaintenanceRunEntity, { id: { $in: ids } }),
  };
}

function idsOf(rows: readonly { id: string }[]): string[] {
  return rows.map((r) => r.id);
}

/** Deletes (or with `dryRun` counts) the rows `rows` names, `batchSize` per transaction. */
async function pruneRows(ledger: Ledger, rows: PrunableRows, options: { batchSize: number; dryRun: boolean; signal?: AbortSignal }): Promise<number> {
  if (options.dryRun) return ledger.readEntities((em) => rows.count(em));
  let total = 0;
  while (!options.signal?.aborted) {
    const deleted = await ledger.unitOfWork(async (em) => {
      const ids = await rows.ids(em, options.batchSize);
      return ids.length === 0 ? 0 : rows.delete(em, ids);
    });
    total += deleted;
    if (deleted < options.batchSize) break;
  }
  return total;
}

const finalRunStatuses = ['completed', 'failed', 'cancelled'] as const;

/** The events of runs that finished before the cutoff. */
function eventsOfFinishedRuns(cutoff: number): PrunableRows {
  return eventRows((em) => ({
    subjectType: 'run',
    subjectId: { $in: em.createQueryBuilder(RunEntity).select('id').where({ status: { $in: [...finalRunStatuses] }, finishedAt: { $lt: cutoff } }).getKnexQuery() },
  }));
}

/** The events of pipelines that finished before the cutoff, archived or not. */
function eventsOfFinishedPipelines(cutoff: number): PrunableRows {
  return eventRows((em) => ({
    subjectType: 'pipeline',
    $or: [
      { subjectId: { $in: em.createQueryBuilder(PipelineHistoryEntity).select('id').where({ completedAt: { $lt: cutoff } }).getKnexQuery() } },
      { subjectId: { $in: em.createQueryBuilder(PipelineEntity).select('id').where({ status: { $ne: 'running' }, finishedAt: { $lt: cutoff } }).getKnexQuery() } },
    ],
  }));
}

/**
 * Finished maintenance runs ticked before the cutoff, except each task's newest scheduled row, which
 * missed-tick detection counts from: per task, rows below both the cutoff and that newest tick.
 */
function oldMaintenanceRuns(cutoff: number): PrunableRows {
  return maintenanceRunRows(async (em) => {
      const newest = await em
        .createQueryBuilder(MaintenanceRunEntity)
        .select(['task', raw('max(tick) as newest')])
        .where({ triggeredBy: { $ne: 'manual' } })
        .groupBy('task')
        .execute<{ task: string; newest: unknown }[]>('all', false);
      const bounds = new Map(newest.map((r) => [r.task, Math.min(cutoff, toNumber(r.newest))]));
      return {
        status: { $ne: 'running' },
        $or: [
          { task: { $nin: [...bounds.keys()] }, tick: { $lt: cutoff } },
          ...[...bounds].map(([task, bound]) => ({ task, tick: { $lt: bound } })),
        ],
      };
  });
}

/** Which jobs a retention policy lets go: per overridden queue, and the rest under the default. */
export interface RetentionGroup {
  cutoff: number;
  /** The condition on `queue` and its parameters. */
  queueSql: string;
  queueParams: string[];
  /** The same condition as an entity filter. */
  queues: { queue?: string | { $nin: string[] } };
}

export function retentionGroups(policy: RetentionPolicy, now: number): RetentionGroup[] {
  const byQueue = Object.entries(policy.byQueue ?? {});
  const groups: RetentionGroup[] = [];
  for (const [queue, days] of byQueue) {
    if (days === null) continue;
    groups.push({ cutoff: now - checkDays(`byQueue.${queue}`, days) * dayMs, queueSql: 'queue = ?', queueParams: [queue], queues: { queue } });
  }
  if (policy.defaultDays !== null) {
    const others = byQueue.map(([queue]) => queue);
    groups.push({
      cutoff: now - checkDays('defaultDays', policy.defaultDays) * dayMs,
      queueSql: others.length ? `queue NOT IN (${placeholders(others.length)})` : '1 = 1',
      queueParams: others,
      queues: others.length ? { queue: { $nin: others } } : {},
    });
  }
  return groups;
}

export function prunableWhere(group: RetentionGroup): { sql: string; params: unknown[] } {
  return {
    // A job is created before it finishes, so the created_at bound drops nothing (clock skew between
    // hosts can only delay a job by that skew); it lets the created_at index find the candidates,
    // status being deliberately unindexed (job.entity.ts).
    sql: `created_at < ? AND status IN (${finalList}) AND COALESCE(finished_at, updated_at) < ? AND ${group.queueSql}`,
    params: [group.cutoff, group.cutoff, ...group.queueParams],
  };
}

/** The jobs of a retention group that may go, as an entity filter (the same rows as `prunableWhere`). */
function prunableJobs(group: RetentionGroup): ObjectQuery<JobRow> {
  return {
    // See `prunableWhere` for why the created_at bound.
    createdAt: { $lt: group.cutoff },
    status: { $in: [...finalJobStatuses] },
    $or: [{ finishedAt: { $lt: group.cutoff } }, { finishedAt: null, updatedAt: { $lt: group.cutoff } }],
    ...group.queues,
  };
}

interface JobRowCounts {
  jobs: number;
  attempts: number;
  events: number;
  searchDocuments: number;
}

async function deleteBatch(em: LedgerEm, group: RetentionGroup, size: number): Promise<JobRowCounts & { selected: number }> {
  // SKIP LOCKED (PostgreSQL): a second pruner takes other jobs instead of waiting on these, and the
  // rows taken stay as read until COMMIT. On SQLite the operation holds the write lock throughout.
  const options: FindOptions<JobRow, never, 'id'> = { fields: ['id'], orderBy: { createdAt: 'asc' }, limit: size };
  if (dialectOf(em) === 'postgresql') options.lockMode = LockMode.PESSIMISTIC_PARTIAL_WRITE;
  const selected = await em.find(JobEntity, prunableJobs(group), options);
  if (selected.length === 0) return { selected: 0, jobs: 0, attempts: 0, events: 0, searchDocuments: 0 };
  const ids = selected.map((j) => j.id);
  // The status condition again: only a job still finished goes, and only what it owns with it.
  const jobs = await em.nativeDelete(JobEntity, { id: { $in: ids }, status: { $in: [...finalJobStatuses] } });
  const kept = jobs === ids.length ? new Set<string>() : new Set((await em.find(JobEntity, { id: { $in: ids } }, { fields: ['id'] })).map((j) => j.id));
  const deleted = ids.filter((id) => !kept.has(id));
  if (deleted.length === 0) return { selected: selected.length, jobs: 0, attempts: 0, events: 0, searchDocuments: 0 };
  const attempts = await em.nativeDelete(AttemptEntity, { jobId: { $in: deleted } });
  const events = await em.nativeDelete(EventEntity, { subjectType: 'job', subjectId: { $in: deleted } });
  // Search documents have no entity (an FTS5 table on SQLite): the search module's own statement.
  const searchDocuments = await deleteDocuments(sqlFor(em), deleted);
  return { selected: selected.length, jobs: deleted.length, attempts, events, searchDocuments };
}

async function countPrunable(em: LedgerEm, group: RetentionGroup): Promise<JobRowCounts> {
  const prunable = () => em.createQueryBuilder(JobEntity).select('id').where(prunableJobs(group)).getKnexQuery();
  const jobs = await em.count(JobEntity, prunableJobs(group));
  const attempts = await em.createQueryBuilder(AttemptEntity).where({ jobId: { $in: prunable() } }).getCount();
  const events = await em.createQueryBuilder(EventEntity).where({ subjectType: 'job', subjectId: { $in: prunable() } }).getCount();
  const where = prunableWhere(group);
  const [documents] = await sqlFor(em).all(`SELECT COUNT(*) AS n FROM search_documents WHERE job_id IN (SELECT id FROM jobs WHERE ${where.sql})`, where.params);
  return { jobs, attempts, events, searchDocuments: toNumber(documents?.n ?? 0) };
}

function positive(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(option, 'a whole number >= 1', value);
  return value;
}

function checkDays(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError(`retention ${option}`, 'a whole number of days >= 0, or null (forever)', value);
  return value;
}
