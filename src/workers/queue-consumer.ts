/**
 * One queue's consumer: a BullMQ worker on its own Redis connection, which the consumer watchdog
 * can replace when it stops fetching (consumer-watchdog.ts). It counts what the watchdog and the
 * health check need: attempts in flight, the last fetch, the replacements.
 */
import { Worker, type Job, type Telemetry } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.js';
import { closeRedis, createRedis, type Redis } from '../transport/redis-connection.js';
import type { RedisErrorLog } from '../transport/redis-errors.js';
import { coalesceRedisWrites } from '../transport/redis-write-coalescing.js';
import type { Logger } from '../logger.js';
import { LedgerRetryError } from './execute-attempt.js';
import type { Processor } from './poison-guard.js';
import { afterSettled } from '../promises.js';

export interface QueueConsumerOptions {
  queue: string;
  processor: Processor;
  concurrency: number;
  config: Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisPrefix' | 'lockDurationMs' | 'stalledIntervalMs' | 'maxStalledCount'>;
  logger: Logger;
  /** Where Redis errors go (logged once, then counted). */
  redisErrors: RedisErrorLog;
  /** BullMQ renewed these jobs' locks. */
  onLocksRenewed(jobIds: string[]): void;
  /** BullMQ could not renew these jobs' locks: another worker may get them. */
  onLockRenewalFailed(jobIds: string[]): void;
  /** BullMQ failed a job (from its `failed` event, which it does not await). */
  onFailed(job: Job | undefined, error: Error): void;
  /** BullMQ's telemetry (`bullmq-otel`), given to every BullMQ worker. Default none. */
  telemetry?: Telemetry;
}

/** Why the watchdog replaced a consumer, as a bounded label: its fetch loop ended, or it stopped fetching with jobs waiting. */
export type ReplacementCause = 'loop_ended' | 'not_fetching';

export interface Replacement {
  at: number;
  cause: ReplacementCause;
  reason: string;
}

/** One BullMQ worker and the connection it owns. */
interface Incarnation {
  worker: Worker;
  connection: Redis;
  /** `connection` and the copies BullMQ made of it (its blocking connection): what `cut` drops. */
  clients: Redis[];
  /** Processor calls of this incarnation still running. */
  inFlight: number;
  /** Resolves when `inFlight` next drops to zero. */
  idle: { promise: Promise<void>; resolve: () => void } | undefined;
}

export class QueueConsumer {
  /** Epoch ms of the last job BullMQ fetched for this consumer (any incarnation), 0 before the first. */
  lastFetchAt = 0;
  readonly replacements: Replacement[] = [];
  private current: Incarnation;
  private readonly retiring = new Set<Promise<void>>();
  /** Replaced incarnations not yet fully closed (`cut` reaches their connections too). */
  private readonly incarnations = new Set<Incarnation>();
  private closed = false;
  private wasCut = false;

  constructor(private readonly options: QueueConsumerOptions) {
    this.current = this.incarnate();
  }

  get queue(): string {
    return this.options.queue;
  }

  get concurrency(): number {
    return this.options.concurrency;
  }

  /** Attempts running now through the current BullMQ worker. */
  get inFlight(): number {
    return this.current.inFlight;
  }

  /** False once BullMQ's fetch loop has ended (it should only end on close). */
  get loopRunning(): boolean {
    return this.current.worker.isRunning();
  }

  /** True while fetching is paused (a suspect job runs alone: poison-guard.ts). */
  get paused(): boolean {
    return this.current.worker.isPaused();
  }

  /** Stops fetching; jobs already fetched still reach the processor. */
  async pause(): Promise<void> {
    await this.current.worker.pause(true);
  }

  resume(): void {
    void this.current.worker.resume();
  }

  /** The ioredis status of the current connection (`ready`, `reconnecting`, ...). */
  get connectionStatus(): string {
    return this.current.connection.status;
  }

  /** Starts fetching; resolves once BullMQ's connections are ready. */
  async start(): Promise<void> {
    this.run(this.current);
    await this.current.worker.waitUntilReady();
  }

  /**
   * Replaces the BullMQ worker and its connection with fresh ones (the watchdog found it not
   * fetching). The old one stops fetching at once and is closed in the background once the
   * attempts it was running have returned; a wedged connection is then cut rather than waited on.
   */
  replace(cause: ReplacementCause, reason: string): void {
    if (this.closed) return;
    const old = this.current;
    this.replacements.push({ at: Date.now(), cause, reason });
    this.options.logger.warn({ queue: this.queue, reason, running: old.inFlight }, 'consumer watchdog: replacing the BullMQ worker');
    this.current = this.incarnate();
    this.run(this.current);
    this.incarnations.add(old);
    const retired = this.retire(old).finally(() => {
      this.retiring.delete(retired);
      this.incarnations.delete(old);
    });
    this.retiring.add(retired);
  }

  /** Stops fetching and lets running attempts finish (BullMQ's graceful close); see LedgerWorker.close. */
  async closeWorker(): Promise<void> {
    this.closed = true;
    await this.current.worker.close();
  }

  /**
   * After `closeWorker`: waits for replaced workers (for a bounded time: one wedged on Redis is cut)
   * and closes the connection.
   */
  async closeConnection(): Promise<void> {
    const retired = await Promise.race([Promise.allSettled([...this.retiring]).then(() => true), sleep(retireWaitMs, false, { ref: false })]);
    if (!retired) this.cut();
    // A cut connection has nothing left to say goodbye with (QUIT would wait behind its offline queue).
    if (!this.wasCut) await closeRedis(this.current.connection);
    for (const client of this.current.clients) if (client.status !== 'end') client.disconnect();
  }

  /**
   * Drops every connection of this consumer at once, replaced incarnations included, without a
   * word to Redis: for a shutdown that Redis would otherwise hold forever (it refuses the password,
   * answers nothing or answers errors, and BullMQ's close waits for it). What BullMQ could not tell
   * Redis is redelivered later, and the ledger, which has every outcome, short-circuits it.
   */
  cut(): void {
    this.closed = true;
    this.wasCut = true;
    for (const incarnation of [this.current, ...this.incarnations]) for (const client of incarnation.clients) client.disconnect();
  }

  private incarnate(): Incarnation {
    const { config, queue } = this.options;
    const connection = createRedis(config, 'worker');
    // BullMQ repeats this connection's errors as worker errors (reported below): one report is enough.
    connection.on('error', () => undefined);
    // A batch's outcomes reach BullMQ in one tick; their commands leave in a few writes, not one each.
    coalesceRedisWrites(connection);
    const incarnation: Incarnation = { worker: undefined as unknown as Worker, connection, clients: [connection], inFlight: 0, idle: undefined };
    // BullMQ makes its blocking connection with `duplicate()`: keep hold of it, so that `cut` can drop it.
    // (The same for a Redis Cluster's `duplicate`, whose arguments differ: they are passed on as they come.)
    const duplicate = connection.duplicate.bind(connection) as (...args: unknown[]) => Redis;
    (connection as { duplicate: (...args: unknown[]) => Redis }).duplicate = (...args: unknown[]) => {
      const copy = duplicate(...args);
      incarnation.clients.push(copy);
      return copy;
    };
    const processor: Processor = (job, token) => {
      incarnation.inFlight++;
      return afterSettled(
        () => this.options.processor(job, token),
        () => {
          incarnation.inFlight--;
          if (incarnation.inFlight === 0) incarnation.idle?.resolve();
        },
      );
    };
    const worker = new Worker(queue, processor, {
      connection,
      prefix: config.redisPrefix,
      concurrency: this.options.concurrency,
      lockDuration: config.lockDurationMs,
      stalledInterval: config.stalledIntervalMs,
      maxStalledCount: config.maxStalledCount,
      // BullMQ waits this long before fetching again after a connection error (default 15 s): after
      // a Redis restart that is 15 s of idle workers on top of the outage.
      runRetryDelay: 1000,
      autorun: false,
      ...(this.options.telemetry ? { telemetry: this.options.telemetry } : {}),
      settings: {
        // The ledger decided the delay already (classify-outcome.ts); BullMQ applies the same number.
        backoffStrategy: (_attemptsMade, _type, error) => (error instanceof LedgerRetryError ? error.delayMs : 1000),
      },
    });
    this.options.redisErrors.watch(worker, `consumer ${queue}`);
    worker.on('active', () => (this.lastFetchAt = Date.now()));
    worker.on('locksRenewed', ({ jobIds }) => this.options.onLocksRenewed(jobIds));
    worker.on('lockRenewalFailed', (jobIds) => this.options.onLockRenewalFailed(jobIds));
    worker.on('failed', (job, error) => this.options.onFailed(job, error));
    incarnation.worker = worker;
    return incarnation;
  }

  private run(incarnation: Incarnation): void {
    incarnation.worker.run().catch((error: unknown) => this.options.logger.error({ err: error, queue: this.queue }, 'worker loop stopped'));
  }

  private async retire(old: Incarnation): Promise<void> {
    const closing = old.worker.close().catch((error: unknown) => this.options.logger.warn({ err: error, queue: this.queue }, 'closing a replaced worker failed'));
    if (old.inFlight > 0) {
      old.idle ??= promiseWithResolve();
      await old.idle.promise;
    }
    // Its attempts have returned; BullMQ now only has to report them. If its connection is the
    // reason it stopped, that never completes: cut it (the stalled checker or the ledger's
    // short-circuit on final jobs takes care of what BullMQ could not be told).
    const closedInTime = await Promise.race([closing.then(() => true), sleep(2000, false, { ref: false })]);
    if (!closedInTime) old.connection.disconnect();
    await Promise.race([closing, sleep(5000, undefined, { ref: false })]);
    old.connection.disconnect();
  }
}

/** How long closing waits for replaced BullMQ workers before cutting their connections. */
const retireWaitMs = 2000;

function promiseWithResolve(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}
