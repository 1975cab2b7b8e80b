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
 */
import { InvalidOptionError } from '../../errors.js';
import type { Ledger } from '../ledger.js';
import { finalJobStatuses } from '../lifecycle.js';
import { placeholders, toNumber, type Sql } from '../engine/sql.js';
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
  const counts: PruneCounts = { jobs: 0, attempts: 0, events: 0, searchDocuments: 0, maintenanceRuns: 0, runEvents: 0, pipelineEvents: 0, stateEvents: 0, audit: 0 };

  for (const group of options.keepJobs ? [] : retentionGroups(options.policy, now)) {
    if (options.dryRun) {
      const found = await ledger.read((sql) => countPrunable(sql, group));
      counts.jobs += found.jobs;
      counts.attempts += found.attempts;
      counts.events += found.events;
      counts.searchDocuments += found.searchDocuments;
      continue;
    }
    while (counts.jobs < limit && !options.signal?.aborted) {
      const size = Math.min(batchSize, limit - counts.jobs);
      const batch = await ledger.transaction((tx) => deleteBatch(tx, group, size));
      counts.jobs += batch.jobs;
      counts.attempts += batch.attempts;
      counts.events += batch.events;
      counts.searchDocuments += batch.searchDocuments;
      if (batch.selected < size) break;
    }
  }

  if (options.policy.defaultDays !== null) {
    const cutoff = now - options.policy.defaultDays * dayMs;
    counts.maintenanceRuns = options.dryRun
      ? await ledger.read((sql) => countOldMaintenanceRuns(sql, cutoff))
      : await deleteOldMaintenanceRuns(ledger, cutoff, batchSize, options.signal);
    for (const [count, rows] of Object.entries(otherEvents)) {
      counts[count] = await pruneRows(ledger, rows, cutoff, { batchSize, dryRun: options.dryRun ?? false, ...(options.signal ? { signal: options.signal } : {}) });
    }
  }
  const auditDays = options.policy.auditDays ?? null;
  if (auditDays !== null) {
    const cutoff = now - checkDays('auditDays', auditDays) * dayMs;
    counts.audit = await pruneRows(ledger, oldAuditRows, cutoff, { batchSize, dryRun: options.dryRun ?? false, ...(options.signal ? { signal: options.signal } : {}) });
  }
  return counts;
}

/** Rows past a cutoff: `FROM ... WHERE ...` selecting `id`, with `?` for the cutoff (every `?` is the cutoff). */
interface PrunableRows {
  table: 'events' | 'audit';
  where: string;
}

const finalRuns = `'completed', 'failed', 'cancelled'`;

/** The events of other subjects than jobs that the default retention lets go. */
const otherEvents: Record<'runEvents' | 'pipelineEvents' | 'stateEvents', PrunableRows> = {
  runEvents: {
    table: 'events',
    where: `subject_type = 'run' AND subject_id IN (SELECT id FROM runs WHERE status IN (${finalRuns}) AND finished_at < ?)`,
  },
  pipelineEvents: {
    table: 'events',
    where: `subject_type = 'pipeline' AND (subject_id IN (SELECT id FROM pipeline_history WHERE completed_at < ?)
      OR subject_id IN (SELECT id FROM pipelines WHERE status <> 'running' AND finished_at < ?))`,
  },
  stateEvents: { table: 'events', where: `subject_type = 'state' AND created_at < ?` },
};

const oldAuditRows: PrunableRows = { table: 'audit', where: 'created_at < ?' };

/** Deletes (or with `dryRun` counts) `rows` older than `cutoff`, `batchSize` per transaction. */
async function pruneRows(ledger: Ledger, rows: PrunableRows, cutoff: number, options: { batchSize: number; dryRun: boolean; signal?: AbortSignal }): Promise<number> {
  const params = Array.from({ length: rows.where.split('?').length - 1 }, () => cutoff);
  if (options.dryRun) {
    const [row] = await ledger.read((sql) => sql.all(`SELECT COUNT(*) AS n FROM ${rows.table} WHERE ${rows.where}`, params));
    return toNumber(row?.n ?? 0);
  }
  let total = 0;
  while (!options.signal?.aborted) {
    const deleted = await ledger.transaction((tx) =>
      tx.run(`DELETE FROM ${rows.table} WHERE id IN (SELECT id FROM ${rows.table} WHERE ${rows.where} LIMIT ?)`, [...params, options.batchSize]),
    );
    total += deleted;
    if (deleted < options.batchSize) break;
  }
  return total;
}

/** Which jobs a retention policy lets go: per overridden queue, and the rest under the default. */
export interface RetentionGroup {
  cutoff: number;
  /** The condition on `queue` and its parameters. */
  queueSql: string;
  queueParams: string[];
}

export function retentionGroups(policy: RetentionPolicy, now: number): RetentionGroup[] {
  const byQueue = Object.entries(policy.byQueue ?? {});
  const groups: RetentionGroup[] = [];
  for (const [queue, days] of byQueue) {
    if (days === null) continue;
    groups.push({ cutoff: now - checkDays(`byQueue.${queue}`, days) * dayMs, queueSql: 'queue = ?', queueParams: [queue] });
  }
  if (policy.defaultDays !== null) {
    const others = byQueue.map(([queue]) => queue);
    groups.push({
      cutoff: now - checkDays('defaultDays', policy.defaultDays) * dayMs,
      queueSql: others.length ? `queue NOT IN (${placeholders(others.length)})` : '1 = 1',
      queueParams: others,
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

async function deleteBatch(tx: Sql, group: RetentionGroup, size: number): Promise<{ selected: number; jobs: number; attempts: number; events: number; searchDocuments: number }> {
  const where = prunableWhere(group);
  // SKIP LOCKED: a second pruner on PostgreSQL takes other jobs instead of waiting on these.
  const lock = tx.dialect === 'postgresql' ? ' FOR UPDATE SKIP LOCKED' : '';
  const selected = await tx.all(`SELECT id FROM jobs WHERE ${where.sql} ORDER BY created_at LIMIT ?${lock}`, [...where.params, size]);
  if (selected.length === 0) return { selected: 0, jobs: 0, attempts: 0, events: 0, searchDocuments: 0 };
  const candidates = selected.map((r) => r.id as string);
  const deleted = (
    await tx.all(`DELETE FROM jobs WHERE id IN (${placeholders(candidates.length)}) AND status IN (${finalList}) RETURNING id`, candidates)
  ).map((r) => r.id as string);
  if (deleted.length === 0) return { selected: selected.length, jobs: 0, attempts: 0, events: 0, searchDocuments: 0 };
  const inList = placeholders(deleted.length);
  const attempts = await tx.run(`DELETE FROM attempts WHERE job_id IN (${inList})`, deleted);
  const events = await tx.run(`DELETE FROM events WHERE subject_type = 'job' AND subject_id IN (${inList})`, deleted);
  const searchDocuments = await deleteDocuments(tx, deleted);
  return { selected: selected.length, jobs: deleted.length, attempts, events, searchDocuments };
}

async function countPrunable(sql: Sql, group: RetentionGroup): Promise<{ jobs: number; attempts: number; events: number; searchDocuments: number }> {
  const where = prunableWhere(group);
  const [jobs] = await sql.all(`SELECT COUNT(*) AS n FROM jobs WHERE ${where.sql}`, where.params);
  const [attempts] = await sql.all(`SELECT COUNT(*) AS n FROM attempts WHERE job_id IN (SELECT id FROM jobs WHERE ${where.sql})`, where.params);
  const [events] = await sql.all(
    `SELECT COUNT(*) AS n FROM events WHERE subject_type = 'job' AND subject_id IN (SELECT id FROM jobs WHERE ${where.sql})`,
    where.params,
  );
  const [documents] = await sql.all(`SELECT COUNT(*) AS n FROM search_documents WHERE job_id IN (SELECT id FROM jobs WHERE ${where.sql})`, where.params);
  return { jobs: toNumber(jobs?.n ?? 0), attempts: toNumber(attempts?.n ?? 0), events: toNumber(events?.n ?? 0), searchDocuments: toNumber(documents?.n ?? 0) };
}

// A task's newest scheduled row stays: missed-tick detection counts from it.
const oldMaintenanceRuns = `FROM maintenance_runs m WHERE m.tick < ? AND m.status <> 'running'
  AND m.tick < COALESCE((SELECT MAX(m2.tick) FROM maintenance_runs m2 WHERE m2.task = m.task AND m2.triggered_by <> 'manual'), ?)`;

async function countOldMaintenanceRuns(sql: Sql, cutoff: number): Promise<number> {
  const [row] = await sql.all(`SELECT COUNT(*) AS n ${oldMaintenanceRuns}`, [cutoff, cutoff]);
  return toNumber(row?.n ?? 0);
}

async function deleteOldMaintenanceRuns(ledger: Ledger, cutoff: number, batchSize: number, signal?: AbortSignal): Promise<number> {
  let total = 0;
  while (!signal?.aborted) {
    const deleted = await ledger.transaction((tx) =>
      tx.run(`DELETE FROM maintenance_runs WHERE id IN (SELECT m.id ${oldMaintenanceRuns} LIMIT ?)`, [cutoff, cutoff, batchSize]),
    );
    total += deleted;
    if (deleted < batchSize) break;
  }
  return total;
}

function positive(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidOptionError(option, 'a whole number >= 1', value);
  return value;
}

function checkDays(option: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new InvalidOptionError(`retention ${option}`, 'a whole number of days >= 0, or null (forever)', value);
  return value;
}
