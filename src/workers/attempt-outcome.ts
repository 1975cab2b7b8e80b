/**
 * What follows an attempt's committed outcome: the line logged for it, its span's outcome, the
 * event, and the word BullMQ gets (a value to complete with, or the error that fails, retries or
 * delays the job). Kept apart from the processor (execute-attempt.ts), which reads as the steps.
 */
import { SpanStatusCode, type Span } from '@opentelemetry/api';
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { Logger } from '../logger.js';
import type { AttemptRef, Ledger, Outcome, SerializedError, StartedJob } from '../store/index.js';
import type { AttemptAbort } from './attempt-abort.js';
import type { AttemptContext } from './attempt-context.js';
import type { BullBoardMirror } from './bull-board-mirror.js';
import type { JobEvent, JobEventType } from '../observability/job-events.js';

/** What announcing an outcome needs of the processor's dependencies. */
interface ExecuteDepsForOutcome {
  logger: Logger;
  onRecorded?: (event: JobEvent) => void;
}

/** What the ledger says of a recorded outcome: applied, superseded or cancelled. */
export type RecordedOutcome = Awaited<ReturnType<Ledger['recordOutcome']>>;

/** Carries the ledger's retry delay to BullMQ's custom backoff strategy (see ledger-worker.ts). */
export class LedgerRetryError extends Error {
  constructor(
    message: string,
    readonly delayMs: number,
  ) {
    super(message);
    this.name = 'LedgerRetryError';
  }
}

/**
 * The outcome could not be committed, so BullMQ must not hear one either: DelayedError makes
 * BullMQ leave the job as it is, its lock lapses, the stalled checker delivers it again, and the
 * next attempt records this one as stalled. The ledger and Redis never disagree.
 */
export function unrecorded(ctx: AttemptContext, outcome: Outcome, error: unknown, span: Span | undefined): never {
  ctx.logger.error({ err: error, outcome: outcome.type }, 'could not record the outcome; the job will be delivered again');
  span?.setAttribute('jobledger.outcome', 'unrecorded');
  span?.setStatus({ code: SpanStatusCode.ERROR, message: 'the outcome could not be recorded; the job will be delivered again' });
  throw new DelayedError();
}

/** What a failed or retried attempt threw. */
export function errorOf(outcome: Outcome): SerializedError | undefined {
  return outcome.type === 'retry' || outcome.type === 'failed' ? outcome.error : undefined;
}

/** Committed: one line per attempt outcome, the span's outcome, then the event (never before the commit). */
export function announce(
  deps: Pick<ExecuteDepsForOutcome, 'logger' | 'onRecorded'>,
  ctx: AttemptContext,
  job: StartedJob,
  attempt: AttemptRef,
  outcome: Outcome,
  recorded: RecordedOutcome,
  finishedAt: number,
  span: Span | undefined,
): JobEventType {
  const durationMs = Math.max(0, finishedAt - attempt.startedAt);
  const eventType = eventTypeOf(outcome, recorded.kind);
  const error = errorOf(outcome);
  if (span) describeOutcome(span, eventType, error);
  if (deps.logger.isLevelEnabled('debug')) ctx.logger.debug({ outcome: outcome.type, recorded: recorded.kind }, 'attempt recorded');
  if (deps.logger.isLevelEnabled('info')) {
    const fields = { queue: job.queue, outcome: eventType, durationMs, ...(error?.code ? { errorCode: error.code } : {}) };
    // The attempt's own child logger if the handler made it; else the worker's, with the same
    // fields: a child logger per attempt only for this line would cost every attempt its making.
    const own = ctx.madeLogger;
    if (own) own.info(fields, 'attempt finished');
    else deps.logger.info({ jobId: job.id, job: job.name, attempt: attempt.number, ...fields }, 'attempt finished');
  }
  if (deps.onRecorded) {
    const event: JobEvent = { type: eventType, jobId: job.id, name: job.name, queue: job.queue, attempt: attempt.number, at: finishedAt, durationMs };
    if (error) event.error = error;
    if (outcome.type === 'retry' && recorded.kind === 'applied') event.delayMs = outcome.delayMs;
    deps.onRecorded(event);
  }
  return eventType;
}

/** Tells BullMQ the committed outcome: a value to complete with, or the error that fails, retries or delays the job. */
export function tellBullMQ(
  bullJob: Job,
  token: string | undefined,
  attempt: AttemptRef,
  stop: AttemptAbort,
  outcome: Outcome,
  recorded: RecordedOutcome,
  mirror: BullBoardMirror | undefined,
): unknown {
  if (recorded.kind === 'superseded') {
    throw new Error(`attempt ${attempt.number} was superseded by attempt ${recorded.currentAttempt}; its outcome was not applied`);
  }
  if (recorded.kind === 'cancelled') throw new UnrecoverableError('cancelled by an operator');
  switch (outcome.type) {
    case 'completed':
      // The result lives in the ledger; Redis carries a copy only for the Bull Board mirror.
      return mirror ? mirror.result(outcome.result) : null;
    case 'failed':
      throw new UnrecoverableError(outcome.reason);
    case 'cancelled':
      throw new UnrecoverableError(outcome.reason);
    case 'interrupted':
      if (stop.reason === 'lock_lost') throw new Error('lock lost; BullMQ will deliver the job again');
      return bullJob.moveToWait(token).then(() => {
        throw new WaitingError();
      });
    case 'retry': {
      const bullAttempts = bullJob.opts.attempts ?? 1;
      if (bullJob.attemptsMade + 1 < bullAttempts) throw new LedgerRetryError(outcome.error.message, outcome.delayMs);
      // BullMQ's own count would stop here (the counts diverged, e.g. after a re-add); the ledger
      // decides, so move the job to delayed ourselves.
      return bullJob.moveToDelayed(Date.now() + outcome.delayMs, token).then(() => {
        throw new DelayedError();
      });
    }
  }
}

/**
 * The attempt span's outcome (the event's name without `job.`); a failure, or a retry after one,
 * is an error with what the handler threw.
 */
export function describeOutcome(span: Span, eventType: JobEventType, error: SerializedError | undefined): void {
  span.setAttribute('jobledger.outcome', eventType.slice('job.'.length));
  if (!error) return;
  span.recordException({ name: error.name, message: error.message, ...(error.stack ? { stack: error.stack } : {}), ...(error.code ? { code: error.code } : {}) });
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** The event a committed outcome is announced as. */
export function eventTypeOf(outcome: Outcome, recorded: 'applied' | 'superseded' | 'cancelled'): JobEventType {
  if (recorded === 'superseded') return 'job.superseded';
  if (recorded === 'cancelled') return 'job.cancelled';
  switch (outcome.type) {
    case 'completed':
      return 'job.completed';
    case 'retry':
      return 'job.retry_scheduled';
    case 'failed':
      return 'job.failed';
    case 'interrupted':
      return 'job.interrupted';
    case 'cancelled':
      return 'job.cancelled';
  }
}
