/**
 * The job and attempt lifecycles: closed unions and the one table of allowed transitions.
 * Every ledger write that changes a status is a conditional update whose WHERE clause comes from
 * this table, so a late or duplicated write matches no row and changes nothing.
 */

export const jobStatuses = ['pending', 'queued', 'delayed', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof jobStatuses)[number];

export const finalJobStatuses: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

/** Statuses of a job not finished yet. */
export const unfinishedJobStatuses: readonly JobStatus[] = jobStatuses.filter((s) => !finalJobStatuses.includes(s));

/** The status a new job is inserted with: the outbox, until it is handed to Redis. */
export const initialJobStatus = 'pending' satisfies JobStatus;

/**
 * The status a job adopted from plain BullMQ is inserted with when its payload fails its job
 * type's schema: recorded with the validation error, never run (store/jobs/foreign-jobs.ts).
 */
export const refusedJobStatus = 'failed' satisfies JobStatus;

export const attemptStatuses = [
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'stalled',
  'interrupted',
  'superseded',
  'cancelled',
] as const;
export type AttemptStatus = (typeof attemptStatuses)[number];

/** The status an attempt row is inserted with. */
export const initialAttemptStatus = 'running' satisfies AttemptStatus;

/**
 * Each named job transition: the statuses it may start from, the one it leads to, and the events
 * it may append to the job's log (test/transitions.test.ts walks every status through every
 * transition on both dialects and holds the ledger to this table).
 */
export const jobTransitions = {
  /** The job reached Redis. Written behind the hand-over; the log has no event for it. */
  dispatch: { from: ['pending'], to: 'queued', events: [] },
  /** The job reached Redis, to run later (its `run_at` is ahead). */
  dispatchDelayed: { from: ['pending'], to: 'delayed', events: [] },
  /**
   * A worker begins an attempt. `running` is a source too: the running attempt stalled and is
   * recorded `stalled` (`job.stalled`) before the new one starts.
   */
  begin: { from: ['pending', 'queued', 'delayed', 'running'], to: 'running', events: ['job.stalled', 'job.started'] },
  complete: { from: ['running'], to: 'completed', events: ['job.completed'] },
  scheduleRetry: { from: ['running'], to: 'delayed', events: ['job.attempt_failed', 'job.retry_scheduled'] },
  fail: { from: ['running'], to: 'failed', events: ['job.attempt_failed', 'job.failed'] },
  /** Shutdown interrupted the attempt; the job goes back to the queue without spending its budget. */
  requeue: { from: ['running'], to: 'queued', events: ['job.interrupted'] },
  /**
   * The running attempt was lost (its worker froze or died: no heartbeat); the job goes back to the
   * queue and the attempt is recorded `stalled`.
   */
  loseAttempt: { from: ['running'], to: 'queued', events: ['job.stalled'] },
  cancel: { from: ['pending', 'queued', 'delayed', 'running'], to: 'cancelled', events: ['job.cancelled'] },
  /** An operator gives a dead job a new life: a new attempt, never an overwrite. */
  retry: { from: ['failed', 'cancelled'], to: 'pending', events: ['job.retried'] },
  /** BullMQ gave up on a job that stalled too often; the processor never saw it. */
  failStalled: { from: ['pending', 'queued', 'delayed', 'running'], to: 'failed', events: ['job.stalled', 'job.failed'] },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: JobStatus; events: readonly EventType[] }>;

/**
 * An attempt's outcome that its job's status refuses (the job was cancelled, failed as stalled or
 * retried meanwhile, or a newer attempt owns it) changes nothing of the job: the attempt is
 * recorded `superseded` and this one event keeps the discarded outcome in the job's log, so the
 * record of every attempt stays complete.
 */
export const refusedOutcomeEvent = 'job.superseded' satisfies EventType;

/** Each named attempt transition: the statuses it may start from and the one it leads to. */
export const attemptTransitions = {
  /** The handler returned. */
  succeed: { from: ['running'], to: 'succeeded' },
  /** The handler threw (or its timeout fired: `timeOut`). */
  fail: { from: ['running'], to: 'failed' },
  timeOut: { from: ['running'], to: 'timed_out' },
  /** Shutdown aborted it; the job goes back to the queue. */
  interrupt: { from: ['running'], to: 'interrupted' },
  /** An operator cancelled the job while it ran. */
  cancel: { from: ['running'], to: 'cancelled' },
  /** Its worker died or froze: no heartbeat, or a newer delivery of the same job began. */
  stall: { from: ['running'], to: 'stalled' },
  /** Its outcome came after the job moved on (see `refusedOutcomeEvent`). */
  supersede: { from: ['running', 'stalled'], to: 'superseded' },
} as const satisfies Record<string, { from: readonly AttemptStatus[]; to: AttemptStatus }>;

export type AttemptTransition = keyof typeof attemptTransitions;

export type JobTransition = keyof typeof jobTransitions;

export function isFinalJobStatus(status: string): boolean {
  return (finalJobStatuses as readonly string[]).includes(status);
}

export function canTransition(status: JobStatus, transition: JobTransition): boolean {
  return (jobTransitions[transition].from as readonly JobStatus[]).includes(status);
}

/**
 * SQL for a job transition's source statuses, e.g. `status IN ('pending', 'queued')`: together with
 * the helpers below, the only way a status string reaches a statement, so a statement fences on
 * exactly what the table says.
 */
export function jobFrom(transition: JobTransition, column = 'status'): string {
  return statusIn(column, jobTransitions[transition].from);
}

/** SQL for an attempt transition's source statuses. */
export function attemptFrom(transition: AttemptTransition, column = 'status'): string {
  return statusIn(column, attemptTransitions[transition].from);
}

/** A job status as an SQL literal (for `SET status = ...`, or a read that filters by status). */
export function jobStatusSql(status: JobStatus): string {
  if (!(jobStatuses as readonly string[]).includes(status)) throw new Error(`not a job status: ${String(status)}`);
  return `'${status}'`;
}

/** An attempt status as an SQL literal. */
export function attemptStatusSql(status: AttemptStatus): string {
  if (!(attemptStatuses as readonly string[]).includes(status)) throw new Error(`not an attempt status: ${String(status)}`);
  return `'${status}'`;
}

/** SQL for `column` holding one of `statuses`. */
export function statusIn(column: string, statuses: readonly (JobStatus | AttemptStatus)[]): string {
  const known: readonly string[] = [...jobStatuses, ...attemptStatuses];
  for (const s of statuses) if (!known.includes(s)) throw new Error(`not a status: ${String(s)}`);
  return statuses.length === 1 ? `${column} = '${statuses[0]}'` : `${column} IN (${statuses.map((s) => `'${s}'`).join(', ')})`;
}

/** SQL for the final job statuses (completed, failed, cancelled). */
export function finalJobStatusIn(column = 'status'): string {
  return statusIn(column, finalJobStatuses);
}

/**
 * The events every job has. `events_rare_type_created_at_index` leaves them out, and the listing by
 * type repeats its predicate (queries.ts); the schema test holds the two together.
 */
export const everyJobsEventTypes = ['job.enqueued', 'job.started', 'job.completed'] as const;

/** Event types written to the log, as dotted strings. */
export const eventTypes = [
  'job.enqueued',
  'job.started',
  'job.progress',
  'job.completed',
  'job.attempt_failed',
  'job.retry_scheduled',
  'job.failed',
  'job.stalled',
  'job.interrupted',
  'job.superseded',
  'job.cancelled',
  'job.retried',
  /** A worker that does not know the job's type handed it back to Redis (at most once per worker). */
  'job.type_unknown',
  /**
   * A delayed job was delivered before its run time because it was promoted in Redis (Bull Board's
   * "promote", `Job.promote`): recorded with actor `redis` as it starts, its `run_at` set to then.
   */
  'job.promoted',
  /** Redis asked to run a finished job again (Bull Board's "retry") and the ledger refused: nothing ran. */
  'job.retry_refused',
  /**
   * Someone removed the job from Redis (Bull Board's "remove", `Job.remove`): the ledger keeps it;
   * an unfinished one is handed to Redis again by the next reconcile.
   */
  'job.redis_removed',
  'run.created',
  'run.status_changed',
  'pipeline.started',
  'pipeline.stage_completed',
  'pipeline.looped',
  'pipeline.succeeded',
  'pipeline.failed',
  /** An operator cancelled a running pipeline (it ends failed, in state `cancelled`). */
  'pipeline.cancelled',
  /** An operator ran a failed pipeline again from the stage that ended it. */
  'pipeline.retried',
  'state.created',
  'state.updated',
  'state.status_changed',
  'state.deleted',
  'state.undeleted',
  'state.restored',
  /** A named replay began making new jobs from the payloads of the jobs its filter matched. */
  'replay.started',
  /** A replay ended: completed, cancelled by an operator, or failed (the payload says which and why). */
  'replay.finished',
] as const;
export type EventType = (typeof eventTypes)[number];
