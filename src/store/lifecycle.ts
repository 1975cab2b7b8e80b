/**
 * The job and attempt lifecycles: closed unions and the one table of allowed transitions.
 * Every ledger write that changes a status is a conditional update whose WHERE clause comes from
 * this table, so a late or duplicated write matches no row and changes nothing.
 */

export const jobStatuses = ['pending', 'queued', 'delayed', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof jobStatuses)[number];

export const finalJobStatuses: readonly JobStatus[] = ['completed', 'failed', 'cancelled'];

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

/** Each named job transition: the statuses it may start from and the one it leads to. */
export const jobTransitions = {
  /** The job reached Redis (also allowed after a worker already began it: BullMQ can be that fast). */
  dispatch: { from: ['pending'], to: 'queued' },
  /** A worker begins an attempt. `running` is a source too: a stalled attempt is superseded. */
  begin: { from: ['pending', 'queued', 'delayed', 'running'], to: 'running' },
  complete: { from: ['running'], to: 'completed' },
  scheduleRetry: { from: ['running'], to: 'delayed' },
  fail: { from: ['running'], to: 'failed' },
  /** Shutdown interrupted the attempt; the job goes back to the queue without spending its budget. */
  requeue: { from: ['running'], to: 'queued' },
  cancel: { from: ['pending', 'queued', 'delayed', 'running'], to: 'cancelled' },
  /** An operator gives a dead job a new life: a new attempt, never an overwrite. */
  retry: { from: ['failed', 'cancelled'], to: 'pending' },
  /** BullMQ gave up on a job that stalled too often; the processor never saw it. */
  failStalled: { from: ['pending', 'queued', 'delayed', 'running'], to: 'failed' },
} as const satisfies Record<string, { from: readonly JobStatus[]; to: JobStatus }>;

export type JobTransition = keyof typeof jobTransitions;

export function isFinalJobStatus(status: string): boolean {
  return (finalJobStatuses as readonly string[]).includes(status);
}

export function canTransition(status: JobStatus, transition: JobTransition): boolean {
  return (jobTransitions[transition].from as readonly JobStatus[]).includes(status);
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
  'run.created',
  'run.status_changed',
  'pipeline.started',
  'pipeline.stage_completed',
  'pipeline.looped',
  'pipeline.succeeded',
  'pipeline.failed',
  'state.created',
  'state.updated',
  'state.status_changed',
  'state.deleted',
  'state.undeleted',
  'state.restored',
] as const;
export type EventType = (typeof eventTypes)[number];
