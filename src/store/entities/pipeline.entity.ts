import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, json, optionalEpochMs, optionalJson } from './columns.js';

export type PipelineStatus = 'running' | 'succeeded' | 'failed';

/** How a stage visit ended: its job's outcome (`cancelled` by an operator). */
export type StageOutcomeType = 'completed' | 'failed' | 'cancelled';

/** One finished stage visit, in order: the pipeline's path so far. The running stage is `state`. */
export interface StagePathEntry {
  stage: string;
  jobId: string;
  outcome: StageOutcomeType;
  /** When the stage's job reached that outcome (epoch ms). */
  at: number;
  /** Where the pipeline went next: a stage, or the terminal state it ended in. */
  next: string;
  /** The route a `choose` function picked for a completed stage, when it has one. */
  route?: string;
}

/** Why a pipeline looped back (or ended): handed to the stage it loops back to. */
export interface PipelineFeedback {
  /** The stage whose outcome caused the loop. */
  fromStage: string;
  jobId: string;
  outcome: StageOutcomeType;
  /** One line: the failure reason, or the `feedback` text a completed stage returned. */
  message: string;
  /** What the stage returned (completed) or the error it failed with (failed). */
  detail: unknown;
}

/**
 * One row per live pipeline: where it is (`state`: the current stage, or the terminal state once it
 * ended), its context document, its loop budgets and counters, and the path it took. Finished rows
 * move to `pipeline_history` (store/pipelines/pipeline-archive.ts).
 */
export interface PipelineRow {
  id: string;
  name: string;
  runId: string | null;
  /** The current stage while running; the terminal state (e.g. `merged`, `failed`) once finished. */
  state: string;
  status: PipelineStatus;
  /** Why it failed (budget exhausted, stage failed, cancelled), or null. */
  statusReason: string | null;
  /** The JSON object stages read and extend. */
  context: Record<string, unknown>;
  /** Maximum loops per budget for this instance (definition defaults, overridden at start). */
  budgets: Record<string, number>;
  /** Loops taken per budget. */
  retries: Record<string, number>;
  /** Loops taken in all. */
  loops: number;
  /** The latest loop's feedback (kept after the pipeline ends), or null. */
  feedback: PipelineFeedback | null;
  path: StagePathEntry[];
  /** The job of the running stage; null once finished. */
  currentJobId: string | null;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  /** Bumped by every change; it is also the pipeline's event sequence number. */
  version: number;
}

export const PipelineEntity = new EntitySchema<PipelineRow>({
  name: 'PipelineRow',
  tableName: 'pipelines',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    name: { type: 'string', length: 200 },
    runId: { type: 'string', length: 40, nullable: true },
    state: { type: 'string', length: 100 },
    status: { type: 'string', length: 20 },
    statusReason: { type: 'text', nullable: true },
    context: { ...json },
    budgets: { ...json },
    retries: { ...json },
    loops: { type: 'integer' },
    feedback: { ...optionalJson },
    path: { ...json },
    currentJobId: { type: 'string', length: 40, nullable: true },
    createdAt: { ...epochMs },
    updatedAt: { ...epochMs },
    finishedAt: { ...optionalEpochMs },
    version: { type: 'integer' },
  },
  indexes: [
    // The archiver's scan: finished pipelines by age.
    { name: 'pipelines_status_finished_at_index', properties: ['status', 'finishedAt'] },
    { name: 'pipelines_state_index', properties: ['state'] },
    { name: 'pipelines_created_at_index', properties: ['createdAt'] },
  ],
});
