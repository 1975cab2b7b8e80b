/**
 * The BullMQ processor: one attempt, from start to the word BullMQ gets. Everything that matters is
 * committed to the ledger before BullMQ is told: the attempt's start before the handler runs, its
 * outcome before the job is completed, retried or failed in Redis.
 */
import { DelayedError, UnrecoverableError, WaitingError, type Job } from 'bullmq';
import type { JobRegistry } from '../jobs/registry.js';
import type { BackoffPolicy } from '../jobs/backoff.js';
import type { Logger } from '../logger.js';
import type { AttemptRef, OutcomeHook, WorkerIdentity } from '../store/attempt-writes.js';
import type { JobRow } from '../store/entities/index.js';
import type { Ledger } from '../store/ledger.js';
import type { Outcome } from '../store/outcome.js';
import { AttemptAbort } from './attempt-abort.js';
import { AttemptContext } from './attempt-context.js';
import { classifyOutcome, type AbortReason, type AttemptResult } from './classify-outcome.js';

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

/** An attempt this process is running, so that cancel, shutdown and lock loss can abort it. */
export interface ActiveAttempt {
  ref: AttemptRef;
  abort(reason: AbortReason): void;
}

export interface ExecuteDeps {
  ledger: Ledger;
  registry: JobRegistry;
  identity: WorkerIdentity;
  logger: Logger;
  active: Map<string, ActiveAttempt>;
  progressEventIntervalMs: number;
  maxErrorChars: number;
  /** Deepest storable result, progress and state data nesting (Config.maxJsonDepth). Default 64. */
  maxJsonDepth?: number;
  /** Largest storable result (Config.maxResultBytes). Default 1 MiB. */
  maxResultBytes?: number;
  /** Largest storable progress (Config.maxProgressBytes). Default 1 MiB. */
  maxProgressBytes?: number;
  /** Writes that join every applied outcome's transaction (pipelines advancing, for example). */
  outcomeHooks?: readonly OutcomeHook[];
  /** Hands jobs created by the hooks to Redis after the commit (the relay covers a failure). */
  dispatch?: (jobs: JobRow[]) => Promise<unknown>;
}

export function createProcessor(deps: ExecuteDeps) {
  return async function processJob(bullJob: Job, token?: string): Promise<unknown> {
    const jobId = bullJob.id;
    if (!jobId) throw new UnrecoverableError('a BullMQ job without an id cannot be matched to the ledger');
    let begin = await deps.ledger.beginAttempt(jobId, deps.identity);
    if (begin.kind === 'raced') begin = await deps.ledger.beginAttempt(jobId, deps.identity);

    switch (begin.kind) {
      case 'missing':
        deps.logger.error({ jobId, queue: bullJob.queueName }, 'Redis delivered a job the ledger has no row for; failing it in Redis');
        throw new UnrecoverableError('no ledger row for this job id');
      case 'raced':
        throw new Error('the job changed concurrently twice while starting; BullMQ will deliver it again');
      case 'final':
        // At-least-once delivery: a finished job met again runs nothing.
        deps.logger.info({ jobId, status: begin.job.status }, 'job already final in the ledger; not running it again');
        if (begin.job.status === 'completed') return null;
        throw new UnrecoverableError(`already ${begin.job.status} in the ledger`);
      case 'started':
        break;
    }

    const { job, attempt } = begin;
    // A worker without this job type still records the attempt (and fails it through the retry
    // budget) rather than leaving the ledger and Redis out of step.
    const type = deps.registry.has(job.name) ? deps.registry.get(job.name) : undefined;
    const stop = new AttemptAbort();
    deps.active.set(jobId, { ref: attempt, abort: (reason) => stop.abort(reason) });
    const ctx = new AttemptContext(deps, job, attempt, stop);

    let result: AttemptResult;
    let timer: NodeJS.Timeout | undefined;
    try {
      const timeoutMs = job.timeoutMs;
      if (timeoutMs !== null) timer = setTimeout(() => stop.timeOut(timeoutMs), timeoutMs);
      // A handler that ignores its signal keeps running after a timeout or abort; its late result is
      // dropped here, and nothing it returns can reach the ledger past the outcome recorded below.
      const ran = (async (): Promise<AttemptResult> => {
        try {
          if (!type) deps.registry.get(job.name); // throws the typed UnknownJobError
          return { kind: 'returned', value: await type!.handler(job.payload, ctx) };
        } catch (error) {
          return { kind: 'threw', error };
        }
      })();
      result = await Promise.race([ran, stop.settled]);
    } finally {
      clearTimeout(timer);
      deps.active.delete(jobId);
    }

    const policy = { maxAttempts: job.maxAttempts, attemptsFailed: job.attemptsFailed, backoff: job.backoff as BackoffPolicy };
    const classifying = {
      maxErrorChars: deps.maxErrorChars,
      ...(deps.maxResultBytes !== undefined ? { maxResultBytes: deps.maxResultBytes } : {}),
      ...(deps.maxJsonDepth !== undefined ? { maxJsonDepth: deps.maxJsonDepth } : {}),
    };
    let outcome = classifyOutcome(result, policy, classifying);
    const heldProgress = ctx.takeHeldProgress();
    const state = ctx.usedState;
    const hooks = deps.outcomeHooks ?? [];
    const record = (o: Outcome, withHooks: readonly OutcomeHook[]) => deps.ledger.recordOutcome(attempt, o, heldProgress, Date.now(), withHooks);
    let recorded;
    try {
      recorded = await record(outcome, state ? [...hooks, state.outcomeHook] : hooks).catch((error: unknown) => {
        if (!state?.rejected(error)) throw error;
        // The handler's buffered state writes could not apply (a version conflict): the attempt
        // fails as if the handler had thrown that error, and none of its writes are kept.
        outcome = classifyOutcome({ kind: 'threw', error }, policy, classifying);
        return record(outcome, hooks);
      });
    } catch (error) {
      // The outcome could not be committed, so BullMQ must not hear one either: DelayedError makes
      // BullMQ leave the job as it is, its lock lapses, the stalled checker delivers it again, and
      // the next attempt records this one as stalled. The ledger and Redis never disagree.
      ctx.logger.error({ err: error, outcome: outcome.type }, 'could not record the outcome; the job will be delivered again');
      throw new DelayedError();
    }
    if (deps.logger.isLevelEnabled('debug')) ctx.logger.debug({ outcome: outcome.type, recorded: recorded.kind }, 'attempt recorded');
    if (recorded.kind === 'applied' && recorded.dispatch.length && deps.dispatch) {
      await deps.dispatch(recorded.dispatch).catch((error: unknown) =>
        ctx.logger.warn({ err: error }, 'could not hand follow-up jobs to Redis; the relay will'),
      );
    }

    // Only now is BullMQ told.
    if (recorded.kind === 'superseded') {
      throw new Error(`attempt ${attempt.number} was superseded by attempt ${recorded.currentAttempt}; its outcome was not applied`);
    }
    if (recorded.kind === 'cancelled') throw new UnrecoverableError('cancelled by an operator');
    switch (outcome.type) {
      case 'completed':
        return null; // the result lives in the ledger; Redis carries no copy
      case 'failed':
        throw new UnrecoverableError(outcome.reason);
      case 'cancelled':
        throw new UnrecoverableError(outcome.reason);
      case 'interrupted':
        if (stop.reason === 'lock_lost') throw new Error('lock lost; BullMQ will deliver the job again');
        await bullJob.moveToWait(token);
        throw new WaitingError();
      case 'retry': {
        const bullAttempts = bullJob.opts.attempts ?? 1;
        if (bullJob.attemptsMade + 1 < bullAttempts) throw new LedgerRetryError(outcome.error.message, outcome.delayMs);
        // BullMQ's own count would stop here (the counts diverged, e.g. after a re-add); the ledger
        // decides, so move the job to delayed ourselves.
        await bullJob.moveToDelayed(Date.now() + outcome.delayMs, token);
        throw new DelayedError();
      }
    }
  };
}
