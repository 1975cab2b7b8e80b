/**
 * Read-side queries: one job with its attempts and timeline, job and event listings with filters,
 * and counts. Not found is a typed error. Filters are parameterised; the only dialect difference
 * (reaching into the JSON payload) is built in `payloadFieldSql`.
 */
import { InvalidOptionError, NotFoundError } from '../errors.js';
import type { AttemptRow, EventRow, JobRow, SubjectType } from './entities/index.js';
import { everyJobsEventTypes, jobStatuses, type JobStatus } from './lifecycle.js';
import { toAttemptRow, toEventRow, toJobRow } from './rows.js';
import { notIndexed, placeholders, toNumber, type Sql } from './sql.js';

export interface JobDetail {
  job: JobRow;
  attempts: AttemptRow[];
  events: EventRow[];
}

export interface JobFilter {
  status?: JobStatus | JobStatus[];
  name?: string;
  queue?: string;
  runId?: string;
  /** Created at or after (epoch ms). */
  since?: number;
  /** Created before (epoch ms). */
  until?: number;
  /** Payload fields that must equal a value, compared as text: `{ 'customer.id': '42' }`. */
  where?: Record<string, string | number | boolean>;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
}

export interface EventFilter {
  type?: string | string[];
  subjectType?: SubjectType;
  subjectId?: string;
  since?: number;
  until?: number;
  limit?: number;
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
  const [raw] = await sql.all('SELECT * FROM jobs WHERE id = ?', [jobId]);
  if (!raw) throw new NotFoundError('job', jobId);
  return toJobRow(sql.dialect, raw);
}

export async function listJobs(sql: Sql, filter: JobFilter = {}): Promise<JobRow[]> {
  const { clause, params } = jobWhere(sql, filter);
  const limit = checkLimit(filter.limit ?? 100);
  const rows = await sql.all(`SELECT * FROM jobs${clause} ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`, [
    ...params,
    limit,
    filter.offset ?? 0,
  ]);
  return rows.map((r) => toJobRow(sql.dialect, r));
}

export async function countJobsByStatus(sql: Sql, filter: Omit<JobFilter, 'limit' | 'offset'> = {}): Promise<Record<JobStatus, number>> {
  const { clause, params } = jobWhere(sql, filter);
  const rows = await sql.all(`SELECT status, COUNT(*) AS n FROM jobs${clause} GROUP BY status`, params);
  const counts = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
  for (const r of rows) counts[r.status as JobStatus] = toNumber(r.n);
  return counts;
}

/** The predicate of `events_rare_type_created_at_index` (migration RareEventTypes). */
export const rareEventTypesPredicate = `type NOT IN (${everyJobsEventTypes.map((t) => `'${t}'`).join(', ')})`;

export async function listEvents(sql: Sql, filter: EventFilter = {}): Promise<EventRow[]> {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const types = filter.type === undefined ? [] : Array.isArray(filter.type) ? filter.type : [filter.type];
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
  if (filter.subjectType) {
    conditions.push('subject_type = ?');
    params.push(filter.subjectType);
  }
  if (filter.subjectId) {
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
  const clause = conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '';
  const rows = await sql.all(`SELECT * FROM events${clause} ORDER BY created_at DESC, id DESC LIMIT ?`, [
    ...params,
    checkLimit(filter.limit ?? 100),
  ]);
  return rows.map((r) => toEventRow(sql.dialect, r));
}

/** Attempts of many jobs at once (for summaries and exports). */
export async function listAttempts(sql: Sql, filter: { jobIds?: readonly string[]; since?: number; limit?: number }): Promise<AttemptRow[]> {
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

function jobWhere(sql: Sql, filter: Omit<JobFilter, 'limit' | 'offset'>): { clause: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  const statuses = filter.status === undefined ? [] : Array.isArray(filter.status) ? filter.status : [filter.status];
  for (const s of statuses) {
    if (!(jobStatuses as readonly string[]).includes(s)) throw new InvalidOptionError('status', `one of ${jobStatuses.join(', ')}`, s);
  }
  if (statuses.length) {
    conditions.push(`status IN (${placeholders(statuses.length)})`);
    params.push(...statuses);
  }
  for (const [column, value] of [
    ['name', filter.name],
    ['queue', filter.queue],
    ['run_id', filter.runId],
  ] as const) {
    if (value !== undefined) {
      conditions.push(`${column} = ?`);
      params.push(value);
    }
  }
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
  return { clause: conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '', params };
}

/** A payload field as text: `customer.id` → json_extract (SQLite) or #>> (PostgreSQL). */
function payloadFieldSql(sql: Sql, path: string): { expression: string; params: unknown[] } {
  // Every segment starts with a letter: a numeric one would be an array index on PostgreSQL but
  // an object key on SQLite.
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(path)) {
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

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidOptionError('limit', 'a whole number from 1 to 10000', limit);
  return limit;
}
