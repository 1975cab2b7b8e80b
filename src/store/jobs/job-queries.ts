/**
 * Read-side queries: one job with its attempts and timeline, job and event listings with filters,
 * and counts. Not found is a typed error. Filters are parameterised; the only dialect difference
 * (reaching into the JSON payload) is built in `payloadFieldSql`.
 */
import { InvalidOptionError, NotFoundError } from '../../errors.js';
import type { z } from 'zod';
import type { AttemptRow, EventRow, JobRow, SubjectType } from '../entities/index.js';
import { everyJobsEventTypes, jobStatuses, type JobStatus } from '../lifecycle.js';
import {
  countJobsSchema,
  idArgumentSchema,
  jobKinds,
  listAttemptsSchema,
  listEventsSchema,
  listJobsSchema,
  parseQuery,
  searchJobsSchema,
  payloadPathPattern,
} from '../query-schemas.js';
import { toAttemptRow, toEventRow, toJobRow } from './job-rows.js';
import { notIndexed, placeholders, toNumber, type Sql } from '../engine/sql.js';
import { jobsMatching, parseSearchText } from '../search/search-query.js';

export interface JobDetail {
  job: JobRow;
  attempts: AttemptRow[];
  events: EventRow[];
}

/** A job of its own, or the job of a pipeline stage (its `pipelineId` and `stage` are set). */
export type JobKind = (typeof jobKinds)[number];

export interface JobFilter {
  /** One status or a list of them. */
  status?: JobStatus | JobStatus[];
  /** One job type or a list of them. */
  name?: string | string[];
  queue?: string | string[];
  runId?: string | string[];
  /** `stage`: only the jobs of pipeline stages; `job`: only the others. Default both. */
  kind?: JobKind;
  /** Created at or after (epoch ms). */
  since?: number;
  /** Created before (epoch ms). */
  until?: number;
  /** Payload fields that must equal a value, compared as text: `{ 'customer.id': '42' }`. At most 20. */
  where?: Record<string, string | number | boolean>;
  /** Text the last error's message contains, ignoring ASCII case (1 to 200 characters). */
  errorContains?: string;
  /**
   * Words or "quoted phrases" in the job's error messages (any attempt's), through the full-text
   * search index (search/search-query.ts): as far as the index has followed the event log.
   */
  errorMatches?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
  /**
   * Keyset paging: only jobs listed after this one (newest first), given as the last job of the
   * previous page. Unlike `offset`, a page never repeats or skips a job when new ones arrive.
   */
  before?: { createdAt: number; id: string };
}

export interface EventFilter {
  /** One event type (`job.failed`) or a list of them; an unknown type is refused. */
  type?: string | string[];
  subjectType?: SubjectType;
  subjectId?: string;
  since?: number;
  until?: number;
  /** Default 100, at most 10,000. */
  limit?: number;
  /** Keyset paging: only events listed after this one (newest first), the last of the previous page. */
  before?: { createdAt: number; id: string };
}

export async function getJobDetail(sql: Sql, jobId: string): Promise<JobDetail> {
  const job = await getJob(sql, jobId);
  const attempts = (await sql.all('SELECT * FROM attempts WHERE job_id = ? ORDER BY number', [jobId])).map((r) =>
    toAttemptRow(sql.dialect, r),
  );
  const events = (
    await sql.all(`SELECT * FROM events WHERE subject_type = 'job' AND subject_id = ? ORDER BY seq`, [jobId])
  ).map((r) => toEventRow(sql.dialect, r));
  return { job, attempts, events };
}

export async function getJob(sql: Sql, jobId: string): Promise<JobRow> {
  jobId = parseQuery(idArgumentSchema, jobId, 'jobId');
  const [raw] = await sql.all('SELECT * FROM jobs WHERE id = ?', [jobId]);
  if (!raw) throw new NotFoundError('job', jobId);
  return toJobRow(sql.dialect, raw);
}

export async function listJobs(sql: Sql, given: JobFilter = {}): Promise<JobRow[]> {
  const filter = parseQuery(listJobsSchema, given);
  const { conditions, params } = jobWhere(sql, filter);
  if (filter.before) keysetBefore(conditions, params, filter.before);
  // LIMIT and OFFSET are written into the statement (validated whole numbers): told of a bound
  // LIMIT, SQLite's planner could not see the page was small and sorted the whole table instead of
  // walking the (created_at, id) index.
  const rows = await sql.all(
    `SELECT * FROM jobs${whereClause(conditions)} ORDER BY created_at DESC, id DESC LIMIT ${filter.limit ?? 100} OFFSET ${filter.offset ?? 0}`,
    params,
  );
  return rows.map((r) => toJobRow(sql.dialect, r));
}

export interface JobSearch {
  /** The matching jobs, newest first, at most `limit`. */
  jobs: JobRow[];
  /**
   * Where the search stopped before the end of the ledger, having read `scanLimit` jobs: the oldest
   * job read. Fewer than `limit` jobs were found among them; passing this as `before` continues
   * the search with the next, older ones. Null when the search reached the oldest job, or filled
   * the page (continue after the last job found, as with `listJobs`).
   */
  scannedTo: { createdAt: number; id: string } | null;
}

/**
 * `listJobs` that reads at most `scanLimit` jobs. The filters an index serves (job type, queue, run,
 * time) choose the jobs, newest first; the ones no index serves (status, payload fields, error
 * text: a job's status changes with every attempt and is deliberately not indexed) are checked on
 * at most the `scanLimit` newest of those. A filter that matches few jobs then answers in bounded
 * time with a position to continue from, rather than reading the whole ledger before answering.
 */
export async function searchJobs(sql: Sql, given: Omit<JobFilter, 'offset'> & { scanLimit: number }): Promise<JobSearch> {
  const { scanLimit = given.scanLimit, ...filter } = parseQuery(searchJobsSchema, given);
  const limit = filter.limit ?? 100;
  const { status, where, errorContains, ...indexed } = filter;
  if (status === undefined && where === undefined && errorContains === undefined) {
    return { jobs: await listJobs(sql, filter), scannedTo: null };
  }
  const window = jobWhere(sql, indexed);
  if (filter.before) keysetBefore(window.conditions, window.params, filter.before);
  // The oldest job of the window: the scanLimit-th newest the index-served filters choose.
  const [edge] = await sql.all(
    `SELECT created_at, id FROM jobs${whereClause(window.conditions)} ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET ${scanLimit - 1}`,
    window.params,
  );
  const checked = jobWhere(sql, { status, where, errorContains });
  const conditions = [...window.conditions, ...checked.conditions];
  const params = [...window.params, ...checked.params];
  if (edge) {
    conditions.push('(created_at, id) >= (?, ?)');
    params.push(toNumber(edge.created_at), edge.id);
  }
  const rows = await sql.all(`SELECT * FROM jobs${whereClause(conditions)} ORDER BY created_at DESC, id DESC LIMIT ${limit}`, params);
  const jobs = rows.map((r) => toJobRow(sql.dialect, r));
  return { jobs, scannedTo: edge && jobs.length < limit ? { createdAt: toNumber(edge.created_at), id: String(edge.id) } : null };
}

/** Keyset paging, newest first: only the jobs after `before`, a row-value comparison either index walks. */
function keysetBefore(conditions: string[], params: unknown[], before: { createdAt: number; id: string }): void {
  conditions.push('(created_at, id) < (?, ?)');
  params.push(before.createdAt, before.id);
}

export async function countJobsByStatus(sql: Sql, given: Omit<JobFilter, 'limit' | 'offset' | 'before'> = {}): Promise<Record<JobStatus, number>> {
  const { conditions, params } = jobWhere(sql, parseQuery(countJobsSchema, given));
  const clause = whereClause(conditions);
  const rows = await sql.all(`SELECT status, COUNT(*) AS n FROM jobs${clause} GROUP BY status`, params);
  const counts = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
  for (const r of rows) counts[r.status as JobStatus] = toNumber(r.n);
  return counts;
}

/** The predicate of `events_rare_type_created_at_index` (migration RareEventTypes). */
export const rareEventTypesPredicate = `type NOT IN (${everyJobsEventTypes.map((t) => `'${t}'`).join(', ')})`;

export async function listEvents(sql: Sql, given: EventFilter = {}): Promise<EventRow[]> {
  const filter = parseQuery(listEventsSchema, given);
  const conditions: string[] = [];
  const params: unknown[] = [];
  const types = listOf(filter.type);
  if (types.length) {
    // The index by type holds only the rarer events; its own predicate, repeated word for word,
    // lets either planner use it. The events every job has (about every other row) are found by
    // walking created_at, newest first: told of a type term it could not use, SQLite's planner
    // otherwise chose to read the whole table and sort it.
    const common = types.some((t) => (everyJobsEventTypes as readonly string[]).includes(t));
    conditions.push(`${common ? notIndexed(sql.dialect, 'type') : 'type'} IN (${placeholders(types.length)})`);
    if (!common) conditions.push(rareEventTypesPredicate);
    params.push(...types);
  }
  if (filter.subjectType !== undefined) {
    conditions.push('subject_type = ?');
    params.push(filter.subjectType);
  }
  if (filter.subjectId !== undefined) {
    conditions.push('subject_id = ?');
    params.push(filter.subjectId);
  }
  if (filter.since !== undefined) {
    conditions.push('created_at >= ?');
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    conditions.push('created_at < ?');
    params.push(filter.until);
  }
  if (filter.before) {
    conditions.push('(created_at < ? OR (created_at = ? AND id < ?))');
    params.push(filter.before.createdAt, filter.before.createdAt, filter.before.id);
  }
  const clause = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  const rows = await sql.all(`SELECT * FROM events${clause} ORDER BY created_at DESC, id DESC LIMIT ?`, [...params, filter.limit ?? 100]);
  return rows.map((r) => toEventRow(sql.dialect, r));
}

/** Attempts of many jobs at once (for summaries and exports). */
export async function listAttempts(sql: Sql, given: { jobIds?: readonly string[]; since?: number; limit?: number }): Promise<AttemptRow[]> {
  const filter = parseQuery(listAttemptsSchema, given);
  const conditions: string[] = [];
  const params: unknown[] = [];
  if (filter.jobIds) {
    if (filter.jobIds.length === 0) return [];
    conditions.push(`job_id IN (${placeholders(filter.jobIds.length)})`);
    params.push(...filter.jobIds);
  }
  if (filter.since !== undefined) {
    conditions.push('started_at >= ?');
    params.push(filter.since);
  }
  const clause = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  const rows = await sql.all(`SELECT * FROM attempts${clause} ORDER BY started_at LIMIT ?`, [
    ...params,
    filter.limit ?? 1_000_000,
  ]);
  return rows.map((r) => toAttemptRow(sql.dialect, r));
}

/** The conditions and parameters of a validated job filter; every value bound, lists as `IN (?, ...)`. */
export function jobWhere(sql: Sql, filter: Partial<z.output<typeof countJobsSchema>>): { conditions: string[]; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of [
    ['status', filter.status],
    ['name', filter.name],
    ['queue', filter.queue],
    ['run_id', filter.runId],
  ] as const) {
    const values = listOf<string>(value);
    if (values.length === 0) continue;
    conditions.push(values.length === 1 ? `${column} = ?` : `${column} IN (${placeholders(values.length)})`);
    params.push(...values);
  }
  if (filter.kind !== undefined) conditions.push(filter.kind === 'stage' ? 'pipeline_id IS NOT NULL' : 'pipeline_id IS NULL');
  if (filter.since !== undefined) {
    conditions.push('created_at >= ?');
    params.push(filter.since);
  }
  if (filter.until !== undefined) {
    conditions.push('created_at < ?');
    params.push(filter.until);
  }
  for (const [path, value] of Object.entries(filter.where ?? {})) {
    const field = payloadFieldSql(sql, path);
    conditions.push(`${field.expression} = ?`);
    params.push(...field.params, String(value));
  }
  if (filter.errorContains !== undefined) {
    // The message of `last_error` (an attempt's error summary), as a LIKE pattern of the literal
    // text: SQLite's LIKE ignores ASCII case; ILIKE does the same on PostgreSQL.
    const message = sql.dialect === 'postgresql' ? `last_error->>'message' ILIKE ?` : `json_extract(last_error, '$.message') LIKE ?`;
    conditions.push(`${message} ESCAPE '\\'`);
    params.push(`%${filter.errorContains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  }
  if (filter.errorMatches !== undefined) {
    const match = jobsMatching(sql.dialect, parseSearchText(filter.errorMatches, 'errorMatches'), ['error']);
    conditions.push(match.sql);
    params.push(...match.params);
  }
  return { conditions, params };
}

export function whereClause(conditions: readonly string[]): string {
  return conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
}

/** A filter that takes one value or a list, as a list. */
function listOf<T>(value: T | readonly T[] | undefined): T[] {
  return value === undefined ? [] : Array.isArray(value) ? [...(value as readonly T[])] : [value as T];
}

/** A payload field as text: `customer.id` → json_extract (SQLite) or #>> (PostgreSQL). */
function payloadFieldSql(sql: Sql, path: string): { expression: string; params: unknown[] } {
  // Every segment starts with a letter: a numeric one would be an array index on PostgreSQL but
  // an object key on SQLite (checked by the schema; checked again here, where it becomes SQL).
  if (!payloadPathPattern.test(path)) {
    throw new InvalidOptionError('where', 'a payload path like "customer.id" (letters, digits, "_", dots)', path);
  }
  const segments = path.split('.');
  if (sql.dialect === 'postgresql') return { expression: 'payload #>> ?::text[]', params: [`{${segments.join(',')}}`] };
  // json_extract turns JSON true/false into the integers 1/0; spell them as PostgreSQL's #>> does,
  // so `{ flag: true }` matches on both dialects.
  const jsonPath = `$.${segments.join('.')}`;
  return {
    expression: `CASE json_type(payload, ?) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(json_extract(payload, ?) AS TEXT) END`,
    params: [jsonPath, jsonPath],
  };
}
