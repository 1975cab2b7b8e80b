/**
 * The BullMQ processor: one attempt, from start to the word BullMQ gets. Everything that matters is
 * committed to the ledger before BullMQ is told: the attempt's start before the handler runs, its
 * outcome before the job is completed, retried or failed in Redis.
 */
import { context, ROOT_CONTEXT, SpanKind, trace, type Span } from '@opentelemetry/api';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { JobRegistry } from '../jobs/registry.js';
import type { BackoffPolicy } from '../jobs/backoff.js';
import type { Logger } from '../logger.js';
import {
  isConnectionLoss,
  type AttemptRef,
  type JobRow,
  type Ledger,
  type Outcome,
  type OutcomeHook,
  type StartedJob,
  type WorkerIdentity,
} from '../store/index.js';
import { faultPoint } from '../fault-points.js';
import { AttemptAbort } from './attempt-abort.js';
import { announce, errorOf, tellBullMQ, unrecorded, describeOutcome, type RecordedOutcome } from './attempt-outcome.js';
import { AttemptContext } from './attempt-context.js';
import { classifyOutcome, type AbortReason, type AttemptResult, type ClassifyOptions, type RetryPolicy } from './classify-outcome.js';
import type { DeliveryLock } from './delivery-lock.js';
import type { EventLoopMonitor, TrackedAttempt } from './event-loop-monitor.js';
import type { AttemptState } from './attempt-state.js';
import type { ThreadHandlers } from './thread-handlers.js';
import type { JobEvent, JobEventType } from '../observability/job-events.js';
import { activeTracer, contextFromStored } from '../tracing.js';
import { adoptForeignJob, isForeignDelivery } from './adopt-foreign-job.js';
import { handBackDelayMs } from './unknown-job-type.js';
import type { BullBoardMirror } from './bull-board-mirror.js';

export { LedgerRetryError } from './attempt-outcome.js';
import { acceptRetryFromRedis, deliveredEarly, finishFinalDelivery, recordPromotion } from './redis-actions.js';
import type { TieredStateStore } from '../hot-state/tiered-state-store.js';

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
  /** The state `ctx.state` reads through (its hot tiers) and settles after the outcome commits. Default: plain SQL state. */
  state?: () => TieredStateStore;
  /** Hands jobs created by the hooks to Redis after the commit (the relay covers a failure). */
  dispatch?: (jobs: JobRow[]) => Promise<unknown>;
  /** This process's event loop: who ran through a block (the delivery's lock says whether it cost the lock). */
  monitor: Pick<EventLoopMonitor, 'track'>;
  /** Runs the handlers of job types defined with `threadHandler`. */
  threads: ThreadHandlers;
  /** Told of each start and outcome once the ledger committed it (job events, metrics). Must not throw. */
  onRecorded?: (event: JobEvent) => void;
  /** Largest payload a job adopted from plain BullMQ may carry (Config.maxPayloadBytes). Default 1 MiB. */
  maxPayloadBytes?: number;
  /** Mirrors payload, progress, result and a log line per attempt into the BullMQ job (bull-board-mirror.ts). Default none. */
  mirror?: BullBoardMirror;
}

/** What every attempt of one processor shares, made once: the classification limits and the outcome hooks. */
interface Shared {
  classifying: ClassifyOptions;
  hooks: readonly OutcomeHook[];
}

export function createProcessor(deps: ExecuteDeps) {
  const shared: Shared = {
    classifying: {
      maxErrorChars: deps.maxErrorChars,
      ...(deps.maxResultBytes !== undefined ? { maxResultBytes: deps.maxResultBytes } : {}),
      ...(deps.maxJsonDepth !== undefined ? { maxJsonDepth: deps.maxJsonDepth } : {}),
    },
    hooks: deps.outcomeHooks ?? [],
  };
  return async function processJob(bullJob: Job, token: string | undefined, lock: DeliveryLock): Promise<unknown> {
    const jobId = bullJob.id;
    if (!jobId) throw new UnrecoverableError('a BullMQ job without an id cannot be matched to the ledger');
    // A delivery that waited out a block (a frozen process, a suspect's wait to run alone) may have
    // lost its lock meanwhile: another worker has the job, or will. Leave it as it is in Redis.
    const lostBeforeBegin = lock.atRisk ? await lock.lostToBlock() : undefined;
    if (lostBeforeBegin) {
      deps.logger.warn({ jobId, reason: lostBeforeBegin }, 'not starting a delivery that lost its lock');
      throw new DelayedError();
    }
    const beganAt = Date.now();
    let begin = await deps.ledger.beginAttempt(jobId, deps.identity, beganAt, lock.deliveredAt);
    if (begin.kind === 'raced') begin = await deps.ledger.beginAttempt(jobId, deps.identity, Date.now(), lock.deliveredAt);
    // A finished job that Redis moved back from its failed set (Bull Board's "retry") is retried in
    // the ledger, and this delivery runs the new attempt (redis-actions.ts).
    if (begin.kind === 'final' && (await acceptRetryFromRedis(deps, bullJob, begin.job))) {
      begin = await deps.ledger.beginAttempt(jobId, deps.identity, Date.now(), lock.deliveredAt);
    }

    switch (begin.kind) {
      case 'missing':
        // Put on the queue by plain BullMQ: adopted into the ledger (adopt-foreign-job.ts).
        if (isForeignDelivery(bullJob)) return adoptOrHandBack(deps, bullJob, token);
        deps.logger.error({ jobId, queue: bullJob.queueName }, 'Redis delivered a job the ledger has no row for; failing it in Redis');
        throw new UnrecoverableError('no ledger row for this job id');
      case 'raced':
        throw new Error('the job changed concurrently twice while starting; BullMQ will deliver it again');
      case 'stale':
        // Fetched before the job's current attempt began: this process lost the job meanwhile.
        deps.logger.warn({ jobId, currentAttempt: begin.currentAttempt }, 'a newer attempt owns this job; not starting a stale delivery');
        throw new DelayedError();
      case 'final':
        // At-least-once delivery: a finished job met again runs nothing, and BullMQ hears the
        // ledger's own outcome (its failure reason, not a message that would replace it).
        deps.logger.info({ jobId, status: begin.job.status }, 'job already final in the ledger; not running it again');
        return finishFinalDelivery(begin.job, deps.mirror && ((value) => deps.mirror!.result(value)));
      case 'started':
        break;
    }

    const { job, attempt } = begin;
    // `return await`: the attempt's promise is adopted in one step, not through a thenable job.
    const attemptTracer = activeTracer();
    if (!attemptTracer) return await runAttempt(deps, shared, bullJob, token, lock, job, attempt, undefined);
    // The attempt's span continues the producer's trace (stored with the job), whichever process
    // enqueued it; the handler and the outcome's commit run inside it.
    const parent = contextFromStored(job.traceContext);
    const span = attemptTracer.startSpan(
      'jobledger.attempt',
      {
        kind: SpanKind.CONSUMER,
        startTime: beganAt,
        attributes: { 'jobledger.job.id': jobId, 'jobledger.job.type': job.name, 'jobledger.queue': job.queue, 'jobledger.attempt': attempt.number },
      },
      parent,
    );
    try {
      // The parent context holds nothing but the remote parent, which the span replaces.
      return await context.with(trace.setSpan(ROOT_CONTEXT, span), () => runAttempt(deps, shared, bullJob, token, lock, job, attempt, span));
    } finally {
      span.end();
    }
  };
}

/** An attempt the ledger recorded as started: runs the handler, records the outcome, tells BullMQ. */
async function runAttempt(
  deps: ExecuteDeps,
  shared: Shared,
  bullJob: Job,
  token: string | undefined,
  lock: DeliveryLock,
  job: StartedJob,
  attempt: AttemptRef,
  span: Span | undefined,
): Promise<unknown> {
  const jobId = job.id;
  deps.onRecorded?.({
    type: 'job.started',
    jobId,
    name: job.name,
    queue: job.queue,
    attempt: attempt.number,
    at: attempt.startedAt,
    pickupMs: Math.max(0, attempt.startedAt - job.runAt),
  });
  // Delivered well before its run time: promoted in Redis (Bull Board's "promote").
  if (deliveredEarly(job, lock.deliveredAt)) await recordPromotion(deps, job, attempt, lock.deliveredAt);
  const mirror = deps.mirror;
  const payloadMirrored = mirror?.payload(bullJob, job.payload);
  const stop = new AttemptAbort();
  const ctx = new AttemptContext(deps, job, attempt, stop, mirror && ((value) => mirror.progress(bullJob, value)));
  const lostAtBegin = lock.atRisk ? await lock.lostToBlock() : undefined;
  if (lostAtBegin) return recordLost(deps, ctx, job, attempt, lostAtBegin, null, span);
  deps.active.set(jobId, { ref: attempt, abort: (reason) => stop.abort(reason) });
  const onLoop = deps.monitor.track({ jobId, name: job.name, attempt: attempt.number });

  let result: AttemptResult;
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeoutMs = job.timeoutMs;
    if (timeoutMs !== null) timer = setTimeout(() => stop.timeOut(timeoutMs), timeoutMs);
    // A handler that ignores its signal keeps running after a timeout or abort; its late result is
    // dropped here, and nothing it returns can reach the ledger past the outcome recorded below.
    const started = startHandler(deps, job, ctx, stop, onLoop);
    result = started instanceof Promise ? await started : started;
  } finally {
    clearTimeout(timer);
    deps.active.delete(jobId);
    onLoop.end();
  }

  const policy = { maxAttempts: job.maxAttempts, attemptsFailed: job.attemptsFailed, backoff: job.backoff as BackoffPolicy };
  const outcome = classifyOutcome(result, policy, shared.classifying);
  // The process was frozen past the lock while the handler ran: the attempt is lost, whatever it
  // returned (another worker has the job, or will have it), and counts towards the poison bound.
  const lostWhileRunning = lock.atRisk ? await lock.lostToBlock() : undefined;
  if (lostWhileRunning) return recordLost(deps, ctx, job, attempt, lostWhileRunning, outcome, span);
  const heldProgress = ctx.takeHeldProgress();
  let final: Recorded;
  if (ctx.usedState) final = await recordWithState(deps, shared, ctx, ctx.usedState, attempt, outcome, policy, heldProgress, span);
  else {
    const finishedAt = Date.now();
    try {
      final = { outcome, recorded: await deps.ledger.recordOutcome(attempt, outcome, heldProgress, finishedAt, shared.hooks), finishedAt };
    } catch (error) {
      unrecorded(ctx, outcome, error, span);
    }
  }
  const { recorded, finishedAt } = final;
  const eventType = announce(deps, ctx, job, attempt, final.outcome, recorded, finishedAt, span);
  if (mirror) {
    await payloadMirrored;
    const error = errorOf(final.outcome);
    const durationMs = Math.max(0, finishedAt - attempt.startedAt);
    await mirror.attemptEnded(bullJob, { attempt: attempt.number, outcome: eventType.slice('job.'.length), durationMs, ...(error ? { error } : {}) }, heldProgress);
  }
  if (recorded.kind === 'applied' && recorded.dispatch.length && deps.dispatch) {
    await deps.dispatch(recorded.dispatch).catch((error: unknown) =>
      ctx.logger.warn({ err: error }, 'could not hand follow-up jobs to Redis; the relay will'),
    );
  }

  // TEST ONLY: the outcome is committed, BullMQ has not been told (src/fault-points.ts).
  if (recorded.kind === 'applied') faultPoint('outcome.after_commit', `job ${jobId} attempt ${attempt.number} ${final.outcome.type}`);
  // Only now is BullMQ told.
  return tellBullMQ(bullJob, token, attempt, stop, final.outcome, recorded, mirror);
}

/**
 * Calls the handler: its result at once when it returned a plain value (no promise is made for
 * it), or a promise of what its promise settles as, raced against the attempt's stop. Never throws.
 */
function startHandler(deps: ExecuteDeps, job: StartedJob, ctx: AttemptContext, stop: AttemptAbort, onLoop: TrackedAttempt): AttemptResult | Promise<AttemptResult> {
  try {
    // A worker without this job type hands the delivery back before beginning (unknown-job-type.ts);
    // a ledger row naming another type than its Redis job is failed through the retry budget.
    const type = deps.registry.get(job.name); // throws the typed UnknownJobError
    if (type.threadHandler !== null) return stop.raceResult(deps.threads.run(type, job.payload, ctx, stop));
    // The handler's synchronous run, until it first yields, tells the monitor who blocked the loop.
    // Milliseconds are enough (a block is a quarter of the lock), and Date.now() is the cheaper clock.
    const calledAt = Date.now();
    let pending: unknown;
    try {
      pending = type.handler(job.payload, ctx);
    } finally {
      onLoop.ranSynchronously(Date.now() - calledAt);
    }
    // An object may be a thenable (a promise, or one whose `then` cannot even be read): awaited.
    if (pending !== null && (typeof pending === 'object' || typeof pending === 'function')) return stop.race(pending);
    return { kind: 'returned', value: pending };
  } catch (error) {
    return { kind: 'threw', error };
  }
}

interface Recorded {
  outcome: Outcome;
  recorded: RecordedOutcome;
  finishedAt: number;
}

/**
 * Commits the outcome of an attempt that used `ctx.state`: the hot state tiers fence the keys the
 * handler buffered writes for, and settle them after.
 */
async function recordWithState(
  deps: ExecuteDeps,
  shared: Shared,
  ctx: AttemptContext,
  state: AttemptState,
  attempt: AttemptRef,
  outcome: Outcome,
  policy: RetryPolicy,
  heldProgress: unknown,
  span: Span | undefined,
): Promise<Recorded> {
  let finishedAt = Date.now();
  const record = (o: Outcome, withHooks: readonly OutcomeHook[]) => deps.ledger.recordOutcome(attempt, o, heldProgress, (finishedAt = Date.now()), withHooks);
  const fence = await state.fenceWrites();
  let recorded: RecordedOutcome;
  try {
    recorded = await record(outcome, [...shared.hooks, state.outcomeHook]).catch((error: unknown) => {
      if (!state.rejected(error)) throw error;
      // The handler's buffered state writes could not apply (a version conflict): the attempt
      // fails as if the handler had thrown that error, and none of its writes are kept.
      outcome = classifyOutcome({ kind: 'threw', error }, policy, shared.classifying);
      return record(outcome, shared.hooks);
    });
  } catch (error) {
    await state.settleWrites(fence, false);
    return unrecorded(ctx, outcome, error, span);
  }
  await state.settleWrites(fence, recorded.kind === 'applied');
  return { outcome, recorded, finishedAt };
}

/**
 * Adopts a delivery plain BullMQ put on the queue. A ledger that cannot be written gives it back to
 * Redis unstarted (a lost connection: the worker does that itself), so that nothing is dropped.
 */
async function adoptOrHandBack(deps: ExecuteDeps, bullJob: Job, token: string | undefined): Promise<unknown> {
  try {
    return await adoptForeignJob(deps, bullJob);
  } catch (error) {
    if (error instanceof UnrecoverableError || isConnectionLoss(error)) throw error;
    deps.logger.error({ err: error, bullmqJobId: bullJob.id, queue: bullJob.queueName }, 'could not adopt a job added by plain BullMQ; handing it back to Redis');
    await bullJob.moveToDelayed(Date.now() + handBackDelayMs(bullJob.attemptsStarted), token);
    throw new DelayedError();
  }
}

/**
 * Records an attempt its own process lost to a block (delivery-lock.ts): `stalled`, the job queued
 * again (or, if another attempt took it over already, a late outcome), then leaves the job in Redis
 * as it is: BullMQ's stalled checker hands it out again.
 */
async function recordLost(
  deps: ExecuteDeps,
  ctx: AttemptContext,
  job: Pick<JobRow, 'name' | 'queue'>,
  attempt: AttemptRef,
  reason: string,
  discarded: Outcome | null,
  span: Span | undefined,
): Promise<never> {
  span?.setAttribute('jobledger.lost_reason', reason);
  const lostOutcome: Outcome = discarded ?? { type: 'interrupted', reason: 'lost before its handler ran' };
  try {
    const at = Date.now();
    const recorded = await deps.ledger.recordLostAttempt(attempt, { reason, detectedBy: deps.identity.workerId, discarded: lostOutcome }, at);
    ctx.logger.warn({ reason, discardedOutcome: discarded?.type ?? null, recorded: recorded.kind }, 'attempt lost: its lock lapsed while the event loop was blocked');
    const durationMs = Math.max(0, at - attempt.startedAt);
    const type: JobEventType = recorded.kind === 'requeued' ? 'job.stalled' : 'job.superseded';
    if (span) describeOutcome(span, type, undefined);
    ctx.logger.info({ queue: job.queue, outcome: type, durationMs }, 'attempt finished');
    deps.onRecorded?.({ type, jobId: attempt.jobId, name: job.name, queue: job.queue, attempt: attempt.number, at, durationMs, reason });
  } catch (error) {
    // Not recorded: the next attempt records it stalled, as for a process that died.
    ctx.logger.error({ err: error, reason }, 'could not record a lost attempt; the job will be delivered again');
  }
  throw new DelayedError();
}

