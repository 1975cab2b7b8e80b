/**
 * The attempt half of the ledger, its beginning (the outcome is in outcome-writes.ts): one
 * transaction of conditional updates plus the events that record them, fenced on the job's
 * status and `current_attempt`, and the types both halves share.
 */
import { AttemptEntity, type JobRow } from '../entities/index.js';
import { entityColumns } from '../engine/entity-columns.js';
import { batchEvents, type NewEvent } from '../jobs/events.js';
import { newId } from '../ids.js';
import {
  attemptFrom,
  attemptStatusSql,
  attemptTransitions,
  initialAttemptStatus,
  isFinalJobStatus,
  jobFrom,
  jobStatusSql,
  jobTransitions,
} from '../lifecycle.js';
import type { Outcome } from './outcome.js';
import { jobRowColumns, startedJobOf, toJobRow, type StartedJob } from '../jobs/job-rows.js';
import { rowsForm, RowsStatement, toNumber, type Sql } from '../engine/sql.js';
import type { RowBatch } from '../engine/row-batch.js';

export interface WorkerIdentity {
  workerId: string;
  host: string;
  pid: number;
}

/**
 * The id a begin gives its attempt, made once per request so that every try of it (a transaction
 * run again after a lost connection) writes the same attempt: if an earlier try landed unseen, the
 * attempt row says so and the begin returns it instead of starting another.
 */
export interface AttemptIds {
  attemptId: string;
}

/** Identifies one attempt for the writes it makes. */
export interface AttemptRef {
  jobId: string;
  attemptId: string;
  number: number;
  startedAt: number;
}

export type BeginResult =
  | { kind: 'started'; job: StartedJob; attempt: AttemptRef; stalledAttempts: number[] }
  /** The job is already completed, failed or cancelled: nothing runs. */
  | { kind: 'final'; job: JobRow }
  /** Redis delivered an id the ledger has no row for. */
  | { kind: 'missing' }
  /** Another attempt changed the job between our read and our write. */
  | { kind: 'raced' }
  /**
   * This delivery is older than the job's current attempt (it was fetched before that attempt
   * began): it comes from a worker that lost the job meanwhile, and must not supersede a newer one.
   */
  | { kind: 'stale'; currentAttempt: number };

/** What an applied outcome looked like, for the hooks that extend its transaction. */
export interface AppliedOutcome {
  ref: AttemptRef;
  outcome: Outcome;
  /** `pipelineId` and `stage` let a pipeline hook skip other jobs without a query. */
  job: Pick<JobRow, 'id' | 'status' | 'runAt' | 'version' | 'pipelineId' | 'stage'>;
  now: number;
}

/**
 * Extra writes that must commit in the same transaction as an applied outcome (a pipeline advancing
 * to its next stage, state changes a handler made). Runs only when the outcome was applied, never
 * for a superseded or cancelled attempt, and may run more than once if the transaction is retried,
 * so it must write only through `tx`. It returns jobs it created, for hand-over after the commit.
 */
export type OutcomeHook = (tx: Sql, applied: AppliedOutcome) => Promise<JobRow[] | void>;

export type RecordedOutcome =
  | { kind: 'applied'; job: Pick<JobRow, 'id' | 'status' | 'runAt' | 'version'>; dispatch: JobRow[] }
  /** A newer attempt owns the job: this attempt's outcome changed nothing but its own row. */
  | { kind: 'superseded'; currentAttempt: number; jobStatus: string }
  /** An operator cancelled the job meanwhile; the attempt is recorded as cancelled. */
  | { kind: 'cancelled' };

/**
 * Thrown inside the transaction when another attempt changed the job between our read and our
 * write, so that the stalled marks made so far roll back; the caller turns it into `raced`.
 */
export class RacedError extends Error {}

const beginSources = jobTransitions.begin.from;
/** The begin sources of a job nobody runs: no earlier attempt can be left to mark stalled. */
export const waitingSources = beginSources.filter((status) => status !== jobTransitions.begin.to);
/** The first heartbeat is the database's clock, as every later one is (attempt-signals.ts). */
const attemptColumns = entityColumns(AttemptEntity, [
  'id', 'jobId', 'number', 'status', 'workerId', 'host', 'pid', 'startedAt', 'heartbeatAt',
]).map((column) => (column.name === 'heartbeat_at' ? { ...column, databaseNow: true as const } : column));

/**
 * A job's start, from a batch source `v` with `now` and `events` (how many events the start appends,
 * which its version counts): the one definition, for the batched begin (attempt-batch.ts), the slow
 * path below and PostgreSQL's one-statement begin (engine/postgres/attempt-statements.ts).
 */
export const beginSet = `status = ${jobStatusSql(jobTransitions.begin.to)}, attempts_started = jobs.attempts_started + 1,
     current_attempt = jobs.attempts_started + 1, started_at = COALESCE(jobs.started_at, v.now), updated_at = v.now,
     status_reason = NULL, version = jobs.version + v.events`;

/** The slow path's begin: fenced on the version the job was read at, since it may be `running`. */
const beginFenced = new RowsStatement(
  [
    { name: 'id', type: 'text' },
    { name: 'now', type: 'bigint' },
    { name: 'events', type: 'int' },
    { name: 'version', type: 'bigint' },
  ],
  (_dialect, source) => `UPDATE jobs SET ${beginSet}
   FROM ${source}
   WHERE jobs.id = v.id AND jobs.version = v.version AND ${jobFrom('begin', 'jobs.status')}
   RETURNING jobs.version, jobs.current_attempt`,
);

/** What a begin asks for: the batch functions' input (attempt-batch.ts). */
export interface BeginRequest {
  jobId: string;
  worker: WorkerIdentity;
  now: number;
  /** The attempt's id, the same for every try of this request (see `AttemptIds`). Default: made per try. */
  ids?: AttemptIds;
  /** When this delivery was fetched from Redis (the worker's clock), if known. */
  deliveredAt?: number;
}

/**
 * The slow path of a begin, for a job the batched update did not find waiting: still `running`
 * (lost by its worker, or begun already by an earlier try of this very request), final, or
 * unknown. Statements of its own, run at once; the attempt row and events go into `batch`, which
 * the caller must have written before (this path reads attempts). Throws `RacedError` (rolling
 * the transaction back) if the job changed under it.
 */
export async function beginSlowly(tx: Sql, batch: RowBatch, request: BeginRequest): Promise<BeginResult> {
  const { jobId, now, ids, deliveredAt } = request;
  const [raw] = await tx.all(`SELECT ${jobRowColumns} FROM jobs WHERE id = ?`, [jobId]);
  if (!raw) return { kind: 'missing' } as const;
  const job = toJobRow(tx.dialect, raw);
  if (isFinalJobStatus(job.status)) return { kind: 'final', job } as const;
  if (job.status === 'running' && ids) {
    const begun = await alreadyBegun(tx, job, ids);
    if (begun) return begun;
  }

  // A job that is still `running` in the ledger but delivered again was lost by its worker
  // (BullMQ's stalled checker re-queued it): its attempt is recorded as stalled, never reused.
  // Unless this delivery is the older one: a process frozen between its fetch and this write
  // (the write waited out the freeze) lost the job to the attempt that began meanwhile. BullMQ
  // hands a job out again only after the last holder's lock expired, a whole lock duration after
  // that holder fetched it, so clocks that differ by less than that still order the two.
  if (job.status === 'running' && deliveredAt !== undefined) {
    const [current] = await tx.all('SELECT started_at FROM attempts WHERE job_id = ? AND number = ?', [jobId, job.currentAttempt]);
    if (current && toNumber(current.started_at) > deliveredAt) return { kind: 'stale', currentAttempt: job.currentAttempt } as const;
  }
  const stalledAttempts =
    job.status === 'running'
      ? (
          await tx.all(
            `UPDATE attempts SET status = ${attemptStatusSql(attemptTransitions.stall.to)}, finished_at = ?, duration_ms = ? - started_at
             WHERE job_id = ? AND ${attemptFrom('stall')} RETURNING number`,
            [now, now, jobId],
          )
        ).map((r) => toNumber(r.number))
      : [];
  stalledAttempts.sort((a, b) => a - b);

  const [statement] = beginFenced.statements(rowsForm(tx), [[jobId, now, stalledAttempts.length + 1, job.version]]);
  const [updated] = await tx.all(statement!.text, statement!.params);
  if (!updated) throw new RacedError();
  const started: StartedJob = {
    ...startedJobOf(job),
    status: 'running',
    currentAttempt: toNumber(updated.current_attempt),
    version: toNumber(updated.version),
  };
  return startAttempt(batch, started, stalledAttempts, request);
}

/**
 * This very begin, landed by an earlier try whose answer was lost (its connection ended during the
 * commit): the job runs the attempt with these ids. Returned as started again, never stalled and
 * replaced by a second attempt.
 */
async function alreadyBegun(tx: Sql, job: JobRow, ids: AttemptIds): Promise<BeginResult | undefined> {
  const [attempt] = await tx.all('SELECT number, status, started_at FROM attempts WHERE id = ?', [ids.attemptId]);
  if (!attempt || attempt.status !== 'running' || toNumber(attempt.number) !== job.currentAttempt) return undefined;
  const number = toNumber(attempt.number);
  const ref = { jobId: job.id, attemptId: ids.attemptId, number, startedAt: toNumber(attempt.started_at) };
  return { kind: 'started', job: startedJobOf(job), attempt: ref, stalledAttempts: [] };
}

export function newAttemptIds(): AttemptIds {
  return { attemptId: newId('att') };
}

/**
 * The rest of a begin, once the job row says `running` with its new attempt number: the attempt
 * row and the events (`job.stalled` for each lost attempt, then `job.started`), added to `batch`.
 */
export function startAttempt(batch: RowBatch, job: StartedJob, stalledAttempts: readonly number[], request: BeginRequest): BeginResult {
  const { worker, now } = request;
  const jobId = job.id;
  const number = job.currentAttempt;
  const version = job.version;
  const firstSeq = version - stalledAttempts.length;
  const attempt = { jobId, attemptId: (request.ids ?? newAttemptIds()).attemptId, number, startedAt: now };
  batch.insert('attempts', attemptColumns, [
    [attempt.attemptId, jobId, number, initialAttemptStatus, worker.workerId, worker.host, worker.pid, now, now],
  ]);
  const events: NewEvent[] = stalledAttempts.map((lost, i) => ({
    subjectType: 'job',
    subjectId: jobId,
    seq: firstSeq + i,
    type: 'job.stalled',
    payload: { attempt: lost, detectedBy: worker.workerId },
    actor: 'system',
    createdAt: now,
  }));
  events.push({
    subjectType: 'job',
    subjectId: jobId,
    seq: version,
    type: 'job.started',
    payload: { attempt: number, workerId: worker.workerId, host: worker.host, pid: worker.pid },
    actor: 'system',
    createdAt: now,
  });
  batchEvents(batch, events);
  return { kind: 'started', job, attempt, stalledAttempts: [...stalledAttempts] } as const;
}
