import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, json, optionalJson } from './columns.js';
import type { PipelineFeedback, PipelineStatus, StagePathEntry } from './pipeline.entity.js';

/**
 * A finished pipeline, moved out of `pipelines` by the archiver: same id, its final state and status,
 * the context and path it ended with, loop totals, and how long it took. Append-only.
 */
export interface PipelineHistoryRow {
  id: string;
  name: string;
  runId: string | null;
  /** The terminal state it ended in (e.g. `merged`, `failed`, `cancelled`). */
  finalState: string;
  status: Exclude<PipelineStatus, 'running'>;
  statusReason: string | null;
  context: Record<string, unknown>;
  budgets: Record<string, number>;
  /** Loops taken per budget, in all. */
  retries: Record<string, number>;
  totalLoops: number;
  feedback: PipelineFeedback | null;
  path: StagePathEntry[];
  startedAt: number;
  completedAt: number;
  durationMs: number;
  archivedAt: number;
}

export const PipelineHistoryEntity = new EntitySchema<PipelineHistoryRow>({
  name: 'PipelineHistoryRow',
  tableName: 'pipeline_history',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    name: { type: 'string', length: 200 },
    runId: { type: 'string', length: 40, nullable: true },
    finalState: { type: 'string', length: 100 },
    status: { type: 'string', length: 20 },
    statusReason: { type: 'text', nullable: true },
    context: { ...json },
    budgets: { ...json },
    retries: { ...json },
    totalLoops: { type: 'integer' },
    feedback: { ...optionalJson },
    path: { ...json },
    startedAt: { ...epochMs },
    completedAt: { ...epochMs },
    // BIGINT: a pipeline may wait on people for longer than the 24 days an INT of ms holds.
    durationMs: { ...epochMs },
    archivedAt: { ...epochMs },
  },
  indexes: [
    { name: 'pipeline_history_final_state_completed_at_index', properties: ['finalState', 'completedAt'] },
    { name: 'pipeline_history_completed_at_index', properties: ['completedAt'] },
  ],
});
