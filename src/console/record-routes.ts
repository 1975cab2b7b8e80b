/**
 * The record around a job: where it came from and what was made from it (replays), and the operator
 * actions taken on it (its audit rows: retries, cancels, bulk actions it was part of). Also the list
 * of named replays. Read-only; a viewer may read them all.
 */
import type { FastifyInstance } from 'fastify';
import type { JobLedger } from '../jobledger.js';
import { NotFoundError } from '../errors.js';
import { findReplays, listSubjectAudit, replayStatuses, type AuditRow, type ReplayRow, type ReplayStatus } from '../store/index.js';
import { idPattern, limitParam, parseLimit } from './query-params.js';

/** The audit rows a job's lineage carries, newest first (the Audit page pages through more). */
const lineageAuditRows = 50;

const jobIdParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: idPattern('job'), description: 'a job id like job_01J...' } },
} as const;

/** What the lineage shows of a replay: enough to name it and say why. */
export interface ReplaySummary {
  id: string;
  name: string;
  reason: string;
  actor: string;
  status: ReplayStatus;
  createdAt: number;
}

export interface JobLineageAnswer {
  jobId: string;
  /** The original this job was replayed from, and the replay that made it; null if no replay made it. */
  replayOf: { jobId: string; replay: ReplaySummary | null } | null;
  /** The jobs replays made from this one, oldest replay first (at most 1,000). */
  replayedAs: { jobId: string; replay: ReplaySummary | null }[];
  /** The operator actions on this job, newest first (at most 50; `auditMore` when there are more). */
  audit: AuditRow[];
  auditMore: boolean;
}

function summary(replay: ReplayRow | undefined): ReplaySummary | null {
  if (!replay) return null;
  return { id: replay.id, name: replay.name, reason: replay.reason, actor: replay.actor, status: replay.status, createdAt: replay.createdAt };
}

export function registerRecordRoutes(app: FastifyInstance, jl: JobLedger): void {
  app.get<{ Params: { id: string } }>(
    '/api/jobs/:id/lineage',
    {
      schema: {
        summary: 'A job\'s lineage: the original a replay made it from, the jobs replays made from it (each with the replay\'s name and reason), and the operator actions on it (audit rows, newest first)',
        tags: ['jobs', 'audit'],
        params: jobIdParams,
        querystring: { type: 'object', properties: {} },
      },
    },
    async (request): Promise<JobLineageAnswer> => {
      const jobId = request.params.id;
      // 404 for a job neither the ledger nor the cold archive has (an archived job keeps its lineage and audit rows).
      await jl.ledger.getJob(jobId).catch(async (error: unknown) => {
        if (!(error instanceof NotFoundError) || !(await jl.archive.holds(jobId))) throw error;
      });
      const [lineage, audit] = await Promise.all([
        jl.replays.lineage(jobId),
        jl.ledger.readEntities((em) => listSubjectAudit(em, 'job', jobId, lineageAuditRows + 1)),
      ]);
      const replayIds = [...(lineage.replayOf ? [lineage.replayOf.replayId] : []), ...lineage.replayedAs.map((l) => l.replayId)];
      const replays = new Map((await jl.ledger.readEntities((em) => findReplays(em, replayIds))).map((r) => [r.id, r]));
      const made = lineage.replayedAs
        .map((link) => ({ jobId: link.jobId, replay: summary(replays.get(link.replayId)) }))
        .sort((a, b) => (a.replay?.createdAt ?? 0) - (b.replay?.createdAt ?? 0) || a.jobId.localeCompare(b.jobId));
      return {
        jobId,
        replayOf: lineage.replayOf ? { jobId: lineage.replayOf.replayOf, replay: summary(replays.get(lineage.replayOf.replayId)) } : null,
        replayedAs: made,
        audit: audit.slice(0, lineageAuditRows),
        auditMore: audit.length > lineageAuditRows,
      };
    },
  );

  app.get<{ Querystring: { status?: ReplayStatus; limit?: string } }>(
    '/api/replays',
    {
      schema: {
        summary: 'Named replays, newest first: who, why, how far each got',
        tags: ['replays'],
        querystring: {
          type: 'object',
          properties: { status: { type: 'string', enum: replayStatuses, description: `one of ${replayStatuses.join(', ')}` }, limit: limitParam },
        },
      },
    },
    async (request) => ({
      items: await jl.replays.list({ limit: parseLimit(request.query.limit), ...(request.query.status ? { status: request.query.status } : {}) }),
    }),
  );
}
