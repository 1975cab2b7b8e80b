/** The read-only API beside the jobs: the overview, runs, pipelines, the event log and the audit log. */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import { InvalidOptionError } from '../errors.js';
import { auditSources, jobStatuses, type JobStatus, type PipelineStatus, type RunStatus } from '../store/index.js';
import { OverviewFigures } from './overview-figures.js';
import { pipelineGraph } from './pipeline-graph.js';
import { cursorOf, cursorParam, eventFilterOf, idPattern, limitParam, parseLimit, parseTime, text, timeParam, type EventQuery } from './query-params.js';

const runStatuses = ['open', 'running', 'completed', 'failed', 'cancelled'] as const;
const pipelineStatuses = ['running', 'succeeded', 'failed'] as const;
const subjectTypes = ['job', 'run', 'pipeline', 'state', 'operator'] as const;

const idParams = (prefix: string, kind: string) =>
  ({
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: idPattern(prefix), description: `a ${kind} id like ${prefix}_01J...` } },
  }) as const;

/** Jobs still `pending` this long after their commit are the relay's backlog (as `jobledger doctor` counts them). */
const relayBacklogAgeMs = 5000;

/** How old the overview's counts may be before a request starts a new count, at least (the UI refreshes every 5 s). */
const overviewCountAgeMs = 5000;

export function registerReadRoutes(app: FastifyInstance, jl: JobLedger): void {
  const overviewFigures = new OverviewFigures(() => jl.ledger.ledgerFigures({ lockDurationMs: jl.config.lockDurationMs }), overviewCountAgeMs);
  app.get('/api/overview', { schema: { summary: 'Jobs by status and queue (as counted at countedAt, recounted in the background), attempts past their lock, relay backlog', tags: ['overview'] } }, async () => {
    const { figures, countedAt } = await overviewFigures.get();
    const byStatus = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
    const queues = new Map<string, { queue: string; byStatus: Partial<Record<JobStatus, number>>; oldestDueAt: number | null }>();
    for (const group of figures.jobs) {
      byStatus[group.status] += group.count;
      const queue = queues.get(group.queue) ?? { queue: group.queue, byStatus: {}, oldestDueAt: null };
      queue.byStatus[group.status] = (queue.byStatus[group.status] ?? 0) + group.count;
      // Only waiting jobs say how long the queue has been behind.
      if ((group.status === 'queued' || group.status === 'pending') && group.oldestDueAt !== null) {
        queue.oldestDueAt = queue.oldestDueAt === null ? group.oldestDueAt : Math.min(queue.oldestDueAt, group.oldestDueAt);
      }
      queues.set(group.queue, queue);
    }
    return {
      jobs: { byStatus, byQueue: [...queues.values()].sort((a, b) => a.queue.localeCompare(b.queue)) },
      attempts: figures.attempts,
      // The figures `jobledger doctor` checks: attempts whose worker stopped renewing, jobs the relay has not handed over.
      attemptsPastLock: figures.attemptsPastLock,
      relayBacklog: await jl.ledger.countUndispatched(Math.max(jl.config.relayGraceMs, relayBacklogAgeMs)),
      // When the jobs and attempts were counted (the other figures are read by this request).
      countedAt,
      at: Date.now(),
    };
  });

  app.get<{ Querystring: { status?: RunStatus; limit?: string } }>(
    '/api/runs',
    {
      schema: {
        summary: 'Runs, newest first',
        tags: ['runs'],
        querystring: { type: 'object', properties: { status: { type: 'string', enum: runStatuses, description: `one of ${runStatuses.join(', ')}` }, limit: limitParam } },
      },
    },
    async (request) => ({
      items: await jl.ledger.listRuns({ limit: parseLimit(request.query.limit), ...(request.query.status ? { status: request.query.status } : {}) }),
    }),
  );

  app.get<{ Params: { id: string } }>('/api/runs/:id', { schema: { summary: 'One run: its jobs by status and its figures', tags: ['runs'], params: idParams('run', 'run') } }, async (request) => {
    const run = await jl.ledger.getRun(request.params.id);
    return { run, jobsByStatus: await jl.ledger.countJobsByStatus({ runId: run.id }), figures: await jl.ledger.runFigures(run.id) };
  });

  app.get<{ Querystring: { status?: PipelineStatus; name?: string; state?: string; run?: string; archived?: 'true' | 'false'; since?: string; limit?: string } }>(
    '/api/pipelines',
    {
      schema: {
        summary: 'Live pipelines, newest first; with archived=true the archived ones, most recently completed first',
        tags: ['pipelines'],
        querystring: {
          type: 'object',
          properties: {
            archived: { type: 'string', enum: ['true', 'false'], description: 'true or false (default false: live pipelines)' },
            status: { type: 'string', enum: pipelineStatuses, description: `one of ${pipelineStatuses.join(', ')}` },
            name: text('a pipeline name', 100),
            state: text('a stage or terminal state (live pipelines)', 100),
            run: { type: 'string', pattern: idPattern('run'), description: 'a run id like run_01J... (live pipelines)' },
            since: timeParam('completed at or after (archived pipelines)'),
            limit: limitParam,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = parseLimit(q.limit);
      const common = { ...(q.status ? { status: q.status } : {}), ...(q.name !== undefined ? { name: q.name } : {}), limit };
      if (q.archived === 'true') {
        if (q.state !== undefined || q.run !== undefined) throw new InvalidOptionError(q.state !== undefined ? 'state' : 'run', 'no state or run filter for archived pipelines (use name, status, since)', q.state ?? q.run);
        if (q.status === 'running') throw new InvalidOptionError('status', 'succeeded or failed (archived pipelines have ended)', q.status);
        const since = parseTime('since', q.since);
        return { archived: true, items: await jl.pipelines.history({ ...common, status: q.status, ...(since !== undefined ? { since } : {}) }) };
      }
      if (q.since !== undefined) throw new InvalidOptionError('since', 'no since filter for live pipelines (it filters archived=true)', q.since);
      return { archived: false, items: await jl.pipelines.list({ ...common, ...(q.state !== undefined ? { state: q.state } : {}), ...(q.run !== undefined ? { runId: q.run } : {}) }) };
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/pipelines/:id',
    { schema: { summary: 'One pipeline, live or archived: its stages with their jobs and attempts, its events, and its stages as a graph (visits, transitions taken, loop budgets left)', tags: ['pipelines'], params: idParams('pip', 'pipeline') } },
    async (request) => {
      const detail = await jl.pipelines.detail(request.params.id);
      const definition = jl.pipelines.names().includes(detail.pipeline.name) ? jl.pipelines.definition(detail.pipeline.name) : undefined;
      return { ...detail, graph: pipelineGraph(detail, definition) };
    },
  );

  app.get<{ Querystring: EventQuery }>(
    '/api/events',
    {
      schema: {
        summary: 'The event log, newest first; keyset pages',
        tags: ['events'],
        querystring: {
          type: 'object',
          properties: {
            type: { type: 'string', pattern: '^[a-z_]+\\.[a-z_]+(,[a-z_]+\\.[a-z_]+)*$', maxLength: 2000, description: 'event types, comma-separated, e.g. job.failed,job.retried' },
            subjectType: { type: 'string', enum: subjectTypes, description: `one of ${subjectTypes.join(', ')}` },
            subject: text('a subject id (job, run, pipeline, ...)', 300),
            since: timeParam('created at or after'),
            until: timeParam('created before'),
            before: cursorParam('evt'),
            limit: limitParam,
          },
        },
      },
    },
    async (request) => {
      const limit = parseLimit(request.query.limit);
      const rows = await jl.ledger.listEvents(eventFilterOf(request.query, limit));
      return { items: rows, next: rows.length === limit ? cursorOf(rows.at(-1)) : null };
    },
  );

  app.get<{ Querystring: { actor?: string; action?: string; subject?: string; source?: 'cli' | 'api' | 'library'; since?: string; until?: string; after?: string; limit?: string } }>(
    '/api/audit',
    {
      schema: {
        summary: 'The audit log of operator actions, newest first; keyset pages (after: the last row\'s id)',
        tags: ['audit'],
        querystring: {
          type: 'object',
          properties: {
            actor: text('an actor name'),
            action: { type: 'string', pattern: '^[a-z_]+\\.[a-z_]+(,[a-z_]+\\.[a-z_]+)*$', maxLength: 2000, description: 'actions, comma-separated, e.g. job.retry,jobs.bulk_retry' },
            subject: text('a job, run or snapshot id, a state entry (namespace/key) or a maintenance task'),
            source: { type: 'string', enum: auditSources, description: `one of ${auditSources.join(', ')}` },
            since: timeParam('at or after'),
            until: timeParam('before'),
            after: { type: 'string', pattern: idPattern('aud'), description: 'the id of the last row of the previous page (aud_01J...)' },
            limit: limitParam,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const limit = parseLimit(q.limit);
      const since = parseTime('since', q.since);
      const until = parseTime('until', q.until);
      const actions = q.action?.split(',');
      const rows = await jl.audit({
        ...(q.actor !== undefined ? { actor: q.actor } : {}),
        ...(actions ? { action: actions.length === 1 ? actions[0]! : actions } : {}),
        ...(q.subject !== undefined ? { subject: q.subject } : {}),
        ...(q.source !== undefined ? { source: q.source } : {}),
        ...(since !== undefined ? { since } : {}),
        ...(until !== undefined ? { until } : {}),
        ...(q.after !== undefined ? { after: q.after } : {}),
        limit,
      });
      return { items: rows, next: rows.length === limit ? (rows.at(-1)?.id ?? null) : null };
    },
  );
}
