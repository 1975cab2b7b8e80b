/**
 * Removals from Redis that jobledger did not make (Bull Board's "remove", `Job.remove`,
 * `Queue.remove` from any BullMQ client), recorded in the ledger as `job.redis_removed` with actor
 * `redis` (docs/bull-board.md). BullMQ announces each such removal on the queue's event stream
 * (`removed`, with the state the job was in); its own retention (`removeOnComplete`/`removeOnFail`)
 * and `Queue.clean` announce none per job, so those stay unrecorded: Redis only held a copy.
 *
 * jobledger removes jobs itself in two places, told apart from a removal by someone else by the
 * state the ledger holds:
 * - after a cancel, the waiting or delayed incarnation of a job the ledger holds cancelled: a
 *   finished ledger job, removed unfinished from Redis;
 * - before handing a retried job over again, the finished incarnation of a job the ledger holds
 *   queued again: an unfinished ledger job, removed finished from Redis, and added again at once.
 * So a removal is someone else's when the ledger's job and Redis's were both finished (and Redis
 * has not got the job again: a retried job that already ran and finished again was re-added by
 * jobledger), or both unfinished; the ledger then keeps the job, and the next reconcile hands an
 * unfinished one to Redis again.
 *
 * Every worker watches the queues it serves, from the stream's end when it starts: a removal made
 * while no worker runs is not seen. Each sees every removal; the first to record it wins and the
 * others find its event (store/jobs/redis-actions.ts).
 */
import { Queue, QueueEvents } from 'bullmq';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { closeRedis, createRedis, type Redis } from '../transport/redis-connection.js';
import type { RedisErrorLog } from '../transport/redis-errors.js';
import { isFinalJobStatus, isId, type Ledger } from '../store/index.js';
import { NotFoundError } from '../errors.js';

/** BullMQ's states of a job that has finished in Redis. */
const finishedRedisStates: readonly string[] = ['completed', 'failed'];

export interface RedisRemovalWatchOptions {
  ledger: Ledger;
  config: Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisPrefix'>;
  queues: readonly string[];
  logger: Logger;
  redisErrors: RedisErrorLog;
}

/** A removal as BullMQ's `removed` event reports it. */
export interface RemovalNotice {
  jobId: string;
  /** The job's state in Redis before the removal. */
  prev: string;
  /** The event's id in the queue's event stream. */
  eventId: string;
}

export class RedisRemovalWatch {
  private readonly listeners: { events: QueueEvents; connection: Redis; done: Promise<void> }[] = [];
  private readonly queues = new Map<string, Queue>();
  private readonly pending = new Set<Promise<unknown>>();

  private constructor(
    private readonly options: RedisRemovalWatchOptions,
    /** For reads (where a job is in Redis now, the stream's end); the listeners block on their own. */
    private readonly reader: Redis,
  ) {}

  /** Starts watching; resolves once every queue's stream is read from its end as of now. */
  static async start(options: RedisRemovalWatchOptions): Promise<RedisRemovalWatch> {
    const reader = createRedis(options.config, 'worker');
    options.redisErrors.watch(reader, 'removal watch');
    const watch = new RedisRemovalWatch(options, reader);
    try {
      for (const name of options.queues) await watch.listen(name);
    } catch (error) {
      await watch.close();
      throw error;
    }
    return watch;
  }

  /** Stops watching; waits for the recordings already under way. */
  async close(): Promise<void> {
    await Promise.all(
      this.listeners.map(async ({ events, connection, done }) => {
        const closed = events.close();
        // The listener's read blocks until an event comes or its timeout: ending the connection ends it.
        connection.disconnect();
        await Promise.allSettled([closed, done]);
      }),
    );
    await Promise.allSettled([...this.pending]);
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    await closeRedis(this.reader);
  }

  /** Drops the connections at once (a worker whose Redis does not let it close in time). */
  cut(): void {
    for (const { connection } of this.listeners) connection.disconnect();
    this.reader.disconnect();
  }

  /**
   * Records the removal when someone else made it (see the top of this file). True if this call
   * recorded it; false if it was jobledger's own, not a ledger job, or recorded by another worker.
   */
  async handle(queueName: string, notice: RemovalNotice): Promise<boolean> {
    if (!isId('job', notice.jobId)) return false;
    const job = await this.options.ledger.getJob(notice.jobId).catch((error: unknown) => {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    });
    if (!job) return false;
    const finalInLedger = isFinalJobStatus(job.status);
    if (finalInLedger !== finishedRedisStates.includes(notice.prev)) return false;
    if (finalInLedger && (await this.queue(queueName).getJobState(job.id)) !== 'unknown') return false;
    const recorded = await this.options.ledger.recordRedisRemoval({
      jobId: job.id,
      redisState: notice.prev,
      redisEventId: notice.eventId,
      handedBackByReconcile: !finalInLedger,
      now: Date.now(),
    });
    if (recorded) {
      this.options.logger.info(
        { jobId: job.id, status: job.status, redisState: notice.prev },
        finalInLedger ? 'a finished job was removed from Redis; the ledger keeps it' : 'an unfinished job was removed from Redis; the next reconcile hands it over again',
      );
    }
    return recorded;
  }

  private async listen(name: string): Promise<void> {
    const { config, logger, redisErrors } = this.options;
    const queue = this.queue(name);
    // From the stream's last event as of now, not BullMQ's default "$" (whatever comes after its
    // first read): a removal made once `start` resolved is seen.
    const last = (await this.reader.xrevrange(queue.toKey('events'), '+', '-', 'COUNT', 1)) as [string, string[]][];
    const connection = createRedis(config, 'worker');
    redisErrors.watch(connection, 'removal watch');
    const events = new QueueEvents(name, { connection, prefix: config.redisPrefix, autorun: false, lastEventId: last[0]?.[0] ?? '0-0' });
    events.on('error', (error) => redisErrors.report('removal watch', error));
    events.on('removed', ({ jobId, prev }, eventId) => {
      const recording = this.handle(name, { jobId, prev, eventId })
        .catch((error: unknown) => logger.warn({ err: error, jobId }, 'could not record a removal from Redis'))
        .finally(() => this.pending.delete(recording));
      this.pending.add(recording);
    });
    const done = events.run().catch(() => undefined);
    this.listeners.push({ events, connection, done });
  }

  private queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue(name, { connection: this.reader, prefix: this.options.config.redisPrefix });
      this.queues.set(name, queue);
    }
    return queue;
  }
}
