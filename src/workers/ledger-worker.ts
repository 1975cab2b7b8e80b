/**
 * The worker runtime: one consumer (a BullMQ worker) per queue its job types use, all running
 * attempts through the ledger (execute-attempt.ts). It also keeps the ledger informed of what the
 * processor never sees: lock renewals become attempt heartbeats, a lost lock aborts the handler, an
 * operator's cancel arrives over pub/sub, and a job BullMQ failed for stalling too often is failed
 * in the ledger. Around that: it refuses a Redis that may evict jobs, fails poison jobs instead of
 * starting them again (poison-guard.ts), and replaces a consumer that stopped fetching
 * (consumer-watchdog.ts).
 */
import type { Telemetry } from 'bullmq';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import { closeRedis, describeRedisTarget, type Redis } from '../transport/redis-connection.js';
import { RedisErrorLog } from '../transport/redis-errors.js';
import type { JobRegistry } from '../jobs/registry.js';
import type { Logger } from '../logger.js';
import type { JobRow, Ledger, OutcomeHook, WorkerIdentity } from '../store/index.js';
import { ConsumerWatchdog, uncheckedDatabase, type WorkerHealth } from './consumer-watchdog.js';
import { DatabaseProbe } from './database-probe.js';
import { EventLoopMonitor, type EventLoopStats } from './event-loop-monitor.js';
import { createProcessor, type ActiveAttempt } from './execute-attempt.js';
import { SoloGate, soloWaitMs, type Processor } from './poison-guard.js';
import { deliveryChain } from './delivery-chain.js';
import { settlesWithin } from '../promises.js';
import { subscribeToCancels } from './cancel-subscriber.js';
import { checkWorkerRedis } from './worker-redis-check.js';
import { QueueConsumer, type ReplacementCause } from './queue-consumer.js';
import { ThreadHandlers } from './thread-handlers.js';
import { BullBoardMirror } from './bull-board-mirror.js';
import { RedisRemovalWatch } from './redis-removals.js';
import type { JobEvent } from '../observability/job-events.js';
import type { TieredStateStore } from '../hot-state/tiered-state-store.js';

export interface LedgerWorkerOptions {
  ledger: Ledger;
  registry: JobRegistry;
  config: Pick<
    Config,
    | 'redisUrl'
    | 'redisClusterNodes'
    | 'redisPrefix'
    | 'lockDurationMs'
    | 'stalledIntervalMs'
    | 'maxStalledCount'
    | 'maxLostAttempts'
    | 'shutdownGraceMs'
    | 'progressEventIntervalMs'
    | 'maxErrorChars'
    | 'maxJsonDepth'
    | 'maxResultBytes'
    | 'maxProgressBytes'
    | 'maxPayloadBytes'
    | 'allowEvictingRedis'
    | 'watchdogIntervalMs'
    | 'watchdogStuckAfterMs'
  > &
    Partial<Pick<Config, 'redisErrorLogIntervalMs' | 'bullBoardMirror' | 'bullBoardMirrorMaxBytes'>>;
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
  /** The state handlers read and write through `ctx.state` (`jl.state`, with its hot tiers). Default: plain SQL state. */
  state?: () => TieredStateStore;
  /** Hands jobs the hooks created to Redis after the commit. */
  dispatch?: (jobs: JobRow[]) => Promise<unknown>;
  /** Where Redis errors are logged (once, then counted). Default: the worker's own, on `logger`. */
  redisErrors?: RedisErrorLog;
  /** Told of each attempt's start and outcome once committed (execute-attempt.ts). Must not throw. */
  onRecorded?: (event: JobEvent) => void;
  /** BullMQ's telemetry (`bullmq-otel`), given to the BullMQ workers. Default none. */
  telemetry?: Telemetry;
  /**
   * Mirror into each BullMQ job what Bull Board shows: payload, progress, result and a log line per
   * attempt, and record removals made from Redis by others (docs/bull-board.md). Default
   * `config.bullBoardMirror` (false).
   */
  bullBoardMirror?: boolean;
}

/**
 * After the grace (and the abort of what still ran), how long closing waits for BullMQ to tell
 * Redis the outcomes and close. A Redis that refuses the password, answers nothing or answers errors
 * never lets it finish; past this the connections are cut, so a close ends within the grace plus
 * this plus the few seconds connections take to close.
 */
export const closeAfterGraceMs = 3000;

/** Closing connections (QUIT, then dropped if unanswered; replaced BullMQ workers) takes at most about this. */
const closeConnectionsMs = 4000;

export interface CloseOptions {
  /**
   * How long running attempts may finish before they are aborted and marked interrupted. Default
   * from config. The close ends at most `closeAfterGraceMs` (3 s) plus about 2 s after it, whatever
   * Redis does.
   */
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
  /** Records removals from Redis that jobledger did not make (redis-removals.ts). */
  private removals: RedisRemovalWatch | undefined;
  private watchdog: ConsumerWatchdog | undefined;
  /** Whether the database answers, for health (database-probe.ts): every watchdog interval, or 5 s. */
  private readonly database: DatabaseProbe;
  /** Warns when a handler blocks the event loop; tells the attempts whether a block cost them their lock. */
  private readonly monitor: EventLoopMonitor;
  /** The threads that run `threadHandler` job types. */
  private readonly threads: ThreadHandlers;
  private started = false;
  private closing: Promise<void> | undefined;
  private closed = false;
  private readonly redisErrors: RedisErrorLog;

  constructor(private readonly options: LedgerWorkerOptions) {
    this.identity = { workerId: `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`, host: hostname(), pid: process.pid };
    this.redisErrors =
      options.redisErrors ?? new RedisErrorLog(options.logger, { url: describeRedisTarget(options.config), intervalMs: options.config.redisErrorLogIntervalMs });
    const intervalMs = options.config.watchdogIntervalMs || 5000;
    this.database = new DatabaseProbe({ ledger: options.ledger, intervalMs, timeoutMs: Math.min(intervalMs, 2000), logger: options.logger });
    this.monitor = new EventLoopMonitor({ lockDurationMs: options.config.lockDurationMs, logger: options.logger });
    this.threads = new ThreadHandlers(options.logger);
  }

  /**
   * Starts fetching jobs. Resolves once every BullMQ worker is connected (a Redis that is down is
   * waited for). Rejects with `RedisAuthError` if Redis refuses the credentials of the URL, and with
   * `UnsafeRedisError` if Redis may evict keys (`maxmemory-policy` other than `noeviction`) unless
   * `allowEvictingRedis` is set.
   */
  async start(): Promise<void> {
    const { config, logger, ledger, registry } = this.options;
    const queues = this.options.queues ?? registry.queues();
    ThreadHandlers.check(registry.all().filter((type) => queues.includes(type.queue)));
    await checkWorkerRedis({ ...this.options, allowEvictingRedis: this.options.allowEvictingRedis ?? this.options.config.allowEvictingRedis, redisErrors: this.redisErrors });
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
          redisErrors: this.redisErrors,
          ...(this.options.telemetry ? { telemetry: this.options.telemetry } : {}),
          onLocksRenewed: (jobIds) => this.heartbeat(jobIds),
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
    this.subscriber = await subscribeToCancels({
      config,
      logger,
      redisErrors: this.redisErrors,
      abort: (jobId) => this.abortAttempt(jobId, 'cancelled'),
    });
    // Reading the queues' event streams costs the worker and Redis CPU for every event of every job,
    // so removals are watched only beside Bull Board: with the mirror on (docs/bull-board.md).
    if (this.bullBoardMirrored) {
      this.removals = await RedisRemovalWatch.start({ ledger, config, queues, logger, redisErrors: this.redisErrors });
    }
    await Promise.all(this.consumers.map((c) => c.start()));
    this.database.start();
    this.watchdog = new ConsumerWatchdog({
      database: () => this.database.health(),
      consumers: this.consumers,
      identity: this.identity,
      redisTarget: config,
      redisPrefix: config.redisPrefix,
      intervalMs: config.watchdogIntervalMs,
      stuckAfterMs: config.watchdogStuckAfterMs,
      logger,
      redisErrors: this.redisErrors,
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
    const database = this.started ? this.database.health() : uncheckedDatabase;
    const ready = status === 'ok' && database.state !== 'unreachable';
    return { ...this.identity, status, ready, checkedAt: null, redis: 'unchecked', database, watchdogIntervalMs: 0, queues: [] };
  }

  /**
   * The queues whose consumer cannot be fetching now (for readiness): its BullMQ fetch loop ended,
   * its Redis connection is not ready, or, with the watchdog on, jobs have waited in its queue while
   * it had free slots and fetched nothing for `watchdogStuckAfterMs` (the watchdog replaces such a
   * consumer at its next check). Empty before `start()` and once closing.
   */
  consumersNotFetching(): { queue: string; reason: string }[] {
    if (!this.started || this.closing) return [];
    const stuckAfterMs = this.options.config.watchdogStuckAfterMs;
    const problems: { queue: string; reason: string }[] = [];
    for (const consumer of this.consumers) {
      const idleMs = this.watchdog?.notFetchingForMs(consumer) ?? 0;
      if (!consumer.loopRunning) problems.push({ queue: consumer.queue, reason: 'its fetch loop ended' });
      else if (consumer.connectionStatus !== 'ready') problems.push({ queue: consumer.queue, reason: `its Redis connection is ${consumer.connectionStatus}` });
      else if (idleMs >= stuckAfterMs) problems.push({ queue: consumer.queue, reason: `jobs waiting and free slots, nothing fetched for ${idleMs} ms` });
    }
    return problems;
  }

  /** The longest a default `close()` takes, whatever Redis does: the grace, `closeAfterGraceMs`, and closing connections. */
  get closeBoundMs(): number {
    return this.options.config.shutdownGraceMs + closeAfterGraceMs + closeConnectionsMs;
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

  /** How often the watchdog replaced each queue's consumer, by cause (the `jobledger_watchdog_replacements_total` metric). */
  replacementCounts(): { queue: string; cause: ReplacementCause; count: number }[] {
    const counts: { queue: string; cause: ReplacementCause; count: number }[] = [];
    for (const consumer of this.consumers) {
      for (const cause of ['loop_ended', 'not_fetching'] as const) {
        // Zero too: a counter that exists from the start lets `increase()` see its first replacement.
        counts.push({ queue: consumer.queue, cause, count: consumer.replacements.filter((r) => r.cause === cause).length });
      }
    }
    return counts;
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
   * Bounded whatever Redis does: see `closeAfterGraceMs`.
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
    let cut = false;
    if (!(await settlesWithin(drained, graceMs))) {
      if (this.active.size > 0) {
        logger.warn({ running: this.active.size }, 'shutdown grace expired; aborting running attempts');
        for (const attempt of this.active.values()) attempt.abort('shutdown');
      }
      // The aborted attempts record `interrupted` in the ledger at once; what is left is telling
      // Redis, which a Redis that refuses the password, answers nothing or answers errors never allows.
      if (!(await settlesWithin(drained, closeAfterGraceMs))) {
        logger.warn(
          { waitedMs: graceMs + closeAfterGraceMs },
          'Redis did not let the worker close in time; cutting its connections (the ledger has every outcome; jobs Redis was not told about are delivered again and found final)',
        );
        for (const consumer of this.consumers) consumer.cut();
        this.subscriber?.disconnect();
        this.removals?.cut();
        cut = true;
      }
    }
    await this.threads.close();
    this.monitor.stop();
    await watchdogStopped;
    await this.database.stop();
    await Promise.allSettled([...this.pending]);
    await Promise.all([
      this.subscriber && !cut ? closeRedis(this.subscriber) : undefined,
      cut ? undefined : this.removals?.close(),
      ...this.consumers.map((c) => c.closeConnection()),
    ]);
    if (!this.options.redisErrors) this.redisErrors.close();
    this.closed = true;
    logger.info({ workerId: this.identity.workerId }, 'worker closed');
  }

  /** Whether this worker serves Bull Board: mirrors into BullMQ's jobs and records removals. */
  private get bullBoardMirrored(): boolean {
    return this.options.bullBoardMirror ?? this.options.config.bullBoardMirror ?? false;
  }

  /** The processor BullMQ calls: the attempt itself inside the delivery chain (delivery-chain.ts). */
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
      maxJsonDepth: config.maxJsonDepth,
      maxResultBytes: config.maxResultBytes,
      maxProgressBytes: config.maxProgressBytes,
      maxPayloadBytes: config.maxPayloadBytes,
      monitor: this.monitor,
      threads: this.threads,
      ...(this.options.outcomeHooks ? { outcomeHooks: this.options.outcomeHooks } : {}),
      ...(this.options.state ? { state: this.options.state } : {}),
      ...(this.options.dispatch ? { dispatch: this.options.dispatch } : {}),
      ...(this.options.onRecorded ? { onRecorded: this.options.onRecorded } : {}),
      ...(this.bullBoardMirrored ? { mirror: new BullBoardMirror(config.bullBoardMirrorMaxBytes ?? 64 * 1024, logger) } : {}),
    });
    const gate = new SoloGate({
      pause: async () => void (await Promise.all(this.consumers.map((c) => c.pause()))),
      resume: () => {
        // Not while closing: a closed BullMQ worker must not start fetching again.
        if (!this.closing) for (const consumer of this.consumers) consumer.resume();
      },
      soloWaitMs: soloWaitMs(config.lockDurationMs),
    });
    return deliveryChain(attempt, {
      ledger,
      registry,
      identity: this.identity,
      logger,
      lockDurationMs: config.lockDurationMs,
      maxLostAttempts: config.maxLostAttempts,
      monitor: this.monitor,
      gate,
    });
  }

  /**
   * BullMQ renewed these jobs' locks: a heartbeat for each attempt this process runs for them, by
   * attempt id, so that an older attempt of the same job still marked `running` is not kept alive.
   */
  private heartbeat(jobIds: readonly string[]): void {
    const attemptIds = jobIds.flatMap((jobId) => this.active.get(jobId)?.ref.attemptId ?? []);
    if (attemptIds.length > 0) this.track(this.options.ledger.recordHeartbeats(attemptIds));
  }

  private track(promise: Promise<unknown>): void {
    const tracked = promise
      .catch((error: unknown) => this.options.logger.warn({ err: error }, 'ledger write from a worker event failed'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }
}
