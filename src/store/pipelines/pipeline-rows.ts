/** Maps raw snake_case rows of `pipelines` and `pipeline_history` onto their row types. */
import type { DatabaseDialect } from '../../config.js';
import type { PipelineFeedback, PipelineHistoryRow, PipelineRow, StagePathEntry } from '../entities/index.js';
import { decodeJson, toNullableNumber, toNumber, type Row } from '../engine/sql.js';

export function toPipelineRow(dialect: DatabaseDialect, r: Row): PipelineRow {
  return {
    id: r.id as string,
    name: r.name as string,
    runId: (r.run_id as string | null) ?? null,
    state: r.state as string,
    status: r.status as PipelineRow['status'],
    statusReason: (r.status_reason as string | null) ?? null,
    context: (decodeJson(dialect, r.context) as Record<string, unknown> | null) ?? {},
    budgets: (decodeJson(dialect, r.budgets) as Record<string, number> | null) ?? {},
    retries: (decodeJson(dialect, r.retries) as Record<string, number> | null) ?? {},
    loops: toNumber(r.loops),
    feedback: decodeJson(dialect, r.feedback) as PipelineFeedback | null,
    path: (decodeJson(dialect, r.path) as StagePathEntry[] | null) ?? [],
    currentJobId: (r.current_job_id as string | null) ?? null,
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
    finishedAt: toNullableNumber(r.finished_at),
    version: toNumber(r.version),
  };
}

export function toPipelineHistoryRow(dialect: DatabaseDialect, r: Row): PipelineHistoryRow {
  return {
    id: r.id as string,
    name: r.name as string,
    runId: (r.run_id as string | null) ?? null,
    finalState: r.final_state as string,
    status: r.status as PipelineHistoryRow['status'],
    statusReason: (r.status_reason as string | null) ?? null,
    context: (decodeJson(dialect, r.context) as Record<string, unknown> | null) ?? {},
    budgets: (decodeJson(dialect, r.budgets) as Record<string, number> | null) ?? {},
    retries: (decodeJson(dialect, r.retries) as Record<string, number> | null) ?? {},
    totalLoops: toNumber(r.total_loops),
    feedback: decodeJson(dialect, r.feedback) as PipelineFeedback | null,
    path: (decodeJson(dialect, r.path) as StagePathEntry[] | null) ?? [],
    startedAt: toNumber(r.started_at),
    completedAt: toNumber(r.completed_at),
    durationMs: toNumber(r.duration_ms),
    archivedAt: toNumber(r.archived_at),
  };
}
