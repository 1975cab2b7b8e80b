/**
 * Applying an attempt's outcome: one conditional update of the job, fenced on its status and
 * `current_attempt` (batched in attempt-batch.ts), the attempt's end and the events that record them. A late or duplicated
 * outcome (a worker that lost its lock, a redelivery) changes nothing of the job and is reported
 * as superseded.
 */
import { AttemptEntity, type JobRow } from '../entities/index.js';
import { entityColumns } from '../engine/entity-columns.js';
import { appendStandaloneJobEvent, batchEvents, type NewEvent } from '../jobs/events.js';
import { clipText } from '../json-value.js';
import { attemptFrom, attemptStatusSql, attemptTransitions, jobTransitions } from '../lifecycle.js';
import type { Outcome } from './outcome.js';
import { encodeJson, toNumber, updateRowsById, type Column, type Row, type RowUpdate, type Sql } from '../engine/sql.js';
import { writeRows, type RowBatch } from '../engine/row-batch.js';
import type { AttemptRef, OutcomeHook, RecordedOutcome } from './attempt-writes.js';

export interface OutcomeRequest {
  ref: AttemptRef;
  outcome: Outcome;
  now: number;
  /** The attempt's latest progress not yet written. */
  progress?: unknown;
  hooks: readonly OutcomeHook[];
}

/** One row of the fenced job update of an outcome (`outcomeSet`): the values, and flags saying which to set. */
export const outcomeColumns: readonly Column[] = [
  { name: 'id', type: 'text' },
  { name: 'attempt', type: 'int' },
  { name: 'status', type: 'text' },
  { name: 'result', type: 'json' },
  { name: 'set_result', type: 'int' },
  { name: 'last_error', type: 'json' },
  { name: 'set_error', type: 'int' },
  { name: 'run_at', type: 'bigint' },
  { name: 'finished_at', type: 'bigint' },
  { name: 'set_reason', type: 'int' },
  { name: 'status_reason', type: 'text' },
  { name: 'failed_inc', type: 'int' },
  { name: 'version_inc', type: 'int' },
  { name: 'progress', type: 'json' },
  { name: 'set_progress', type: 'int' },
  { name: 'now', type: 'bigint' },
];

/**
 * An outcome's job update, from a batch source `v` of `outcomeColumns`: the one definition, for the
 * batched outcome (attempt-batch.ts) and PostgreSQL's one-statement outcome
 * (engine/postgres/attempt-statements.ts).
 */
export const outcomeSet = `status = v.status,
     result = CASE WHEN v.set_result = 1 THEN v.result ELSE jobs.result END,
     last_error = CASE WHEN v.set_error = 1 THEN v.last_error ELSE jobs.last_error END,
     run_at = COALESCE(v.run_at, jobs.run_at), finished_at = COALESCE(v.finished_at, jobs.finished_at),
     status_reason = CASE WHEN v.set_reason = 1 THEN v.status_reason ELSE jobs.status_reason END,
     attempts_failed = jobs.attempts_failed + v.failed_inc,
     progress = CASE WHEN v.set_progress = 1 THEN v.progress ELSE jobs.progress END,
     updated_at = v.now, version = jobs.version + v.version_inc`;

/**
 * An outcome's changes to its job, as one row of `outcomeColumns`. `events` is how many events the
 * outcome appends, for a caller that has built them already. Written out per outcome type, without
 * spreads: it runs for every attempt.
 */
export function outcomeValues(
  r: OutcomeRequest,
  events = outcomeEventList(r.outcome as Exclude<Outcome, { type: 'cancelled' }>, r.now).length,
): unknown[] {
  const { outcome, now } = r;
  const { jobId, number } = r.ref;
  const hasProgress = r.progress !== undefined;
  const progress = hasProgress ? encodeJson(r.progress) : null;
  const setProgress = hasProgress ? 1 : 0;
  switch (outcome.type) {
    case 'completed': {
      const result = outcome.resultJson ?? encodeJson(outcome.result);
      return [jobId, number, jobTransitions.complete.to, result, 1, null, 0, null, now, 1, null, 0, events, progress, setProgress, now];
    }
    case 'retry':
      return [jobId, number, jobTransitions.scheduleRetry.to, null, 0, encodeJson(outcome.error), 1, now + outcome.delayMs, null, 0, null, 1, events, progress, setProgress, now];
    case 'failed':
      return [jobId, number, jobTransitions.fail.to, null, 0, encodeJson(outcome.error), 1, null, now, 1, outcome.reason, 1, events, progress, setProgress, now];
    case 'interrupted':
      return [jobId, number, jobTransitions.requeue.to, null, 0, null, 0, null, null, 1, outcome.reason, 0, events, progress, setProgress, now];
    case 'cancelled':
      throw new Error('a cancelled outcome has no job update');
  }
}

/** An applied outcome's job as its fenced update returned it, with the pipeline fields its hooks read. */
export interface AppliedJob {
  recorded: Extract<RecordedOutcome, { kind: 'applied' }>;
  pipeline: { pipelineId: string | null; stage: string | null };
}

/**
 * The rest of an applied outcome, once the fenced job update matched (`updated` is its RETURNING
 * row): the attempt's end and the events, into `batch`. Synchronous, so that a batch of outcomes
 * without hooks builds its rows with no promise per outcome; the hooks run after (`runOutcomeHooks`).
 */
export function endAppliedOutcome(batch: RowBatch, request: OutcomeRequest, updated: Row): AppliedJob {
  const { ref, now } = request;
  const outcome = request.outcome as Exclude<Outcome, { type: 'cancelled' }>;
  const end = attemptEnd(outcome);
  batch.update(finishAttempt, [[ref.attemptId, end.status, now, Math.max(0, now - ref.startedAt), encodeJson(end.error)]]);

  const version = toNumber(updated.version);
  const events = outcomeEvents(ref, outcome, now);
  const first = version - events.length + 1;
  const rows: NewEvent[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    rows.push({ subjectType: 'job', subjectId: ref.jobId, seq: first + i, type: e.type, payload: e.payload, actor: 'system', createdAt: now });
  }
  batchEvents(batch, rows);
  const job = { id: ref.jobId, status: updated.status as JobRow['status'], runAt: toNumber(updated.run_at), version };
  const pipeline = { pipelineId: (updated.pipeline_id as string | null) ?? null, stage: (updated.stage as string | null) ?? null };
  return { recorded: { kind: 'applied', job, dispatch: [] }, pipeline };
}

/**
 * An applied outcome's hooks, which join its transaction and write at once: `batch` is written
 * before them. The jobs they create go into the outcome's `dispatch`.
 */
export async function runOutcomeHooks(tx: Sql, batch: RowBatch, request: OutcomeRequest, applied: AppliedJob): Promise<RecordedOutcome> {
  const { ref, now, hooks } = request;
  const outcome = request.outcome as Exclude<Outcome, { type: 'cancelled' }>;
  const { recorded, pipeline } = applied;
  await writeRows(tx, batch);
  for (const hook of hooks) {
    const created = await hook(tx, { ref, outcome, job: { ...recorded.job, ...pipeline }, now });
    if (created) recorded.dispatch.push(...created);
  }
  return recorded;
}

/** A cancelled attempt's end (the job was cancelled by an operator): into `batch`. */
export function finishCancelledAttempt(batch: RowBatch, ref: AttemptRef, now: number, reason: string): RecordedOutcome {
  batch.update(finishAttempt, [[ref.attemptId, 'cancelled', now, Math.max(0, now - ref.startedAt), encodeJson({ reason })]]);
  return { kind: 'cancelled' };
}

/** The status and error an applied outcome leaves on its attempt row. */
export function attemptEnd(outcome: Exclude<Outcome, { type: 'cancelled' }>): { status: string; error: unknown } {
  const status = outcome.type === 'completed' ? 'succeeded' : outcome.type === 'interrupted' ? 'interrupted' : outcome.attemptStatus;
  return { status, error: outcome.type === 'retry' || outcome.type === 'failed' ? outcome.error : null };
}

/** The events an applied outcome appends, in order, with their payloads as stored. */
export function outcomeEvents(ref: AttemptRef, outcome: Exclude<Outcome, { type: 'cancelled' }>, now: number): OutcomeEvents {
  const durationMs = Math.max(0, now - ref.startedAt);
  return outcomeEventList(outcome, now).map((e) => ({ type: e.type, payload: { attempt: ref.number, durationMs, ...e.payload } }));
}

/** The events an outcome appends, each with its type and payload. */
export type OutcomeEvents = { type: NewEvent['type']; payload: Record<string, unknown> }[];

/**
 * The events an applied outcome appends, in order, with the payloads particular to each. The one
 * place they are defined: the job update's event count and the appended events both read them here.
 */
export function outcomeEventList(outcome: Exclude<Outcome, { type: 'cancelled' }>, now: number): OutcomeEvents {
  switch (outcome.type) {
    case 'completed':
      return [{ type: 'job.completed', payload: {} }];
    case 'retry':
      return [
        { type: 'job.attempt_failed', payload: { status: outcome.attemptStatus, error: summary(outcome.error) } },
        { type: 'job.retry_scheduled', payload: { delayMs: outcome.delayMs, runAt: now + outcome.delayMs } },
      ];
    case 'failed':
      return [
        { type: 'job.attempt_failed', payload: { status: outcome.attemptStatus, error: summary(outcome.error) } },
        { type: 'job.failed', payload: { reason: outcome.reason } },
      ];
    case 'interrupted':
      return [{ type: 'job.interrupted', payload: { reason: outcome.reason } }];
  }
}

/**
 * The slow path of an outcome, whose fenced update did not match: the job moved on without this
 * attempt (cancelled by an operator, or owned by a newer attempt), or an earlier try of this very
 * write landed. Statements of its own, run at once: the caller writes its batch before.
 */
export async function recordLateOutcome(
  tx: Sql,
  ref: AttemptRef,
  outcome: Outcome,
  now: number,
  durationMs: number,
): Promise<RecordedOutcome> {
  const [current] = await tx.all('SELECT status, current_attempt, run_at, version FROM jobs WHERE id = ?', [ref.jobId]);
  const jobStatus = (current?.status as string | undefined) ?? 'missing';
  const currentAttempt = toNumber(current?.current_attempt ?? 0);
  const [attempt] = await tx.all('SELECT status FROM attempts WHERE id = ?', [ref.attemptId]);
  const ended = attempt?.status as string | undefined;
  if (ended !== undefined && ended !== 'running' && ended !== 'stalled') {
    // Only this attempt's own outcome ends it so: an earlier try of this very write landed, its
    // answer lost with its connection. What it recorded stands; nothing is written twice.
    if (ended === 'superseded') return { kind: 'superseded', currentAttempt, jobStatus };
    if (ended === 'cancelled') return { kind: 'cancelled' };
    const job = { id: ref.jobId, status: jobStatus as JobRow['status'], runAt: toNumber(current?.run_at ?? 0), version: toNumber(current?.version ?? 0) };
    return { kind: 'applied', job, dispatch: [] };
  }
  if (jobStatus === 'cancelled' && currentAttempt === ref.number) {
    await updateRowsById(tx, finishAttempt, [[ref.attemptId, 'cancelled', now, durationMs, encodeJson({ reason: 'cancelled while running' })]]);
    return { kind: 'cancelled' };
  }
  // The attempt may already be marked `stalled` by the attempt that replaced it; `superseded` says
  // more: it did come back, late. Its would-be outcome is kept in the event, never applied.
  await tx.run(
    `UPDATE attempts SET status = ${attemptStatusSql(attemptTransitions.supersede.to)}, finished_at = ?, duration_ms = ?, error = ?
     WHERE id = ? AND ${attemptFrom('supersede')}`,
    [now, durationMs, encodeJson('error' in outcome ? outcome.error : null), ref.attemptId],
  );
  await appendStandaloneJobEvent(
    tx,
    ref.jobId,
    'job.superseded',
    { attempt: ref.number, currentAttempt, jobStatus, discardedOutcome: outcome.type },
    now,
  );
  return { kind: 'superseded', currentAttempt, jobStatus };
}

/** An attempt's end, written only over a still-running attempt (a late duplicate changes nothing). */
export const finishAttempt: RowUpdate = {
  table: 'attempts',
  columns: entityColumns(AttemptEntity, ['status', 'finishedAt', 'durationMs', 'error']),
  condition: { column: 'status', equals: attemptTransitions.succeed.from[0] },
};

function summary(error: { name: string; message: string; code?: string }): Record<string, unknown> {
  return { name: error.name, message: clipText(error.message, 500, ''), ...(error.code ? { code: error.code } : {}) };
}
