/**
 * The API's parameters: their JSON schemas (Fastify validates them and the OpenAPI description
 * shows them; each property's `description` is the "expected" text of its 400) and their
 * translation into the store's filters. Every query parameter is a string, whatever the host
 * server's coercion settings: numbers and lists are parsed here, and the store's own zod schemas
 * check the result again.
 */
import { InvalidOptionError } from '../errors.js';
import { jobStatuses, parseSearchText, type EventFilter, type JobFilter, type JobStatus } from '../store/index.js';
import { parseIsoTime } from '../iso-time.js';

const ulid = '[0-9A-HJKMNP-TV-Z]{26}';
export const idPattern = (prefix: string): string => `^${prefix}_${ulid}$`;

/** Largest page a listing returns. */
export const maxPage = 500;

const statusList = `^(${jobStatuses.join('|')})(,(${jobStatuses.join('|')}))*$`;

export const text = (description: string, maxLength = 200) => ({ type: 'string', minLength: 1, maxLength, description }) as const;

export const limitParam = {
  type: 'string',
  pattern: '^[1-9][0-9]{0,2}$',
  description: `a whole number from 1 to ${maxPage} (rows per page; default 50)`,
} as const;

const timeText = 'an ISO date and time (2026-11-22T10:00:00Z) or epoch milliseconds';

export const timeParam = (what: string) => ({ type: 'string', minLength: 1, maxLength: 40, description: `${what}: ${timeText}` }) as const;

export const cursorParam = (prefix: 'job' | 'evt') =>
  ({
    type: 'string',
    pattern: `^[0-9]{1,16}\\.${prefix}_${ulid}$`,
    description: `the \`next\` cursor of the previous page (createdAt.${prefix}_id)`,
  }) as const;

/** The filters shared by `GET /api/jobs` and a bulk action's `filter`. */
export const jobFilterProperties = {
  status: { type: 'string', pattern: statusList, description: `job statuses, comma-separated: ${jobStatuses.join(', ')}` },
  name: text('a job type'),
  queue: text('a queue name'),
  run: { type: 'string', pattern: idPattern('run'), description: 'a run id like run_01J...' },
  since: timeParam('created at or after'),
  until: timeParam('created before'),
  error: text('words or "quoted phrases" in the job\'s error messages (full-text search: every word must match, any case; word* for a prefix)', 500),
  q: {
    anyOf: [
      { type: 'string', minLength: 1, maxLength: 1200 },
      { type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 1200 } },
    ],
    description: 'a payload field equal to a value, payload.path.to.field=value (repeatable, at most 20)',
  },
} as const;

/**
 * A bulk action's `filter`, in a JSON body: the same filters, and its times may also be JSON numbers
 * (epoch milliseconds).
 */
export const jobFilterBodyProperties = {
  ...jobFilterProperties,
  since: timeValue('created at or after'),
  until: timeValue('created before'),
} as const;

function timeValue(what: string) {
  const { description, ...asText } = timeParam(what);
  return { anyOf: [asText, { type: 'integer', minimum: 0 }], description } as const;
}

export interface JobFilterQuery {
  status?: string;
  name?: string;
  queue?: string;
  run?: string;
  since?: string | number;
  until?: string | number;
  error?: string;
  q?: string | string[];
}

/** A time parameter as epoch milliseconds. */
export function parseTime(field: string, raw: string | number | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const time = typeof raw === 'number' ? raw : /^\d+$/.test(raw) ? Number(raw) : parseIsoTime(raw);
  if (time === undefined || !Number.isSafeInteger(time) || time < 0) throw new InvalidOptionError(field, timeText, raw);
  return time;
}

export function parseLimit(raw: string | undefined, fallback = 50): number {
  if (raw === undefined) return fallback;
  const limit = Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > maxPage) throw new InvalidOptionError('limit', limitParam.description, raw);
  return limit;
}

/** `createdAt.id` → the store's keyset position. */
export function parseCursor(raw: string | undefined): { createdAt: number; id: string } | undefined {
  if (raw === undefined) return undefined;
  const at = raw.indexOf('.');
  return { createdAt: Number(raw.slice(0, at)), id: raw.slice(at + 1) };
}

export function cursorOf(row: { createdAt: number; id: string } | undefined): string | null {
  return row ? `${row.createdAt}.${row.id}` : null;
}

/** `payload.customer.plan=pro` → `{ 'customer.plan': 'pro' }` (the store compares values as text). */
export function parsePayloadQuery(raw: string | string[] | undefined): Record<string, string> | undefined {
  if (raw === undefined) return undefined;
  const where: Record<string, string> = {};
  for (const term of Array.isArray(raw) ? raw : [raw]) {
    const match = /^payload((?:\.[A-Za-z_][A-Za-z0-9_]*)+)=(.*)$/s.exec(term);
    if (!match) throw new InvalidOptionError('q', 'payload.path.to.field=value, e.g. payload.customer.plan=pro', term);
    where[match[1]!.slice(1)] = match[2]!;
  }
  return where;
}

export function jobFilterOf(query: JobFilterQuery): Omit<JobFilter, 'limit' | 'offset' | 'before'> {
  const since = parseTime('since', query.since);
  const until = parseTime('until', query.until);
  const where = parsePayloadQuery(query.q);
  const statuses = query.status?.split(',') as JobStatus[] | undefined;
  return {
    ...(statuses ? { status: statuses.length === 1 ? statuses[0] : statuses } : {}),
    ...(query.name !== undefined ? { name: query.name } : {}),
    ...(query.queue !== undefined ? { queue: query.queue } : {}),
    ...(query.run !== undefined ? { runId: query.run } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(where ? { where } : {}),
    // Full-text, through the search index (store/search/); checked here so that a 400 names `error`.
    ...(query.error !== undefined ? { errorMatches: (parseSearchText(query.error, 'error'), query.error) } : {}),
  };
}

export interface EventQuery {
  type?: string;
  subjectType?: string;
  subject?: string;
  since?: string;
  until?: string;
  before?: string;
  limit?: string;
}

export function eventFilterOf(query: EventQuery, limit: number): EventFilter {
  const since = parseTime('since', query.since);
  const until = parseTime('until', query.until);
  const before = parseCursor(query.before);
  const types = query.type?.split(',');
  return {
    ...(types ? { type: types.length === 1 ? types[0] : types } : {}),
    ...(query.subjectType !== undefined ? { subjectType: query.subjectType as EventFilter['subjectType'] } : {}),
    ...(query.subject !== undefined ? { subjectId: query.subject } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(until !== undefined ? { until } : {}),
    ...(before ? { before } : {}),
    limit,
  };
}
