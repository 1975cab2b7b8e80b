/**
 * Writing new jobs and handing them over: the insert half of enqueue (jobs + `job.enqueued` events,
 * batched) and the outbox marks the dispatcher sets once Redis has a job.
 */
import { IdempotencyUnresolvedError } from '../../errors.js';
import { crashAt, faultPointDue } from '../../fault-points.js';
import { appendEvents, batchEvents, type NewEvent } from './events.js';
import { toJobRow } from './job-rows.js';
import { initialJobStatus, jobFrom, jobStatusSql, jobTransitions } from '../lifecycle.js';
import { encodeJson, placeholders, rowsForm, RowsStatement, usesArrays, type Sql } from '../engine/sql.js';
import { RowBatch, writeRows } from '../engine/row-batch.js';
import { JobEntity, type JobRow } from '../entities/index.js';
import { entityColumns } from '../engine/entity-columns.js';
import type { JobOrigin } from './foreign-jobs.js';

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
  /** The producer's trace context (JSON text of its W3C `traceparent` and `tracestate`). Default null. */
  traceContext?: string | null;
  /** Where a job adopted from plain BullMQ came from (its `job.enqueued` event says). Default none. */
  origin?: JobOrigin;
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
  'traceContext',
]);

/**
 * The insert of jobs that may carry idempotency keys: a row whose key its queue already holds is
 * skipped, and the statement returns the ids it did insert. On PostgreSQL, a row whose key another
 * transaction has inserted and not yet committed waits for that transaction: skipped if it commits,
 * inserted if it rolls back. (`WHERE true`: SQLite needs it to tell `ON CONFLICT` from a join.)
 */
const keyedInsert = new RowsStatement(
  jobColumns,
  (_dialect, source) => {
    const names = jobColumns.map((c) => c.name).join(', ');
    return `INSERT INTO jobs (${names}) SELECT ${names} FROM ${source} WHERE true ON CONFLICT (queue, idempotency_key) DO NOTHING RETURNING id`;
  },
  { jsonRows: true },
);

/**
 * How many times a key is offered again after the job that held it could not be read back (it was
 * deleted in between, by retention pruning say): each round either inserts the job or finds the
 * holder, unless the holder keeps vanishing.
 */
const maxKeyRounds = 5;

/**
 * Inserts jobs and their `job.enqueued` events. A job whose idempotency key its queue already holds
 * (in the ledger, in a concurrent transaction, or earlier in the same batch) is not inserted: the job
 * that holds the key is returned, with `created: false`. Runs inside a transaction (the ledger's, or
 * the caller's for transactional enqueue); a concurrent producer's insert of the same key never
 * fails it (see `insertKeyed`).
 */
export async function insertJobs(sql: Sql, jobs: readonly NewJob[]): Promise<InsertedJob[]> {
  if (jobs.some((j) => j.idempotencyKey !== null)) return insertKeyed(sql, jobs);
  // Without keys nothing can conflict and nothing is read back: the jobs and their events are one
  // batch of rows (one statement for both on PostgreSQL's hot path: row-batch.ts).
  const { batch, inserted } = keylessRows(jobs);
  await writeRows(sql, batch);
  if (faultPointDue('enqueue.before_commit')) crashAt('enqueue.before_commit', await rowsWritten(sql, jobs));
  return inserted;
}

/** Jobs without idempotency keys as one batch of rows (the jobs and their `job.enqueued` events), and what inserting them returns. */
export function keylessRows(jobs: readonly NewJob[]): { batch: RowBatch; inserted: InsertedJob[] } {
  const batch = new RowBatch().insert('jobs', jobColumns, jobs.map(jobValues));
  batchEvents(batch, jobs.map(enqueuedEvent));
  return { batch, inserted: jobs.map((j) => ({ id: j.id, created: true, job: newJobRow(j) })) };
}

/**
 * `keylessRows` for an engine that commits them by themselves outside a transaction; undefined
 * when a job has an idempotency key (the insert must read first), or while the fault point
 * `enqueue.before_commit` is due (it crashes inside an open transaction).
 */
export function keylessRowsAlone(jobs: readonly NewJob[]): { batch: RowBatch; inserted: InsertedJob[] } | undefined {
  if (jobs.some((j) => j.idempotencyKey !== null) || faultPointDue('enqueue.before_commit')) return undefined;
  return keylessRows(jobs);
}

/**
 * Keyed jobs: the first job of each key in the batch is offered to the ledger with `keyedInsert`,
 * the keys in one order for every producer (two batches that overlap then cannot wait on each other
 * in a circle); the keys it did not insert are read back, and each later job of the same key gets
 * what the first got. The insert itself settles a race: no producer reads "absent" and then fails on
 * the unique index, as a read-then-insert would on PostgreSQL. On SQLite the transaction holds the
 * write lock before it reads (engine/sqlite/executor.ts, write-lock.ts), so nothing changes between the two.
 */
async function insertKeyed(sql: Sql, jobs: readonly NewJob[]): Promise<InsertedJob[]> {
  const offered = new Map<string, NewJob>();
  const keyless: NewJob[] = [];
  for (const job of jobs) {
    const key = keyOf(job);
    if (key === null) keyless.push(job);
    else if (!offered.has(key)) offered.set(key, job);
  }
  const holders = new Map<string, JobRow>();
  const inserted: NewJob[] = [];
  let pending = [...keyless, ...[...offered].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, job]) => job)];
  for (let round = 1; pending.length > 0; round++) {
    if (round > maxKeyRounds) {
      const [lost] = pending;
      throw new IdempotencyUnresolvedError(lost!.queue, lost!.idempotencyKey ?? '', maxKeyRounds);
    }
    const ids = new Set<unknown>();
    for (const statement of keyedInsert.statements(rowsForm(sql), pending.map(jobValues))) {
      for (const row of await sql.all(statement.text, statement.params)) ids.add(row.id);
    }
    const skipped: NewJob[] = [];
    for (const job of pending) {
      if (!ids.has(job.id)) skipped.push(job);
      else {
        inserted.push(job);
        const key = keyOf(job);
        if (key !== null) holders.set(key, newJobRow(job));
      }
    }
    // Skipped for its key: the job that holds it has committed (or is this transaction's own), and
    // each statement reads what was committed before it began. Not found: it was deleted meanwhile.
    const found = await findByIdempotencyKeys(sql, skipped);
    for (const [key, row] of found) holders.set(key, row);
    pending = skipped.filter((job) => !found.has(keyOf(job)!));
  }
  await appendEvents(sql, inserted.map(enqueuedEvent));
  if (faultPointDue('enqueue.before_commit')) crashAt('enqueue.before_commit', await rowsWritten(sql, inserted));
  const keylessRows = new Map(keyless.map((j) => [j.id, newJobRow(j)]));
  return jobs.map((job) => {
    const key = keyOf(job);
    const row = key === null ? keylessRows.get(job.id)! : holders.get(key)!;
    return { id: row.id, created: row.id === job.id, job: row };
  });
}

/**
 * TEST ONLY (fault point `enqueue.before_commit`): the crash must come with the rows written and
 * the transaction open; the count, read inside the transaction, is the fault point's record. While
 * the point is due, no enqueue goes as one statement committing by itself (`keylessRowsAlone`).
 */
async function rowsWritten(sql: Sql, jobs: readonly NewJob[]): Promise<string> {
  const ids = jobs.map((j) => j.id);
  let jobRows = 0;
  let eventRows = 0;
  for (let start = 0; start < ids.length; start += 500) {
    const chunk = ids.slice(start, start + 500);
    const [found] = await sql.all(`SELECT COUNT(*) AS n FROM jobs WHERE id IN (${placeholders(chunk.length)})`, chunk);
    const [events] = await sql.all(
      `SELECT COUNT(*) AS n FROM events WHERE subject_type = 'job' AND type = 'job.enqueued' AND subject_id IN (${placeholders(chunk.length)})`,
      chunk,
    );
    jobRows += Number(found?.n);
    eventRows += Number(events?.n);
  }
  return `${jobRows} of ${ids.length} job rows and ${eventRows} of ${ids.length} job.enqueued events written in the open transaction`;
}

/** `queue NUL key`: keys are unique per queue (and never hold NUL: validate-enqueue.ts). */
function keyOf(job: Pick<NewJob, 'queue' | 'idempotencyKey'>): string | null {
  return job.idempotencyKey === null ? null : `${job.queue}\u0000${job.idempotencyKey}`;
}

function jobValues(j: NewJob): unknown[] {
  return [
    j.id, j.queue, j.name, encodeJson(j.payload), initialJobStatus, j.priority, j.runId, j.idempotencyKey, j.maxAttempts,
    encodeJson(j.backoff), j.timeoutMs, 0, 0, 0, j.runAt, j.createdAt, j.createdAt, 1, j.pipelineId ?? null, j.stage ?? null,
    j.traceContext ?? null,
  ];
}

function enqueuedEvent(j: NewJob): NewEvent {
  return {
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
      ...(j.origin ? { origin: j.origin } : {}),
    },
    actor: j.actor,
    createdAt: j.createdAt,
  };
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
        found.set(keyOf(row)!, row);
      }
    }
  }
  return found;
}

function newJobRow(j: NewJob): JobRow {
  return {
    id: j.id, queue: j.queue, name: j.name, payload: j.payload, status: initialJobStatus, statusReason: null,
    priority: j.priority, runId: j.runId, pipelineId: j.pipelineId ?? null, stage: j.stage ?? null, idempotencyKey: j.idempotencyKey,
    maxAttempts: j.maxAttempts, backoff: j.backoff, timeoutMs: j.timeoutMs, attemptsStarted: 0, attemptsFailed: 0,
    currentAttempt: 0, progress: null, result: null, lastError: null, runAt: j.runAt, createdAt: j.createdAt,
    dispatchedAt: null, startedAt: null, finishedAt: null, updatedAt: j.createdAt, version: 1, traceContext: j.traceContext ?? null,
  };
}

/**
 * Marks jobs as handed to Redis. A job a worker already began (BullMQ can start it before this mark
 * lands) keeps its status and only gets its `dispatched_at` milestone.
 */
export async function markDispatched(sql: Sql, ids: readonly string[], now: number): Promise<void> {
  const set = `UPDATE jobs SET dispatched_at = COALESCE(dispatched_at, ?),
       status = CASE WHEN ${jobFrom('dispatch')}
         THEN (CASE WHEN run_at > ? THEN ${jobStatusSql(jobTransitions.dispatchDelayed.to)} ELSE ${jobStatusSql(jobTransitions.dispatch.to)} END)
         ELSE status END`;
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
    `SELECT * FROM jobs WHERE ${jobFrom('dispatch')} AND dispatched_at IS NULL AND updated_at <= ? ORDER BY created_at LIMIT ?`,
    [createdBefore, limit],
  );
  return rows.map((r) => toJobRow(sql.dialect, r));
}
