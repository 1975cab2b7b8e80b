/**
 * PostgreSQL: a whole batch of attempt starts, or of outcomes, as one statement that commits by
 * itself. In a transaction the same batch takes four or five round trips (BEGIN, the batched job
 * update, the attempt and event rows built from what it returned, COMMIT); on a 2-core host
 * those round trips, not the work in them, bounded the PostgreSQL ledger (README, "Performance").
 * Here the job update's RETURNING feeds the attempt and event writes inside one data-modifying
 * WITH, so PostgreSQL applies all of it atomically in one round trip.
 *
 * Only the common case goes this way: a job waiting for its next attempt, or an outcome whose
 * fenced update matches and that runs no hooks. Everything else (a job still `running`, final or
 * unknown; a late or cancelled outcome; hooks such as a pipeline advancing) comes back undefined
 * and goes through the transactional path in attempt-batch.ts, which also decides it for a row
 * this statement did not match.
 *
 * A batch's rows travel as one JSON document (`jsonRowsSource` in sql.ts), not as a typed array per
 * column: pg builds an array literal in JavaScript, escaping every element, and that escaping and
 * its garbage were the largest part of the worker's own pg client work per job in the PostgreSQL
 * bench profile, where `JSON.stringify` is native.
 */
import { beginSet, waitingSources, type BeginRequest, type BeginResult, type RecordedOutcome } from '../../attempts/attempt-writes.js';
import { attemptEnd, outcomeColumns, outcomeEvents, outcomeSet, outcomeValues, type OutcomeRequest } from '../../attempts/outcome-writes.js';
import type { JobRow } from '../../entities/index.js';
import { attemptFrom, attemptStatusSql, initialAttemptStatus, jobFrom } from '../../lifecycle.js';
import { newId } from '../../ids.js';
import { startedJobColumnNames, startedJobColumns, toStartedJob } from '../../jobs/job-rows.js';
import { encodeJson, notIndexed, placeholders, RowsStatement, toNumber, usesArrays, type Column, type Sql } from '../sql.js';
import { databaseNowSql } from '../database-clock.js';

/**
 * Starts every waiting job of `requests` in one statement: the job update, its attempt row and its
 * `job.started` event. One result per request; undefined where the job was not waiting (or is a
 * second delivery of a job already in this batch).
 */
export async function beginAttemptsAlone(sql: Sql, requests: readonly BeginRequest[]): Promise<(BeginResult | undefined)[]> {
  if (!usesArrays(sql)) return requests.map(() => undefined);
  const firsts = new Map<string, BeginRequest>();
  for (const r of requests) if (!firsts.has(r.jobId)) firsts.set(r.jobId, r);
  const rows = [...firsts.values()].map((r) => [
    r.jobId,
    r.now,
    1,
    r.ids?.attemptId ?? newId('att'),
    newId('evt'),
    r.worker.workerId,
    r.worker.host,
    r.worker.pid,
  ]);
  const [statement] = beginAlone.statements('arrays', rows, waitingSources);
  const started = new Map<string, BeginResult>();
  for (const row of await sql.all(statement!.text, statement!.params)) {
    const job = toStartedJob('postgresql', row);
    const attempt = {
      jobId: job.id,
      attemptId: row.new_attempt_id as string,
      number: job.currentAttempt,
      startedAt: toNumber(row.begun_at),
    };
    started.set(job.id, { kind: 'started', job, attempt, stalledAttempts: [] });
  }
  return requests.map((r) => {
    if (firsts.get(r.jobId) !== r) return undefined;
    return started.get(r.jobId);
  });
}

const beginAloneColumns: readonly Column[] = [
  { name: 'id', type: 'text' },
  { name: 'now', type: 'bigint' },
  { name: 'events', type: 'int' },
  { name: 'attempt_id', type: 'text' },
  { name: 'event_id', type: 'text' },
  { name: 'worker_id', type: 'text' },
  { name: 'host', type: 'text' },
  { name: 'pid', type: 'int' },
];

/**
 * The columns and payload are those of `startAttempt` in attempt-writes.ts, which a test compares.
 * (Exported for the tests, which also check its generic plan.)
 */
export const beginAlone = new RowsStatement(
  beginAloneColumns,
  (_dialect, source) => `WITH started AS (
     UPDATE jobs SET ${beginSet}
     FROM ${source}
     WHERE jobs.id = v.id AND ${notIndexed('postgresql', 'jobs.status')} IN (${placeholders(waitingSources.length)})
     RETURNING ${startedJobColumns}, v.attempt_id AS new_attempt_id,
       v.event_id AS new_event_id, v.worker_id AS new_worker_id, v.host AS new_host, v.pid AS new_pid, v.now AS begun_at
   ), attempt AS (
     INSERT INTO attempts (id, job_id, number, status, worker_id, host, pid, started_at, heartbeat_at)
     SELECT new_attempt_id, id, current_attempt, ${attemptStatusSql(initialAttemptStatus)}, new_worker_id, new_host, new_pid, begun_at, ${databaseNowSql('postgresql')}
     FROM started
   ), event AS (
     INSERT INTO events (id, subject_type, subject_id, seq, type, payload, actor, created_at)
     SELECT new_event_id, 'job', id, version, 'job.started',
       jsonb_build_object('attempt', current_attempt, 'workerId', new_worker_id, 'host', new_host, 'pid', new_pid), 'system', begun_at
     FROM started
   )
   SELECT ${startedJobColumnNames}, new_attempt_id, begun_at FROM started`,
  { jsonRows: true },
);

/**
 * Applies every outcome of `requests` whose fenced update matches, with no hooks, in one statement:
 * the job update, the attempt's end and the outcome's events. One result per request; undefined
 * for the rest.
 */
export async function recordOutcomesAlone(sql: Sql, requests: readonly OutcomeRequest[]): Promise<(RecordedOutcome | undefined)[]> {
  if (!usesArrays(sql)) return requests.map(() => undefined);
  const taken = new Map<string, OutcomeRequest>();
  for (const r of requests) {
    const key = `${r.ref.jobId}#${r.ref.number}`;
    // A duplicate of the same outcome is late: the transactional path records it so.
    if (r.outcome.type !== 'cancelled' && r.hooks.length === 0 && !taken.has(key)) taken.set(key, r);
  }
  if (taken.size === 0) return requests.map(() => undefined);
  const rows: unknown[][] = [];
  // One row per event for the join below; `back` counts from the job's new version. The payload
  // goes as a JSON value, not as text: the whole list is one JSON document (see `outcomeAlone`).
  const events: unknown[][] = [];
  for (const r of taken.values()) {
    const outcome = r.outcome as Exclude<typeof r.outcome, { type: 'cancelled' }>;
    const end = attemptEnd(outcome);
    const appended = outcomeEvents(r.ref, outcome, r.now);
    const row = outcomeValues(r, appended.length);
    row.push(r.ref.attemptId, end.status, Math.max(0, r.now - r.ref.startedAt), encodeJson(end.error));
    rows.push(row);
    for (let i = 0; i < appended.length; i++) {
      const e = appended[i]!;
      events.push([r.ref.jobId, r.ref.number, newId('evt'), appended.length - 1 - i, e.type, e.payload]);
    }
  }
  const [statement] = outcomeAlone.statements('arrays', rows, [JSON.stringify(events)]);
  const applied = new Map<string, RecordedOutcome>();
  for (const row of await sql.all(statement!.text, statement!.params)) {
    const job = { id: row.id as string, status: row.status as JobRow['status'], runAt: toNumber(row.run_at), version: toNumber(row.version) };
    applied.set(`${job.id}#${toNumber(row.current_attempt)}`, { kind: 'applied', job, dispatch: [] });
  }
  return requests.map((r) => {
    const key = `${r.ref.jobId}#${r.ref.number}`;
    return taken.get(key) === r ? applied.get(key) : undefined;
  });
}

const outcomeAloneColumns: readonly Column[] = [
  ...outcomeColumns,
  { name: 'attempt_id', type: 'text' },
  { name: 'attempt_status', type: 'text' },
  { name: 'duration_ms', type: 'bigint' },
  { name: 'attempt_error', type: 'json' },
];

/** The writes of `endAppliedOutcome` in outcome-writes.ts, which a test compares (and its plan). */
export const outcomeAlone = new RowsStatement(
  outcomeAloneColumns,
  (_dialect, source) => `WITH finished AS (
     UPDATE jobs SET ${outcomeSet}
     FROM ${source}
     WHERE jobs.id = v.id AND ${jobFrom('complete', notIndexed('postgresql', 'jobs.status'))} AND jobs.current_attempt = v.attempt
     RETURNING jobs.id, jobs.current_attempt, jobs.status, jobs.run_at, jobs.version, v.attempt_id AS ended_attempt_id,
       v.attempt_status AS ended_status, v.duration_ms AS ended_duration_ms, v.attempt_error AS ended_error, v.now AS ended_at
   ), attempt AS (
     UPDATE attempts SET status = f.ended_status, finished_at = f.ended_at, duration_ms = f.ended_duration_ms, error = f.ended_error
     FROM finished f
     WHERE attempts.id = f.ended_attempt_id AND ${attemptFrom('succeed', notIndexed('postgresql', 'attempts.status'))}
   ), event AS (
     INSERT INTO events (id, subject_type, subject_id, seq, type, payload, actor, created_at)
     SELECT e.id, 'job', f.id, f.version - e.back, e.type, e.payload, 'system', f.ended_at
     FROM finished f
     JOIN (SELECT (x->>0)::text AS job_id, (x->>1)::int AS attempt, (x->>2)::text AS id, (x->>3)::int AS back, (x->>4)::text AS type,
             x->5 AS payload
           FROM jsonb_array_elements(?::jsonb) AS x) AS e
       ON e.job_id = f.id AND e.attempt = f.current_attempt
   )
   SELECT id, current_attempt, status, run_at, version FROM finished`,
  { jsonRows: true },
);
