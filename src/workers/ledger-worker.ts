/**
 * The worker runtime: one consumer (a BullMQ worker) per queue its job types use, all running
 * attempts through the ledger (execute-attempt.ts). It also keeps the ledger informed of what the
 * processor never sees: lock renewals become attempt heartbeats, a lost lock aborts the handler, an
 * operator's cancel arrives over pub/sub, and a job BullMQ failed for stalling too often is failed
 * in the ledger. Around that: it refuses a Redis that may evict jobs, fails poison jobs instead of
 * starting them again (poison-guard.ts), and replaces a consumer that stopped fetching
 * (consumer-watchdog.ts).
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.js';
import { faultPoint } from '../fault-points.js';
import { cancelChannel } from '../jobs/cancel-channel.js';
import { closeRedis, createRedis, type Redis } from '../jobs/redis-connection.js';
import { ensureNoEviction } from '../jobs/redis-policy.js';
import type { JobRegistry } from '../jobs/registry.js';
import type { Logger } from '../logger.js';
import type { OutcomeHook, WorkerIdentity } from '../store/attempt-writes.js';
import type { JobRow } from '../store/entities/index.js';
import type { Ledger } from '../store/ledger.js';
import { ConsumerWatchdog, type WorkerHealth } from './consumer-watchdog.js';
import { DeliveryLock } from './delivery-lock.js';
import { EventLoopMonitor, type EventLoopStats } from './event-loop-monitor.js';
import { createProcessor, type ActiveAttempt } from './execute-attempt.js';
import { guardAgainstPoison, handBack, SoloGate, soloWaitMs, type Processor } from './poison-guard.js';
import { QueueConsumer } from './queue-consumer.js';
import { ThreadHandlers } from './thread-handlers.js';

export interface LedgerWorkerOptions {
  ledger: Ledger;
  registry: JobRegistry;
  config: Pick<
    Config,
    | 'redisUrl'
    | 'redisPrefix'
    | 'lockDurationMs'
    | 'stalledIntervalMs'
    | 'maxStalledCount'
    | 'maxLostAttempts'
    | 'shutdownGraceMs'
    | 'progressEventIntervalMs'
    | 'maxErrorChars'
    | 'allowEvictingRedis'
    | 'watchdogIntervalMs'
    | 'watchdogStuckAfterMs'
  >;
  logger: Logger;
  /** Jobs run at once per queue. Default 10. */
  concurrency?: number;
  /** Only these queues (default: every queue of the registry's job types). */
  queues?: string[];
  /**
   * Start even if Redis's `maxmemory-policy` is not `noeviction` (it may evict queued jobs), with a
   * loud warning. For development only. Default `config.allowEvictingRedis` (false).
   */
  allowEvictingRedis?: boolean;
  /** Writes that join every applied outcome's transaction (see OutcomeHook). */
  outcomeHooks?: readonly OutcomeHook[];
  /** Hands jobs the hooks created to Redis after the commit. */
  dispatch?: (jobs: JobRow[]) => Promise<unknown>;
}

export interface CloseOptions {
  /** How long running attempts may finish before they are aborted and marked interrupted. Default from config. */
  graceMs?: number;
  /** Skip draining: abort running attempts at once. */
  force?: boolean;
}

export type { WorkerHealth, QueueHealth } from './consumer-watchdog.js';

export class LedgerWorker {
  readonly identity: WorkerIdentity;
  private readonly consumers: QueueConsumer[] = [];
  private readonly active = new Map<string, ActiveAttempt>();
  /** Ledger writes started from BullMQ event listeners, which BullMQ does not await. */
  private readonly pending = new Set<Promise<unknown>>();
  private subscriber: Redis | undefined;
  private watchdog: ConsumerWatchdog | undefined;
  /** Warns when a handler blocks the event loop; tells the attempts whether a block cost them their lock. */
  private readonly monitor: EventLoopMonitor;
  /** The threads that run `threadHandler` job types. */
  private readonly threads: ThreadHandlers;
  private started = false;
  private closing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: LedgerWorkerOptions) {
    this.identity = { workerId: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`, host: hostname(), pid: process.pid };
    this.monitor = new EventLoopMonitor({ lockDurationMs: options.config.lockDurationMs, logger: options.logger });
    this.threads = new ThreadHandlers(options.logger);
  }

  /**
   * Starts fetching jobs. Resolves once every BullMQ worker is connected. Rejects with
   * `UnsafeRedisError` if Redis may evict keys (`maxmemory-policy` other than `noeviction`) unless
   * `allowEvictingRedis` is set.
   */
  async start(): Promise<void> {
    const { config, logger, ledger, registry } = this.options;
    const queues = this.options.queues ?? registry.queues();
    ThreadHandlers.check(registry.all().filter((type) => queues.includes(type.queue)));
    await this.checkRedisPolicy();
    this.monitor.start();
    const processor = this.processor();
    const concurrency = this.options.concurrency ?? 10;
    for (const queue of queues) {
      this.consumers.push(
        new QueueConsumer({
          queue,
          processor,
          concurrency,
          config,
          logger,
          onLocksRenewed: (jobIds) => this.track(ledger.recordHeartbeats(jobIds)),
          onLockRenewalFailed: (jobIds) => {
            for (const jobId of jobIds) this.active.get(jobId)?.abort('lock_lost');
          },
          onFailed: (job, error) => {
            // The only failure the processor never saw: BullMQ's stalled checker gave up on the job.
            if (job?.id && /stalled more than allowable limit/i.test(error.message)) {
              this.track(ledger.failStalledJob(job.id, `BullMQ: ${error.message}`));
            }
          },
        }),
      );
    }
    await this.subscribeToCancels();
    await Promise.all(this.consumers.map((c) => c.start()));
    this.watchdog = new ConsumerWatchdog({
      consumers: this.consumers,
      identity: this.identity,
      redisUrl: config.redisUrl,
      redisPrefix: config.redisPrefix,
      intervalMs: config.watchdogIntervalMs,
      stuckAfterMs: config.watchdogStuckAfterMs,
      logger,
    });
    this.watchdog.start();
    this.started = true;
    logger.info({ workerId: this.identity.workerId, queues, concurrency }, 'worker started');
  }

  /**
   * A plain snapshot for health checks: per queue, attempts running, jobs waiting at the last
   * watchdog check, the last fetch and how often the consumer had to be replaced.
   */
  health(): WorkerHealth {
    const status = this.closed ? 'closed' : this.closing ? 'closing' : this.started ? 'ok' : 'starting';
    if (this.watchdog) return this.watchdog.health(status);
    return { ...this.identity, status, checkedAt: null, redis: 'unchecked', watchdogIntervalMs: 0, queues: [] };
  }

  /**
   * The event loop's delay since the last call (p99 and maximum, from perf_hooks) and how many
   * blocks longer than a quarter of the lock it has had: each of those was logged as a warning.
   */
  eventLoopStats(): EventLoopStats {
    return this.monitor.stats();
  }

  /** Handler threads alive now (`threadHandler` job types): running an attempt, or idle for the next. */
  get handlerThreadCount(): number {
    return this.threads.count;
  }

  /** How many attempts this process is running now. */
  get runningCount(): number {
    return this.active.size;
  }

  /** Aborts one running attempt of this process (used by tests and the cancel channel). */
  abortAttempt(jobId: string, reason: 'cancelled' | 'shutdown'): boolean {
    const attempt = this.active.get(jobId);
    attempt?.abort(reason);
    return attempt !== undefined;
  }

  /**
   * Graceful shutdown: stop fetching, let running attempts finish for `graceMs`, then abort the rest
   * (their attempts are recorded `interrupted` and the jobs queued again), then close connections.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.doClose(options);
    return this.closing;
  }

  private async doClose(options: CloseOptions): Promise<void> {
    const { logger } = this.options;
    const graceMs = options.force ? 0 : (options.graceMs ?? this.options.config.shutdownGraceMs);
    // Its timer stops at once (no consumer is replaced while closing); its cleanup runs meanwhile.
    const watchdogStopped = this.watchdog?.stop();
    const drained = Promise.all(this.consumers.map((c) => c.closeWorker()));
    const timer = sleep(graceMs, 'grace-expired' as const, { ref: false });
    if ((await Promise.race([drained.then(() => 'drained' as const), timer])) === 'grace-expired' && this.active.size > 0) {
      logger.warn({ running: this.active.size }, 'shutdown grace expired; aborting running attempts');
      for (const attempt of this.active.values()) attempt.abort('shutdown');
    }
    await drained;
    await this.threads.close();
    this.monitor.stop();
    await watchdogStopped;
    await Promise.allSettled([...this.pending]);
    if (this.subscriber) await closeRedis(this.subscriber);
    await Promise.all(this.consumers.map((c) => c.closeConnection()));
    this.closed = true;
    logger.info({ workerId: this.identity.workerId }, 'worker closed');
  }

  /** The processor BullMQ calls: the poison guard, the attempt itself, and a test-only crash point. */
  private processor(): Processor {
    const { config, logger, ledger, registry } = this.options;
    const attempt = createProcessor({
      ledger,
      registry,
      identity: this.identity,
      logger,
      active: this.active,
      progressEventIntervalMs: config.progressEventIntervalMs,
      maxErrorChars: config.maxErrorChars,
      monitor: this.monitor,
      threads: this.threads,
      ...(this.options.outcomeHooks ? { outcomeHooks: this.options.outcomeHooks } : {}),
      ...(this.options.dispatch ? { dispatch: this.options.dispatch } : {}),
    });
    const gate = new SoloGate({
      pause: async () => void (await Promise.all(this.consumers.map((c) => c.pause()))),
      resume: () => {
        // Not while closing: a closed BullMQ worker must not start fetching again.
        if (!this.closing) for (const consumer of this.consumers) consumer.resume();
      },
      soloWaitMs: soloWaitMs(config.lockDurationMs),
    });
    const guarded = guardAgainstPoison(attempt, { ledger, maxLostAttempts: config.maxLostAttempts, gate, logger });
    // Jobs whose delivery is in the processor now. BullMQ's lock manager keeps one lock per job id:
    // when a process that froze past a job's lock fetches the job again before its stale delivery
    // is done with, the stale one's end stops the renewal of the fresh one's lock, which then
    // lapses and costs the job a lost attempt it did nothing for. So the fresh one waits its turn,
    // until a turn of the event loop after the stale one returned: BullMQ forgets its lock in the
    // promise callbacks that follow our return, and a delivery it had fetched already may reach us
    // in between.
    const inProcess = new Set<string>();
    return async (job, token) => {
      if (job.id && inProcess.has(job.id)) return handBack(job, token);
      if (job.id) inProcess.add(job.id);
      let settled = false;
      try {
        const result = await guarded(job, token, new DeliveryLock(job, token, config.lockDurationMs, this.monitor));
        settled = true;
        return result;
      } catch (error) {
        // DelayedError: the outcome could not be committed (or BullMQ was already told to wait).
        settled = (error as Error | null)?.name !== 'DelayedError';
        throw error;
      } finally {
        const id = job.id;
        if (id) setImmediate(() => inProcess.delete(id));
        // The processor has recorded the outcome; BullMQ hears of it only after we return.
        if (settled) faultPoint('outcome.after_commit');
      }
    };
  }

  /** Refuses a Redis that may evict queued jobs (see jobs/redis-policy.ts). */
  private async checkRedisPolicy(): Promise<void> {
    const { config, logger } = this.options;
    const redis = createRedis(config.redisUrl, 'worker');
    redis.on('error', (error) => logger.debug({ err: error }, 'Redis connection error while checking its policy'));
    try {
      await ensureNoEviction(redis, { allow: this.options.allowEvictingRedis ?? config.allowEvictingRedis, logger });
    } finally {
      await closeRedis(redis);
    }
  }

  private async subscribeToCancels(): Promise<void> {
    const { config, logger } = this.options;
    const subscriber = createRedis(config.redisUrl, 'subscriber');
    subscriber.on('error', (error) => logger.debug({ err: error }, 'cancel subscriber error'));
    subscriber.on('message', (_channel: string, jobId: string) => {
      if (this.abortAttempt(jobId, 'cancelled')) logger.info({ jobId }, 'aborting a cancelled job');
    });
    await subscriber.subscribe(cancelChannel(config.redisPrefix));
    this.subscriber = subscriber;
  }

  private track(promise: Promise<unknown>): void {
    const tracked = promise
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'ledger write from a worker event failed'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
