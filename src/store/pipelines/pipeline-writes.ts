/**
 * The pipeline half of the ledger's writes: inserting a pipeline, locking it, and recording each step
 * (a stage finished; the pipeline moved on, looped or ended) with its event. Every step is a
 * conditional update fenced on the row's version and on it still running, inside the transaction of
 * the stage job's outcome, so a pipeline is never between two stages in the database.
 *
 * `insertPipeline` goes through MikroORM's unit of work. `lockPipeline` and `recordPipelineStep` are
 * statements, not the ORM: they run inside the attempt outcome's transaction on the hot path's
 * executor (a raw `Sql`, with no EntityManager), and so does `endPipelineOfJob`, which the operator
 * and stalled-job writes call with theirs. Their rows are decoded by the entity schema (entity-rows.ts).
 */
import { PipelineEntity, type JobRow, type PipelineFeedback, type PipelineRow, type StageOutcomeType, type StagePathEntry } from '../entities/index.js';
import { appendEvents } from '../jobs/events.js';
import type { EventType } from '../lifecycle.js';
import { encodeJson, type Sql } from '../engine/sql.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { sqlFor } from '../orm/em-sql.js';
import { plainRow, rowFromColumns } from '../orm/entity-rows.js';

export interface NewPipeline {
  id: string;
  name: string;
  runId: string | null;
  /** The start stage. */
  stage: string;
  /** The start stage's job (inserted in the same transaction). */
  jobId: string;
  context: Record<string, unknown>;
  budgets: Record<string, number>;
  actor: string;
  now: number;
}

/** Inserts a running pipeline at its start stage and its `pipeline.started` event (flushed at once). */
export async function insertPipeline(em: LedgerEm, p: NewPipeline): Promise<PipelineRow> {
  const retries = Object.fromEntries(Object.keys(p.budgets).map((b) => [b, 0]));
  const pipeline = em.create(PipelineEntity, {
    id: p.id, name: p.name, runId: p.runId, state: p.stage, status: 'running', statusReason: null, context: p.context,
    budgets: p.budgets, retries, loops: 0, feedback: null, path: [], currentJobId: p.jobId, createdAt: p.now,
    updatedAt: p.now, finishedAt: null, version: 1,
  });
  await em.flush();
  // Events have one writer, shared with the hot path (jobs/events.ts), on this transaction's connection.
  await appendEvents(sqlFor(em), [
    {
      subjectType: 'pipeline',
      subjectId: p.id,
      seq: 1,
      type: 'pipeline.started',
      payload: { name: p.name, stage: p.stage, jobId: p.jobId, budgets: p.budgets, runId: p.runId },
      actor: p.actor,
      createdAt: p.now,
    },
  ]);
  return plainRow(PipelineEntity, pipeline);
}

/**
 * Reads a pipeline for a change. On PostgreSQL the row is locked (FOR UPDATE) until the transaction
 * ends; SQLite has one writer at a time, and a concurrent commit makes ours retry as a whole.
 */
export async function lockPipeline(tx: Sql, pipelineId: string): Promise<PipelineRow | null> {
  // A statement: called inside the attempt outcome's transaction, which has no EntityManager.
  const [raw] = await tx.all(`SELECT * FROM pipelines WHERE id = ?${tx.dialect === 'postgresql' ? ' FOR UPDATE' : ''}`, [pipelineId]);
  return raw ? rowFromColumns(PipelineEntity, tx.dialect, raw) : null;
}

/** One step of a running pipeline: its finished stage, and where it is now. */
export interface PipelineStep {
  /** The stage visit that just ended, appended to the path. */
  entry: StagePathEntry;
  /** The next stage, or the terminal state. */
  state: string;
  status: PipelineRow['status'];
  statusReason: string | null;
  context: Record<string, unknown>;
  retries: Record<string, number>;
  loops: number;
  feedback: PipelineFeedback | null;
  /** The next stage's job, or null when the pipeline ended. */
  currentJobId: string | null;
  event: { type: EventType; payload: Record<string, unknown> };
  actor: string;
  now: number;
}

/**
 * Applies a step to a pipeline read (and locked) in this transaction, fenced on its version and on
 * it still running; appends its event with seq = the new version. A fence that fails means the row
 * changed under a lock we hold: it throws, and the whole transaction (the stage outcome with it)
 * rolls back rather than leave the pipeline half-moved.
 */
export async function recordPipelineStep(tx: Sql, before: PipelineRow, step: PipelineStep): Promise<PipelineRow> {
  const finished = step.status !== 'running';
  // A statement: called inside the attempt outcome's transaction, which has no EntityManager.
  const [updated] = await tx.all(
    `UPDATE pipelines SET state = ?, status = ?, status_reason = ?, context = ?, retries = ?, loops = ?, feedback = ?, path = ?,
       current_job_id = ?, updated_at = ?, finished_at = ?, version = version + 1
     WHERE id = ? AND version = ? AND status = 'running' RETURNING *`,
    [
      step.state, step.status, step.statusReason, encodeJson(step.context), encodeJson(step.retries), step.loops,
      encodeJson(step.feedback), JSON.stringify([...before.path, step.entry]), step.currentJobId, step.now,
      finished ? step.now : null, before.id, before.version,
    ],
  );
  if (!updated) throw new Error(`pipeline ${before.id} changed while it was locked for a step (version ${before.version})`);
  const after = rowFromColumns(PipelineEntity, tx.dialect, updated);
  await appendEvents(tx, [
    { subjectType: 'pipeline', subjectId: before.id, seq: after.version, type: step.event.type, payload: step.event.payload, actor: step.actor, createdAt: step.now },
  ]);
  return after;
}

/**
 * A stage job ended outside an attempt outcome (an operator cancelled it, or BullMQ failed it for
 * stalling too often), so no outcome hook sees it: its pipeline ends failed (state `cancelled` for a
 * cancel) with the reason, in the transaction that ended the job. Returns null when the job is not
 * the running stage of a running pipeline.
 */
export async function endPipelineOfJob(
  tx: Sql,
  job: Pick<JobRow, 'id' | 'pipelineId' | 'stage'>,
  input: { outcome: Extract<StageOutcomeType, 'cancelled' | 'failed'>; reason: string; actor: string; now: number },
): Promise<PipelineRow | null> {
  if (!job.pipelineId) return null;
  const pipeline = await lockPipeline(tx, job.pipelineId);
  if (!pipeline || pipeline.status !== 'running' || pipeline.currentJobId !== job.id) return null;
  const state = input.outcome === 'cancelled' ? 'cancelled' : 'failed';
  const verb = input.outcome === 'cancelled' ? `was cancelled by ${input.actor}` : 'failed';
  const reason = `stage "${pipeline.state}" job ${job.id} ${verb}: ${input.reason}`;
  const feedback: PipelineFeedback = { fromStage: pipeline.state, jobId: job.id, outcome: input.outcome, message: input.reason, detail: null };
  return recordPipelineStep(tx, pipeline, {
    entry: { stage: pipeline.state, jobId: job.id, outcome: input.outcome, at: input.now, next: state },
    state,
    status: 'failed',
    statusReason: reason,
    context: pipeline.context,
    retries: pipeline.retries,
    loops: pipeline.loops,
    feedback,
    currentJobId: null,
    event: { type: 'pipeline.failed', payload: { stage: pipeline.state, jobId: job.id, outcome: input.outcome, state, reason } },
    actor: input.actor,
    now: input.now,
  });
}
