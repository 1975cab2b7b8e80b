/**
 * Group-commit batches of attempt writes: many starts, or many outcomes, in one transaction. The
 * fenced job updates of a whole batch are one statement each (rows through `rowsSource`: arrays on
 * PostgreSQL, where every statement is a network round trip; a VALUES list on SQLite, where binding
 * and stepping a statement per row cost more than finding the rows). Everything else (attempt rows,
 * events, hooks, late outcomes, and any job not in the expected state) is the same code as one by
 * one in attempt-writes.ts.
 */
import type { Outcome } from './outcome.js';
import { finishAppliedOutcome, outcomeEventList, recordOutcome } from './outcome-writes.js';
import {
  beginAttempt,
  startAttempt,
  waitingSources,
  type AttemptIds,
  type AttemptRef,
  type BeginResult,
  type OutcomeHook,
  type RecordedOutcome,
  type WorkerIdentity,
} from './attempt-writes.js';
import { startedJobColumns, toStartedJob } from '../jobs/job-rows.js';
import { jobFrom, jobStatusSql, jobTransitions } from '../lifecycle.js';
import { encodeJson, notIndexed, placeholders, rowsForm, RowsStatement, toNumber, type Column, type Row, type Sql, type Statement } from '../engine/sql.js';

export interface BeginRequest {
  jobId: string;
  worker: WorkerIdentity;
  now: number;
  /** The attempt's id, the same for every try of this request (see `AttemptIds`). Default: made per try. */
  ids?: AttemptIds;
  /** When this delivery was fetched from Redis, if known (see `beginAttempt`). */
  deliveredAt?: number;
}

/**
 * Begins many attempts in one transaction. The jobs waiting for their next attempt (nearly all of
 * them) take one UPDATE for the whole batch; the others (a job still `running`, final or unknown)
 * go one by one.
 */
export async function beginAttempts(tx: Sql, requests: readonly BeginRequest[]): Promise<BeginResult[]> {
  if (requests.length === 1) {
    const [r] = requests;
    return [await beginAttempt(tx, r!.jobId, r!.worker, r!.now, r!.ids, r!.deliveredAt)];
  }
  const seen = new Set<string>();
  const firsts = requests.filter((r) => !seen.has(r.jobId) && seen.add(r.jobId));
  const rows = firsts.map((r) => [r.jobId, r.now]);
  const updated = await allOf(tx, beginBatch.statements(rowsForm(tx), rows, waitingSources));
  const startedRows = new Map(updated.map((row) => [row.id as string, toStartedJob(tx.dialect, row)]));
  const results: BeginResult[] = [];
  for (const r of requests) {
    const row = startedRows.get(r.jobId);
    if (row) {
      startedRows.delete(r.jobId); // a duplicate delivery in the same batch takes the careful path
      results.push(await startAttempt(tx, row, [], r.worker, r.now, r.ids));
    } else {
      results.push(await beginAttempt(tx, r.jobId, r.worker, r.now, r.ids, r.deliveredAt));
    }
  }
  return results;
}

const beginColumns: readonly Column[] = [
  { name: 'id', type: 'text' },
  { name: 'now', type: 'bigint' },
];

/** A waiting job's start, from a batch source `v` with `now` (shared with attempt-batch-alone.ts). */
export const beginSet = `status = ${jobStatusSql(jobTransitions.begin.to)}, attempts_started = jobs.attempts_started + 1,
     current_attempt = jobs.attempts_started + 1, started_at = COALESCE(jobs.started_at, v.now), updated_at = v.now,
     status_reason = NULL, version = jobs.version + 1`;

const beginBatch = new RowsStatement(
  beginColumns,
  (dialect, source) => `UPDATE jobs SET ${beginSet}
   FROM ${source}
   WHERE jobs.id = v.id AND ${notIndexed(dialect, 'jobs.status')} IN (${placeholders(waitingSources.length)})
   RETURNING ${startedJobColumns}`,
);

/** The rows returned by `statements`, run in order (one statement as arrays, one per chunk as VALUES). */
async function allOf(tx: Sql, statements: readonly Statement[]): Promise<Row[]> {
  if (statements.length === 1) return tx.all(statements[0]!.text, statements[0]!.params);
  const rows: Row[] = [];
  for (const statement of statements) rows.push(...(await tx.all(statement.text, statement.params)));
  return rows;
}


export interface OutcomeRequest {
  ref: AttemptRef;
  outcome: Outcome;
  now: number;
  progress?: unknown;
  hooks: readonly OutcomeHook[];
}

/**
 * Applies many outcomes in one transaction. The fenced job updates of the whole batch are one
 * statement; everything after it (attempt rows, events, hooks, late outcomes) is the same code as
 * one by one.
 */
export async function recordOutcomes(tx: Sql, requests: readonly OutcomeRequest[]): Promise<RecordedOutcome[]> {
  const batchable = requests.filter((r) => r.outcome.type !== 'cancelled');
  if (batchable.length <= 1) {
    const results: RecordedOutcome[] = [];
    for (const r of requests) results.push(await recordOutcome(tx, r.ref, r.outcome, r.now, r.progress, r.hooks));
    return results;
  }
  const rows = batchable.map((r) => outcomeValues(r));
  const updated = await allOf(tx, outcomeBatch.statements(rowsForm(tx), rows));
  const applied = new Map(updated.map((row) => [`${String(row.id)}#${toNumber(row.current_attempt)}`, row]));
  const results: RecordedOutcome[] = [];
  for (const r of requests) {
    const key = `${r.ref.jobId}#${r.ref.number}`;
    const row = r.outcome.type === 'cancelled' ? undefined : applied.get(key);
    if (!row) {
      results.push(await recordOutcome(tx, r.ref, r.outcome, r.now, r.progress, r.hooks));
      continue;
    }
    applied.delete(key); // a duplicate of the same outcome in this batch is late
    results.push(await finishAppliedOutcome(tx, r.ref, r.outcome as Exclude<Outcome, { type: 'cancelled' }>, r.now, row, r.hooks));
  }
  return results;
}

/** One row of `recordOutcomes`'s batched update: the values, and flags saying which to set. */
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

/** An outcome's job update, from a batch source `v` of `outcomeColumns` (shared with attempt-batch-alone.ts). */
export const outcomeSet = `status = v.status,
     result = CASE WHEN v.set_result = 1 THEN v.result ELSE jobs.result END,
     last_error = CASE WHEN v.set_error = 1 THEN v.last_error ELSE jobs.last_error END,
     run_at = COALESCE(v.run_at, jobs.run_at), finished_at = COALESCE(v.finished_at, jobs.finished_at),
     status_reason = CASE WHEN v.set_reason = 1 THEN v.status_reason ELSE jobs.status_reason END,
     attempts_failed = jobs.attempts_failed + v.failed_inc,
     progress = CASE WHEN v.set_progress = 1 THEN v.progress ELSE jobs.progress END,
     updated_at = v.now, version = jobs.version + v.version_inc`;

const outcomeBatch = new RowsStatement(
  outcomeColumns,
  (dialect, source) => `UPDATE jobs SET ${outcomeSet}
   FROM ${source}
   WHERE jobs.id = v.id AND ${jobFrom('complete', notIndexed(dialect, 'jobs.status'))} AND jobs.current_attempt = v.attempt
   RETURNING jobs.id, jobs.current_attempt, jobs.status, jobs.run_at, jobs.version, jobs.pipeline_id, jobs.stage`,
);

/**
 * The same changes as `jobUpdateFor` (attempt-writes.ts), as values for one row of the batched
 * update. `events` is how many events the outcome appends, for a caller that has built them already.
 */
export function outcomeValues(
  r: OutcomeRequest,
  events = outcomeEventList(r.outcome as Exclude<Outcome, { type: 'cancelled' }>, r.now).length,
): unknown[] {
  const { outcome, now } = r;
  const progress = r.progress === undefined ? [null, 0] : [encodeJson(r.progress), 1];
  const base = [r.ref.jobId, r.ref.number];
  switch (outcome.type) {
    case 'completed':
      return [...base, jobTransitions.complete.to, encodeJson(outcome.result), 1, null, 0, null, now, 1, null, 0, events, ...progress, now];
    case 'retry':
      return [...base, jobTransitions.scheduleRetry.to, null, 0, encodeJson(outcome.error), 1, now + outcome.delayMs, null, 0, null, 1, events, ...progress, now];
    case 'failed':
      return [...base, jobTransitions.fail.to, null, 0, encodeJson(outcome.error), 1, null, now, 1, outcome.reason, 1, events, ...progress, now];
    case 'interrupted':
      return [...base, jobTransitions.requeue.to, null, 0, null, 0, null, null, 1, outcome.reason, 0, events, ...progress, now];
    case 'cancelled':
      throw new Error('a cancelled outcome has no job update');
  }
}
