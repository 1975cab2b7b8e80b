/**
 * Reading pipelines, live and archived. A pipeline is in exactly one of `pipelines` and
 * `pipeline_history`; the lookups by id look in both and say which, so callers need not care whether
 * the archiver has run. Through MikroORM, on the EntityManager fork of one read (`Ledger.readEntities`).
 */
import { NotFoundError } from '../../errors.js';
import { idArgumentSchema, idListSchema, listPipelinesSchema, parseQuery, pipelineHistorySchema } from '../query-schemas.js';
import {
  AttemptEntity, EventEntity, JobEntity, PipelineEntity, PipelineHistoryEntity,
  type AttemptRow, type EventRow, type JobRow, type PipelineHistoryRow, type PipelineRow, type StagePathEntry,
} from '../entities/index.js';
import type { FilterQuery } from '@mikro-orm/core';
import type { LedgerEm } from '../orm/open-orm.js';
import { plainRows } from '../orm/entity-rows.js';

/** One pipeline, live or archived, in one shape: the live row's fields plus its archive facts. */
export interface PipelineSummary
  extends Pick<
    PipelineRow,
    | 'id' | 'name' | 'runId' | 'state' | 'status' | 'statusReason' | 'context' | 'budgets' | 'retries'
    | 'loops' | 'feedback' | 'path' | 'currentJobId' | 'createdAt' | 'finishedAt'
  > {
  durationMs: number | null;
  archived: boolean;
  archivedAt: number | null;
}

/** A stage visit with its job and attempts (the job is null if retention pruned it). */
export interface PipelineStageDetail {
  stage: string;
  jobId: string;
  /** `running` for the current stage. */
  outcome: StagePathEntry['outcome'] | 'running';
  at: number | null;
  next: string | null;
  route: string | null;
  job: JobRow | null;
  attempts: AttemptRow[];
}

export interface PipelineDetail {
  pipeline: PipelineSummary;
  stages: PipelineStageDetail[];
  events: EventRow[];
}

export interface PipelineFilter {
  /** Current stage or terminal state. */
  state?: string;
  status?: PipelineRow['status'];
  name?: string;
  runId?: string;
  /** Default 50, at most 10,000. */
  limit?: number;
}

export interface PipelineHistoryFilter {
  finalState?: string;
  status?: PipelineHistoryRow['status'];
  name?: string;
  /** Completed at or after (epoch ms). */
  since?: number;
  /** Default 50, at most 10,000. */
  limit?: number;
}

export function summarizeLive(p: PipelineRow): PipelineSummary {
  return {
    id: p.id, name: p.name, runId: p.runId, state: p.state, status: p.status, statusReason: p.statusReason, context: p.context,
    budgets: p.budgets, retries: p.retries, loops: p.loops, feedback: p.feedback, path: p.path, currentJobId: p.currentJobId,
    createdAt: p.createdAt, finishedAt: p.finishedAt, durationMs: p.finishedAt === null ? null : p.finishedAt - p.createdAt,
    archived: false, archivedAt: null,
  };
}

export function summarizeArchived(h: PipelineHistoryRow): PipelineSummary {
  return {
    id: h.id, name: h.name, runId: h.runId, state: h.finalState, status: h.status, statusReason: h.statusReason, context: h.context,
    budgets: h.budgets, retries: h.retries, loops: h.totalLoops, feedback: h.feedback, path: h.path, currentJobId: null,
    createdAt: h.startedAt, finishedAt: h.completedAt, durationMs: h.durationMs, archived: true, archivedAt: h.archivedAt,
  };
}

export async function getPipeline(em: LedgerEm, id: string): Promise<PipelineSummary> {
  id = parseQuery(idArgumentSchema, id, 'pipelineId');
  const [found] = await findPipelines(em, [id]);
  if (!found) throw new NotFoundError('pipeline', id);
  return found;
}

/** Pipelines by id, from whichever table holds each (missing ids are left out). */
export async function findPipelines(em: LedgerEm, given: readonly string[]): Promise<PipelineSummary[]> {
  const ids = parseQuery(idListSchema, given, 'pipelineIds');
  const found: PipelineSummary[] = [];
  for (let start = 0; start < ids.length; start += 500) {
    const chunk = ids.slice(start, start + 500);
    const live = await em.find(PipelineEntity, { id: { $in: chunk } });
    found.push(...plainRows(PipelineEntity, live).map(summarizeLive));
    const archived = await em.find(PipelineHistoryEntity, { id: { $in: chunk } });
    found.push(...plainRows(PipelineHistoryEntity, archived).map(summarizeArchived));
  }
  const order = new Map(ids.map((id, i) => [id, i]));
  return found.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}

/** The pipeline, each stage visit with its job and attempts, and the pipeline's events. */
export async function getPipelineDetail(em: LedgerEm, id: string): Promise<PipelineDetail> {
  const pipeline = await getPipeline(em, id);
  const visits: Omit<PipelineStageDetail, 'job' | 'attempts'>[] = pipeline.path.map((e) => ({
    stage: e.stage, jobId: e.jobId, outcome: e.outcome, at: e.at, next: e.next, route: e.route ?? null,
  }));
  if (pipeline.currentJobId) {
    visits.push({ stage: pipeline.state, jobId: pipeline.currentJobId, outcome: 'running', at: null, next: null, route: null });
  }
  // The path names every job the pipeline ran, so jobs are found by primary key (jobs.pipeline_id has no index).
  const jobIds = [...new Set(visits.map((v) => v.jobId))];
  const jobs = new Map<string, JobRow>();
  const attempts = new Map<string, AttemptRow[]>();
  if (jobIds.length) {
    for (const job of plainRows(JobEntity, await em.find(JobEntity, { id: { $in: jobIds } }))) jobs.set(job.id, job);
    const found = await em.find(AttemptEntity, { jobId: { $in: jobIds } }, { orderBy: { jobId: 'asc', number: 'asc' } });
    for (const attempt of plainRows(AttemptEntity, found)) {
      attempts.set(attempt.jobId, [...(attempts.get(attempt.jobId) ?? []), attempt]);
    }
  }
  const events: EventRow[] = plainRows(EventEntity, await em.find(EventEntity, { subjectType: 'pipeline', subjectId: id }, { orderBy: { seq: 'asc' } }));
  return {
    pipeline,
    stages: visits.map((v) => ({ ...v, job: jobs.get(v.jobId) ?? null, attempts: attempts.get(v.jobId) ?? [] })),
    events,
  };
}

/** Live pipelines, newest first. */
export async function listPipelines(em: LedgerEm, given: PipelineFilter = {}): Promise<PipelineRow[]> {
  const filter = parseQuery(listPipelinesSchema, given);
  const where: FilterQuery<PipelineRow> = {
    ...(filter.state === undefined ? {} : { state: filter.state }),
    ...(filter.status === undefined ? {} : { status: filter.status }),
    ...(filter.name === undefined ? {} : { name: filter.name }),
    ...(filter.runId === undefined ? {} : { runId: filter.runId }),
  };
  const rows = await em.find(PipelineEntity, where, { orderBy: { createdAt: 'desc', id: 'desc' }, limit: filter.limit ?? 50 });
  return plainRows(PipelineEntity, rows);
}

/** Archived pipelines, most recently completed first. */
export async function listPipelineHistory(em: LedgerEm, given: PipelineHistoryFilter = {}): Promise<PipelineHistoryRow[]> {
  const filter = parseQuery(pipelineHistorySchema, given);
  const where: FilterQuery<PipelineHistoryRow> = {
    ...(filter.finalState === undefined ? {} : { finalState: filter.finalState }),
    ...(filter.status === undefined ? {} : { status: filter.status as PipelineHistoryRow['status'] }),
    ...(filter.name === undefined ? {} : { name: filter.name }),
    ...(filter.since === undefined ? {} : { completedAt: { $gte: filter.since } }),
  };
  const rows = await em.find(PipelineHistoryEntity, where, { orderBy: { completedAt: 'desc', id: 'desc' }, limit: filter.limit ?? 50 });
  return plainRows(PipelineHistoryEntity, rows);
}
