/**
 * Applying an attempt's outcome: one conditional update of the job, fenced on its status and
 * `current_attempt`, the attempt's end and the events that record them. A late or duplicated
 * outcome (a worker that lost its lock, a redelivery) changes nothing of the job and is reported
 * as superseded.
 */
import { AttemptEntity, type JobRow } from '../entities/index.js';
import { entityColumns } from '../engine/entity-columns.js';
import { appendEvents, appendStandaloneJobEvent, type NewEvent } from '../jobs/events.js';
import { clipText } from '../json-value.js';
import { attemptFrom, attemptStatusSql, attemptTransitions, jobFrom, jobStatusSql, jobTransitions } from '../lifecycle.js';
import type { Outcome } from './outcome.js';
import { encodeJson, toNumber, updateRowsById, type Row, type RowUpdate, type Sql } from '../engine/sql.js';
import type { AttemptRef, OutcomeHook, RecordedOutcome } from './attempt-writes.js';

/**
 * Applies an attempt's outcome to the job and the attempt, fenced on the job still being `running`
 * with this attempt as its current one. `progress` is the attempt's latest progress not yet written.
 */
export async function recordOutcome(
  tx: Sql,
  ref: AttemptRef,
  outcome: Outcome,
  now: number,
  progress?: unknown,
  hooks: readonly OutcomeHook[] = [],
): Promise<RecordedOutcome> {
  const durationMs = Math.max(0, now - ref.startedAt);
  if (outcome.type === 'cancelled') {
    await finishAttemptRow(tx, ref.attemptId, 'cancelled', now, durationMs, { reason: outcome.reason });
    return { kind: 'cancelled' };
  }
  const update = jobUpdateFor(outcome, now, progress);
  const [updated] = await tx.all(
    `UPDATE jobs SET ${update.set}, updated_at = ?, version = version + ?
     WHERE id = ? AND ${jobFrom('complete')} AND current_attempt = ?
     RETURNING status, run_at, version, pipeline_id, stage`,
    [...update.params, now, update.events.length, ref.jobId, ref.number],
  );
  if (!updated) return recordLateOutcome(tx, ref, outcome, now, durationMs);
  return finishAppliedOutcome(tx, ref, outcome, now, updated, hooks);
}

/**
 * The rest of an applied outcome, once the fenced job update matched (`updated` is its RETURNING
 * row): the attempt's end, the events, and the hooks that join the transaction.
 */
export async function finishAppliedOutcome(
  tx: Sql,
  ref: AttemptRef,
  outcome: Exclude<Outcome, { type: 'cancelled' }>,
  now: number,
  updated: Row,
  hooks: readonly OutcomeHook[],
): Promise<RecordedOutcome> {
  const end = attemptEnd(outcome);
  await finishAttemptRow(tx, ref.attemptId, end.status, now, Math.max(0, now - ref.startedAt), end.error);

  const version = toNumber(updated.version);
  const events = outcomeEvents(ref, outcome, now);
  await appendEvents(
    tx,
    events.map((e, i) => ({
      subjectType: 'job',
      subjectId: ref.jobId,
      seq: version - events.length + 1 + i,
      type: e.type,
      payload: e.payload,
      actor: 'system',
      createdAt: now,
    })),
  );
  const job = { id: ref.jobId, status: updated.status as JobRow['status'], runAt: toNumber(updated.run_at), version };
  const pipeline = { pipelineId: (updated.pipeline_id as string | null) ?? null, stage: (updated.stage as string | null) ?? null };
  const dispatch: JobRow[] = [];
  for (const hook of hooks) {
    const created = await hook(tx, { ref, outcome, job: { ...job, ...pipeline }, now });
    if (created) dispatch.push(...created);
  }
  return { kind: 'applied', job, dispatch };
}

/** The status and error an applied outcome leaves on its attempt row. */
export function attemptEnd(outcome: Exclude<Outcome, { type: 'cancelled' }>): { status: string; error: unknown } {
  const status = outcome.type === 'completed' ? 'succeeded' : outcome.type === 'interrupted' ? 'interrupted' : outcome.attemptStatus;
  return { status, error: outcome.type === 'retry' || outcome.type === 'failed' ? outcome.error : null };
}

/** The events an applied outcome appends, in order, with their payloads as stored. */
export function outcomeEvents(ref: AttemptRef, outcome: Exclude<Outcome, { type: 'cancelled' }>, now: number): JobUpdate['events'] {
  const durationMs = Math.max(0, now - ref.startedAt);
  return outcomeEventList(outcome, now).map((e) => ({ type: e.type, payload: { attempt: ref.number, durationMs, ...e.payload } }));
}

export interface JobUpdate {
  set: string;
  params: unknown[];
  events: { type: NewEvent['type']; payload: Record<string, unknown> }[];
}

export function jobUpdateFor(outcome: Exclude<Outcome, { type: 'cancelled' }>, now: number, progress: unknown): JobUpdate {
  const progressSet = progress === undefined ? '' : ', progress = ?';
  const progressParams = progress === undefined ? [] : [encodeJson(progress)];
  const events = outcomeEventList(outcome, now);
  switch (outcome.type) {
    case 'completed':
      return {
        set: `status = ${jobStatusSql(jobTransitions.complete.to)}, result = ?, finished_at = ?, status_reason = NULL${progressSet}`,
        params: [encodeJson(outcome.result), now, ...progressParams],
        events,
      };
    case 'retry':
      return {
        set: `status = ${jobStatusSql(jobTransitions.scheduleRetry.to)}, attempts_failed = attempts_failed + 1, last_error = ?, run_at = ?${progressSet}`,
        params: [encodeJson(outcome.error), now + outcome.delayMs, ...progressParams],
        events,
      };
    case 'failed':
      return {
        set: `status = ${jobStatusSql(jobTransitions.fail.to)}, attempts_failed = attempts_failed + 1, last_error = ?, finished_at = ?, status_reason = ?${progressSet}`,
        params: [encodeJson(outcome.error), now, outcome.reason, ...progressParams],
        events,
      };
    case 'interrupted':
      return {
        set: `status = ${jobStatusSql(jobTransitions.requeue.to)}, status_reason = ?${progressSet}`,
        params: [outcome.reason, ...progressParams],
        events,
      };
  }
}

/**
 * The events an applied outcome appends, in order, with the payloads particular to each. The one
 * place they are defined: the job update, the batched update's event count and the appended events
 * all read them here (the batch path used to build the whole job update twice per outcome for them).
 */
export function outcomeEventList(outcome: Exclude<Outcome, { type: 'cancelled' }>, now: number): JobUpdate['events'] {
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

/** The job moved on without this attempt: cancelled by an operator, or owned by a newer attempt. */
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
    await finishAttemptRow(tx, ref.attemptId, 'cancelled', now, durationMs, { reason: 'cancelled while running' });
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

async function finishAttemptRow(
  tx: Sql,
  attemptId: string,
  status: string,
  now: number,
  durationMs: number,
  error: unknown,
): Promise<void> {
  await updateRowsById(tx, finishAttempt, [[attemptId, status, now, durationMs, encodeJson(error)]]);
}

/** An attempt's end, written only over a still-running attempt (a late duplicate changes nothing). */
const finishAttempt: RowUpdate = {
  table: 'attempts',
  columns: entityColumns(AttemptEntity, ['status', 'finishedAt', 'durationMs', 'error']),
  condition: { column: 'status', equals: attemptTransitions.succeed.from[0] },
};

function summary(error: { name: string; message: string; code?: string }): Record<string, unknown> {
  return { name: error.name, message: clipText(error.message, 500, ''), ...(error.code ? { code: error.code } : {}) };
}
