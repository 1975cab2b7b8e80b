/**
 * The consumer watchdog. The incident users fear most from BullMQ deployments is not a crash but a
 * worker that stays connected and stops fetching (a fetch loop parked on a half-open socket after a
 * network drop or a failover, a loop that died on an unexpected error): no error, no restart, jobs
 * pile up. So every `intervalMs` each queue's consumer is checked: if jobs have been waiting in its
 * queue for `stuckAfterMs` while it had free slots and fetched nothing, or its fetch loop ended,
 * its BullMQ worker is replaced with a fresh one on a fresh connection.
 *
 * "Jobs waiting" is measured by sampling (wait + prioritized lists at each check), not by job
 * timestamps, which BullMQ does not reset when a job goes back to wait. A healthy worker with a free
 * slot takes a waiting job within milliseconds, whoever else consumes the queue, so the signal is
 * unambiguous; a paused queue is skipped.
 *
 * Each check also publishes this worker's health to Redis, in the hash `<prefix>:jobledger:workers`
 * (one field per worker id, a JSON value stamped with Redis's own clock), which `jobledger doctor`
 * reads. A worker that closes removes its field; a killed one leaves it to go stale.
 */
import type { Logger } from '../logger.js';
import { closeRedis, createRedis, RedisTimeoutError, withTimeout, type Redis, type RedisTarget } from '../transport/redis-connection.js';
import type { RedisErrorLog } from '../transport/redis-errors.js';
import type { WorkerIdentity } from '../store/index.js';
import type { QueueConsumer, Replacement } from './queue-consumer.js';
import type { DatabaseHealth } from './database-probe.js';

export interface ConsumerWatchdogOptions {
  consumers: readonly QueueConsumer[];
  identity: WorkerIdentity;
  redisTarget: RedisTarget;
  redisPrefix: string;
  intervalMs: number;
  stuckAfterMs: number;
  logger: Logger;
  /** Where Redis errors go (logged once, then counted). */
  redisErrors: RedisErrorLog;
  /** The worker's database probe (database-probe.ts), reported with the rest. */
  database?: () => DatabaseHealth;
}

export interface QueueHealth {
  queue: string;
  concurrency: number;
  /** Attempts running now. */
  running: number;
  /** Jobs waiting in Redis at the last check (`null` before the first, or if Redis did not answer). */
  waiting: number | null;
  /** Epoch ms of the last fetch (local clock), `null` before the first. */
  lastFetchAt: number | null;
  /** How long jobs have waited while this consumer had free slots and fetched nothing (0: not now). */
  idleWithWorkMs: number;
  /** The BullMQ worker was replaced this many times. */
  replacements: number;
  lastReplacement: Replacement | null;
  /** ioredis status of the consumer's connection. */
  connection: string;
}

export interface WorkerHealth {
  workerId: string;
  host: string;
  pid: number;
  /**
   * `degraded`: Redis did not answer the last check, a connection is not ready, the database did
   * not answer its last probe, or a consumer was just replaced.
   */
  status: 'starting' | 'ok' | 'degraded' | 'closing' | 'closed';
  /**
   * Whether the worker can do work now (a readiness check): started, not closing, Redis and the
   * database both answering. False while either is down; the worker reconnects by itself.
   */
  ready: boolean;
  /** Epoch ms of the last watchdog check (local clock), `null` before the first or when the watchdog is off. */
  checkedAt: number | null;
  /** Whether Redis answered the last check. */
  redis: 'ok' | 'unreachable' | 'unchecked';
  /** Whether the database answered the last probe, and since when it has not (database-probe.ts). */
  database: DatabaseHealth;
  watchdogIntervalMs: number;
  queues: QueueHealth[];
}

/** The key of the hash where workers publish their health. */
export function workersHealthKey(prefix: string): string {
  return `${prefix}:jobledger:workers`;
}

/** A worker's published health: its `WorkerHealth` plus when Redis received it. */
export type PublishedHealth = WorkerHealth & { reportedAt: number };

interface QueueWatch {
  waiting: number | null;
  /** Since when every check saw jobs waiting, free slots and no fetch. */
  idleWithWorkSince: number | undefined;
}

const pruneAfterMs = 3_600_000;

export const uncheckedDatabase: DatabaseHealth = { state: 'unchecked', checkedAt: null, unreachableSince: null, error: null };

export class ConsumerWatchdog {
  private readonly watches = new Map<QueueConsumer, QueueWatch>();
  private redis: Redis | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private checkedAt: number | null = null;
  private redisAnswered: boolean | null = null;
  private pruned = false;

  constructor(private readonly options: ConsumerWatchdogOptions) {
    for (const consumer of options.consumers) this.watches.set(consumer, { waiting: null, idleWithWorkSince: undefined });
  }

  start(): void {
    if (this.options.intervalMs <= 0 || this.timer) return;
    this.redis = createRedis(this.options.redisTarget, 'producer');
    this.options.redisErrors.watch(this.redis, 'watchdog');
    this.schedule();
  }

  /** Stops checking and removes this worker's published health. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.ticking;
    const redis = this.redis;
    this.redis = undefined;
    if (!redis) return;
    await withTimeout(redis.hdel(workersHealthKey(this.options.redisPrefix), this.options.identity.workerId), 1000, 'removing worker health').catch(
      () => undefined,
    );
    await closeRedis(redis);
  }

  /**
   * How long `consumer` has had jobs waiting and free slots while fetching nothing, from the checks
   * so far (0: it fetched since the wait began, or nothing waits).
   */
  notFetchingForMs(consumer: QueueConsumer, now = Date.now()): number {
    const since = this.watches.get(consumer)?.idleWithWorkSince;
    return since === undefined || consumer.lastFetchAt >= since ? 0 : now - since;
  }

  health(status: WorkerHealth['status']): WorkerHealth {
    const now = Date.now();
    const queues = this.options.consumers.map((consumer): QueueHealth => {
      const watch = this.watches.get(consumer);
      return {
        queue: consumer.queue,
        concurrency: consumer.concurrency,
        running: consumer.inFlight,
        waiting: watch?.waiting ?? null,
        lastFetchAt: consumer.lastFetchAt || null,
        idleWithWorkMs: watch?.idleWithWorkSince === undefined ? 0 : now - watch.idleWithWorkSince,
        replacements: consumer.replacements.length,
        lastReplacement: consumer.replacements.at(-1) ?? null,
        connection: consumer.connectionStatus,
      };
    });
    const recentlyReplaced = queues.some((q) => q.lastReplacement && now - q.lastReplacement.at < this.options.stuckAfterMs);
    const database = this.options.database?.() ?? uncheckedDatabase;
    const connectionsUp = this.redisAnswered !== false && queues.every((q) => q.connection === 'ready') && database.state !== 'unreachable';
    const degraded = !connectionsUp || recentlyReplaced;
    return {
      workerId: this.options.identity.workerId,
      host: this.options.identity.host,
      pid: this.options.identity.pid,
      status: status === 'ok' && degraded ? 'degraded' : status,
      ready: status === 'ok' && connectionsUp,
      checkedAt: this.checkedAt,
      redis: this.redisAnswered === null ? 'unchecked' : this.redisAnswered ? 'ok' : 'unreachable',
      database,
      watchdogIntervalMs: this.options.intervalMs,
      queues,
    };
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.ticking = this.check()
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'consumer watchdog check failed'))
        .finally(() => {
          if (this.timer) this.schedule();
        });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** One check of every consumer, then the health report. */
  async check(now = Date.now()): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    if (!this.pruned && redis.status === 'ready') {
      // At the first check that finds the connection up (the connection is still opening at start).
      this.pruned = true;
      await this.pruneGone();
    }
    const samples = await this.sample(redis);
    this.checkedAt = now;
    this.redisAnswered = samples !== undefined;
    for (const consumer of this.options.consumers) {
      const watch = this.watches.get(consumer)!;
      if (!consumer.loopRunning) {
        consumer.replace('loop_ended', 'its fetch loop ended');
        watch.idleWithWorkSince = undefined;
        continue;
      }
      const sample = samples?.get(consumer.queue);
      watch.waiting = sample?.waiting ?? null;
      // Without an answer from Redis nothing can be judged; BullMQ reconnects on its own.
      // A paused queue, or a consumer paused on purpose (a suspect job running alone), is not stuck.
      const idleWithWork =
        sample !== undefined && !sample.paused && !consumer.paused && sample.waiting > 0 && consumer.inFlight < consumer.concurrency;
      if (!idleWithWork) watch.idleWithWorkSince = undefined;
      else if (watch.idleWithWorkSince === undefined || consumer.lastFetchAt >= watch.idleWithWorkSince) watch.idleWithWorkSince = now;
      else if (now - watch.idleWithWorkSince >= this.options.stuckAfterMs) {
        consumer.replace(
          'not_fetching',
          `${sample.waiting} job(s) waiting and ${consumer.concurrency - consumer.inFlight} free slot(s), but nothing fetched for ${now - watch.idleWithWorkSince} ms`,
        );
        watch.idleWithWorkSince = undefined;
      }
    }
    if (samples) await this.publish(redis).catch((error: unknown) => this.options.redisErrors.report('watchdog: publishing health', error));
  }

  /** Waiting counts and paused flags per queue, or `undefined` if Redis did not answer in time. */
  private async sample(redis: Redis): Promise<Map<string, { waiting: number; paused: boolean }> | undefined> {
    const prefix = this.options.redisPrefix;
    const pipeline = redis.pipeline();
    for (const consumer of this.options.consumers) {
      const base = `${prefix}:${consumer.queue}`;
      pipeline.llen(`${base}:wait`).zcard(`${base}:prioritized`).hexists(`${base}:meta`, 'paused');
    }
    try {
      const replies = await withTimeout(pipeline.exec(), Math.min(this.options.intervalMs, 2000), 'sampling queues');
      const samples = new Map<string, { waiting: number; paused: boolean }>();
      this.options.consumers.forEach((consumer, i) => {
        const value = (k: number): number => Number(replies?.[3 * i + k]?.[1] ?? 0);
        samples.set(consumer.queue, { waiting: value(0) + value(1), paused: value(2) === 1 });
      });
      return samples;
    } catch (error) {
      // A socket that answers nothing never closes by itself: open a fresh one for the next check.
      if (error instanceof RedisTimeoutError && redis.status === 'ready') redis.disconnect(true);
      this.options.redisErrors.report('watchdog: sampling queues', error);
      return undefined;
    }
  }

  private async publish(redis: Redis): Promise<void> {
    const [seconds, micros] = await withTimeout(redis.time(), 1000, 'reading Redis time');
    const reportedAt = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    const report: PublishedHealth = { ...this.health('ok'), reportedAt };
    await withTimeout(redis.hset(workersHealthKey(this.options.redisPrefix), this.options.identity.workerId, JSON.stringify(report)), 1000, 'publishing health');
  }

  /** Removes entries of workers that stopped reporting an hour ago (killed, never closed). */
  private async pruneGone(): Promise<void> {
    const redis = this.redis;
    if (!redis) return;
    try {
      const key = workersHealthKey(this.options.redisPrefix);
      const [seconds] = await withTimeout(redis.time(), 2000, 'reading Redis time');
      const entries = await withTimeout(redis.hgetall(key), 2000, 'reading worker health');
      const gone = Object.entries(entries)
        .filter(([, value]) => (parseHealth(value)?.reportedAt ?? 0) < Number(seconds) * 1000 - pruneAfterMs)
        .map(([field]) => field);
      if (gone.length) await redis.hdel(key, ...gone);
    } catch (error) {
      this.options.redisErrors.report('watchdog: pruning old health entries', error);
    }
  }
}

/** A published health entry, or `undefined` if it is not one. */
export function parseHealth(value: string): PublishedHealth | undefined {
  try {
    const parsed = JSON.parse(value) as PublishedHealth;
    return typeof parsed.reportedAt === 'number' && Array.isArray(parsed.queues) ? parsed : undefined;
  } catch {
    return undefined;
  }
}
