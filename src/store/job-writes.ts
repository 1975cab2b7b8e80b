/**
 * Writing new jobs and handing them over: the insert half of enqueue (jobs + `job.enqueued` events,
 * batched) and the outbox marks the dispatcher sets once Redis has a job.
 */
import { faultPoint } from '../fault-points.js';
import { appendEvents, type NewEvent } from './events.js';
import { toJobRow } from './rows.js';
import { encodeJson, insertRows, placeholders, usesArrays, type Sql } from './sql.js';
import { JobEntity, type JobRow } from './entities/index.js';
import { entityColumns } from './entity-columns.js';

/** A validated job ready to be inserted (the producer has checked every field). */
export interface NewJob {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  priority: number;
  runId: string | null;
  idempotencyKey: string | null;
  maxAttempts: number;
  backoff: unknown;
  timeoutMs: number | null;
  runAt: number;
  createdAt: number;
  actor: string;
  /** The pipeline (`pip_<ulid>`) and stage this job runs, for a pipeline's stage job. Default null. */
  pipelineId?: string | null;
  stage?: string | null;
}

export interface InsertedJob {
  id: string;
  /** False when an idempotency key matched a job that already existed. */
  created: boolean;
  job: JobRow;
}

const jobColumns = entityColumns(JobEntity, [
  'id', 'queue', 'name', 'payload', 'status', 'priority', 'runId', 'idempotencyKey', 'maxAttempts', 'backoff', 'timeoutMs',
  'attemptsStarted', 'attemptsFailed', 'currentAttempt', 'runAt', 'createdAt', 'updatedAt', 'version', 'pipelineId', 'stage',
]);

/**
 * Inserts jobs and their `job.enqueued` events. Jobs whose idempotency key already exists in their
 * queue (in the ledger, or earlier in the same batch) are not inserted: the existing job is returned.
 * Must run inside a transaction; a unique violation from a concurrent producer aborts it and the
 * caller retries, when the keys are found by the lookup.
 */
export async function insertJobs(sql: Sql, jobs: readonly NewJob[]): Promise<InsertedJob[]> {
  const existing = await findByIdempotencyKeys(sql, jobs);
  const results: InsertedJob[] = [];
  const toInsert: NewJob[] = [];
  const claimed = new Map<string, JobRow>();
  for (const job of jobs) {
    const key = job.idempotencyKey === null ? null : `${job.queue}\u0000${job.idempotencyKey}`;
    const found = key === null ? undefined : (existing.get(key) ?? claimed.get(key));
    if (found) {
      results.push({ id: found.id, created: false, job: found });
      continue;
    }
    const row = newJobRow(job);
    if (key !== null) claimed.set(key, row);
    toInsert.push(job);
    results.push({ id: job.id, created: true, job: row });
  }

  // Held with the events where the Sql holds rows: one statement for both on PostgreSQL's hot path.
  await insertRows(
    sql,
    'jobs',
    jobColumns,
    toInsert.map((j) => [
      j.id, j.queue, j.name, encodeJson(j.payload), 'pending', j.priority, j.runId, j.idempotencyKey, j.maxAttempts,
      encodeJson(j.backoff), j.timeoutMs, 0, 0, 0, j.runAt, j.createdAt, j.createdAt, 1, j.pipelineId ?? null, j.stage ?? null,
    ]),
  );
  const events: NewEvent[] = toInsert.map((j) => ({
    subjectType: 'job',
    subjectId: j.id,
    seq: 1,
    type: 'job.enqueued',
    payload: {
      name: j.name,
      queue: j.queue,
      runId: j.runId,
      priority: j.priority,
      runAt: j.runAt,
      idempotencyKey: j.idempotencyKey,
      ...(j.pipelineId ? { pipelineId: j.pipelineId, stage: j.stage ?? null } : {}),
    },
    actor: j.actor,
    createdAt: j.createdAt,
  }));
  await appendEvents(sql, events);
  faultPoint('enqueue.before_commit'); // written, not committed: the crash must leave nothing
  return results;
}

async function findByIdempotencyKeys(sql: Sql, jobs: readonly NewJob[]): Promise<Map<string, JobRow>> {
  const found = new Map<string, JobRow>();
  const byQueue = new Map<string, string[]>();
  for (const j of jobs) {
    if (j.idempotencyKey === null) continue;
    const keys = byQueue.get(j.queue) ?? [];
    keys.push(j.idempotencyKey);
    byQueue.set(j.queue, keys);
  }
  for (const [queue, keys] of byQueue) {
    for (let start = 0; start < keys.length; start += 500) {
      const chunk = keys.slice(start, start + 500);
      const rows = await sql.all(
        `SELECT * FROM jobs WHERE queue = ? AND idempotency_key IN (${placeholders(chunk.length)})`,
        [queue, ...chunk],
      );
      for (const r of rows) {
        const row = toJobRow(sql.dialect, r);
        found.set(`${row.queue}\u0000${row.idempotencyKey ?? ''}`, row);
      }
    }
  }
  return found;
}

function newJobRow(j: NewJob): JobRow {
  return {
    id: j.id, queue: j.queue, name: j.name, payload: j.payload, status: 'pending', statusReason: null,
    priority: j.priority, runId: j.runId, pipelineId: j.pipelineId ?? null, stage: j.stage ?? null, idempotencyKey: j.idempotencyKey,
    maxAttempts: j.maxAttempts, backoff: j.backoff, timeoutMs: j.timeoutMs, attemptsStarted: 0, attemptsFailed: 0,
    currentAttempt: 0, progress: null, result: null, lastError: null, runAt: j.runAt, createdAt: j.createdAt,
    dispatchedAt: null, startedAt: null, finishedAt: null, updatedAt: j.createdAt, version: 1,
  };
}

/**
 * Marks jobs as handed to Redis. A job a worker already began (BullMQ can start it before this mark
 * lands) keeps its status and only gets its `dispatched_at` milestone.
 */
export async function markDispatched(sql: Sql, ids: readonly string[], now: number): Promise<void> {
  const set = `UPDATE jobs SET dispatched_at = COALESCE(dispatched_at, ?),
       status = CASE WHEN status = 'pending' THEN (CASE WHEN run_at > ? THEN 'delayed' ELSE 'queued' END) ELSE status END`;
  // One statement text for any number of ids where arrays bind (sql.ts).
  if (usesArrays(sql)) {
    await sql.run(`${set} WHERE id = ANY(?::text[])`, [now, now, ids]);
    return;
  }
  for (let start = 0; start < ids.length; start += 500) {
    const chunk = ids.slice(start, start + 500);
    await sql.run(`${set} WHERE id IN (${placeholders(chunk.length)})`, [now, now, ...chunk]);
  }
}

/** Committed jobs not handed to Redis yet, oldest first: the outbox. */
export async function findUndispatched(sql: Sql, createdBefore: number, limit: number): Promise<JobRow[]> {
  const rows = await sql.all(
    `SELECT * FROM jobs WHERE status = 'pending' AND dispatched_at IS NULL AND updated_at <= ? ORDER BY created_at LIMIT ?`,
    [createdBefore, limit],
  );
  return rows.map((r) => toJobRow(sql.dialect, r));
}
