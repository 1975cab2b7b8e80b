/** The jobs API: the listing with its filters, one job with its attempts and events, and the actions. */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import { InvalidOptionError } from '../errors.js';
import type { JobRow } from '../store/index.js';
import { principalOf } from './access.js';
import { applyBulkAction, matchingJobIds, maxBulkJobs, type BulkAction } from './bulk-actions.js';
import { cursorOf, cursorParam, idPattern, jobFilterBodyProperties, jobFilterOf, jobFilterProperties, limitParam, parseCursor, parseLimit, type JobFilterQuery } from './query-params.js';

const jobIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('job'), description: 'a job id like job_01J...' } },
} as const;

export const reasonProperty = { type: 'string', minLength: 1, maxLength: 2000, pattern: '\\S', description: 'why (required; 1 to 2000 characters, recorded in the event)' } as const;

/** What a listing shows of a job: no payload, result or progress (each up to 1 MiB). */
export function jobSummary(job: JobRow) {
  const error = job.lastError as { message?: unknown } | null;
  return {
    id: job.id,
    queue: job.queue,
    name: job.name,
    status: job.status,
    statusReason: job.statusReason,
    attemptsStarted: job.attemptsStarted,
    maxAttempts: job.maxAttempts,
    runId: job.runId,
    pipelineId: job.pipelineId,
    stage: job.stage,
    createdAt: job.createdAt,
    startedAt: job.startedAt,
    finishedAt: job.finishedAt,
    error: typeof error?.message === 'string' ? error.message.slice(0, 300) : null,
  };
}

/**
 * Most jobs one listing request reads when a filter no index serves is given (status, error text,
 * payload fields): the page then holds the matches among them, and `next` continues the search
 * with older jobs (`partial: true` says the page stopped there, not at its limit).
 */
export const maxScannedJobs = 10_000;

export function registerJobRoutes(app: FastifyInstance, jl: JobLedger): void {
  app.get<{ Querystring: JobFilterQuery & { before?: string; limit?: string } }>(
    '/api/jobs',
    {
      schema: {
        summary: `Jobs, newest first, filtered; keyset pages. A status, error or payload filter reads at most ${maxScannedJobs} jobs a request: partial: true says the page stopped there, and next continues`,
        tags: ['jobs'],
        querystring: { type: 'object', properties: { ...jobFilterProperties, before: cursorParam('job'), limit: limitParam } },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const before = parseCursor(request.query.before);
      const filter = jobFilterOf(request.query);
      if (filter.errorMatches !== undefined) await searchIndexCaughtUp(jl);
      const { jobs, scannedTo } = await jl.ledger.searchJobs({ ...filter, limit, scanLimit: maxScannedJobs, ...(before ? { before } : {}) });
      return {
        items: jobs.map(jobSummary),
        next: scannedTo ? cursorOf(scannedTo) : jobs.length === limit ? cursorOf(jobs.at(-1)) : null,
        partial: scannedTo !== null,
      };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/jobs/:id',
    {
      schema: {
        summary:
          'One job: payload, result, attempt timeline and events. A job in the cold archive is read from its segment (checksum first) and answered read-only with archivedIn: the segment holding it',
        tags: ['jobs'],
        params: jobIdParams,
      },
    },
    async (request) => {
      const { record, archivedIn } = await jl.archive.liveOrArchived(request.params.id);
      return archivedIn === null ? record : { ...record, archivedIn };
    },
  );

  for (const action of ['retry', 'cancel'] as const) {
    app.post<{ Params: { id: string }; Body: { reason: string } }>(
      `/api/jobs/:id/${action}`,
      {
        config: { role: 'operator' },
        schema: {
          summary: action === 'retry' ? 'Give a failed or cancelled job a new attempt' : 'Cancel a job that has not finished',
          tags: ['actions'],
          params: jobIdParams,
          body: { type: 'object', required: ['reason'], properties: { reason: reasonProperty }, description: 'a JSON object { "reason": "..." }' },
        },
      },
      async (request) => {
        const input = { jobId: request.params.id, reason: request.body.reason, actor: principalOf(request).name, source: 'api' as const };
        const result = action === 'retry' ? await jl.retry(input) : await jl.cancel(input);
        return { id: result.job.id, previousStatus: result.previousStatus, status: result.job.status };
      },
    );
  }

  app.post<{ Body: { action: BulkAction; reason: string; ids?: string[]; filter?: JobFilterQuery } }>(
    '/api/jobs/bulk',
    {
      config: { role: 'operator' },
      schema: {
        summary: `Retry or cancel the listed jobs, or every job matching a filter (at most ${maxBulkJobs} a request)`,
        tags: ['actions'],
        body: {
          type: 'object',
          required: ['action', 'reason'],
          description: 'a JSON object { action, reason, and either ids or filter }',
          properties: {
            action: { type: 'string', enum: ['retry', 'cancel'], description: 'retry or cancel' },
            reason: reasonProperty,
            ids: { type: 'array', minItems: 1, maxItems: 1000, items: { type: 'string', pattern: idPattern('job') }, description: 'a list of 1 to 1000 job ids' },
            filter: { type: 'object', properties: jobFilterBodyProperties, description: 'the filters of GET /api/jobs (status, name, queue, run, since, until, error, q)' },
          },
        },
      },
    },
    async (request) => {
      const { action, reason, ids, filter } = request.body;
      if ((ids === undefined) === (filter === undefined)) throw new InvalidOptionError('ids', 'either ids or filter (exactly one of them)', ids === undefined ? 'neither' : 'both');
      if (filter) checkKnownKeys('filter', filter, Object.keys(jobFilterBodyProperties));
      const actor = principalOf(request).name;
      const jobFilter = filter ? jobFilterOf(filter) : undefined;
      if (jobFilter?.errorMatches !== undefined) await searchIndexCaughtUp(jl);
      const target = jobFilter ? await matchingJobIds(jl, action, jobFilter) : { ids: [...new Set(ids)], truncated: false };
      return applyBulkAction(jl, action, target.ids, { reason, actor, source: 'api', truncated: target.truncated, ...(filter ? { filter } : {}) });
    },
  );
}

/**
 * Before an error-text filter: the search index takes what was committed before the request, as a
 * search does (the `search-index` maintenance task keeps that backlog short).
 */
async function searchIndexCaughtUp(jl: JobLedger): Promise<void> {
  await jl.catchUpSearchIndex();
}

/** Refuses a key the object's schema does not name (a host server may strip them silently instead). */
export function checkKnownKeys(name: string, value: object, known: readonly string[], topLevel = false): void {
  const unknown = Object.keys(value).find((key) => !known.includes(key));
  if (unknown !== undefined) throw new InvalidOptionError(topLevel ? unknown : `${name}.${unknown}`, `one of the accepted ${topLevel && name === 'query' ? 'parameters' : 'fields'} (${known.join(', ')})`, unknown);
}
