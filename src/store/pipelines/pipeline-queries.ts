/**
 * Reading pipelines, live and archived. A pipeline is in exactly one of `pipelines` and
 * `pipeline_history`; the lookups by id look in both and say which, so callers need not care whether
 * the archiver has run.
 */
import { NotFoundError } from '../../errors.js';
import { idArgumentSchema, idListSchema, listPipelinesSchema, parseQuery, pipelineHistorySchema } from '../query-schemas.js';
import type { AttemptRow, EventRow, JobRow, PipelineHistoryRow, PipelineRow, StagePathEntry } from '../entities/index.js';
import { toPipelineHistoryRow, toPipelineRow } from './pipeline-rows.js';
import { toAttemptRow, toEventRow, toJobRow } from '../jobs/job-rows.js';
import { placeholders, type Sql } from '../engine/sql.js';

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

export async function getPipeline(sql: Sql, id: string): Promise<PipelineSummary> {
  id = parseQuery(idArgumentSchema, id, 'pipelineId');
  const [found] = await findPipelines(sql, [id]);
  if (!found) throw new NotFoundError('pipeline', id);
  return found;
}

/** Pipelines by id, from whichever table holds each (missing ids are left out). */
export async function findPipelines(sql: Sql, given: readonly string[]): Promise<PipelineSummary[]> {
  const ids = parseQuery(idListSchema, given, 'pipelineIds');
  const found: PipelineSummary[] = [];
  for (let start = 0; start < ids.length; start += 500) {
    const chunk = ids.slice(start, start + 500);
    const live = await sql.all(`SELECT * FROM pipelines WHERE id IN (${placeholders(chunk.length)})`, chunk);
    found.push(...live.map((r) => summarizeLive(toPipelineRow(sql.dialect, r))));
    const archived = await sql.all(`SELECT * FROM pipeline_history WHERE id IN (${placeholders(chunk.length)})`, chunk);
    found.push(...archived.map((r) => summarizeArchived(toPipelineHistoryRow(sql.dialect, r))));
  }
  const order = new Map(ids.map((id, i) => [id, i]));
  return found.sort((a, b) => (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}

/** The pipeline, each stage visit with its job and attempts, and the pipeline's events. */
export async function getPipelineDetail(sql: Sql, id: string): Promise<PipelineDetail> {
  const pipeline = await getPipeline(sql, id);
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
    for (const r of await sql.all(`SELECT * FROM jobs WHERE id IN (${placeholders(jobIds.length)})`, jobIds)) {
      const job = toJobRow(sql.dialect, r);
      jobs.set(job.id, job);
    }
    for (const r of await sql.all(`SELECT * FROM attempts WHERE job_id IN (${placeholders(jobIds.length)}) ORDER BY job_id, number`, jobIds)) {
      const attempt = toAttemptRow(sql.dialect, r);
      attempts.set(attempt.jobId, [...(attempts.get(attempt.jobId) ?? []), attempt]);
    }
  }
  const events = (
    await sql.all(`SELECT * FROM events WHERE subject_type = 'pipeline' AND subject_id = ? ORDER BY seq`, [id])
  ).map((r) => toEventRow(sql.dialect, r));
  return {
    pipeline,
    stages: visits.map((v) => ({ ...v, job: jobs.get(v.jobId) ?? null, attempts: attempts.get(v.jobId) ?? [] })),
    events,
  };
}

/** Live pipelines, newest first. */
export async function listPipelines(sql: Sql, given: PipelineFilter = {}): Promise<PipelineRow[]> {
  const filter = parseQuery(listPipelinesSchema, given);
  const { clause, params } = where([
    ['state', filter.state],
    ['status', filter.status],
    ['name', filter.name],
    ['run_id', filter.runId],
  ]);
  const rows = await sql.all(`SELECT * FROM pipelines${clause} ORDER BY created_at DESC, id DESC LIMIT ?`, [...params, filter.limit ?? 50]);
  return rows.map((r) => toPipelineRow(sql.dialect, r));
}

/** Archived pipelines, most recently completed first. */
export async function listPipelineHistory(sql: Sql, given: PipelineHistoryFilter = {}): Promise<PipelineHistoryRow[]> {
  const filter = parseQuery(pipelineHistorySchema, given);
  const { clause, params } = where([
    ['final_state', filter.finalState],
    ['status', filter.status],
    ['name', filter.name],
  ]);
  const since = filter.since === undefined ? '' : `${clause ? ' AND' : ' WHERE'} completed_at >= ?`;
  const rows = await sql.all(`SELECT * FROM pipeline_history${clause}${since} ORDER BY completed_at DESC, id DESC LIMIT ?`, [
    ...params,
    ...(filter.since === undefined ? [] : [filter.since]),
    filter.limit ?? 50,
  ]);
  return rows.map((r) => toPipelineHistoryRow(sql.dialect, r));
}

function where(pairs: readonly (readonly [string, string | undefined])[]): { clause: string; params: unknown[] } {
  const conditions: string[] = [];
  const params: unknown[] = [];
  for (const [column, value] of pairs) {
    if (value === undefined) continue;
    conditions.push(`${column} = ?`);
    params.push(value);
  }
  return { clause: conditions.length ? ` WHERE ${conditions.join(' AND ')}` : '', params };
}
