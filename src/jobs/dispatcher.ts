/**
 * Hands committed jobs to BullMQ and marks them dispatched: the outbox's far side. Redis carries
 * only "this job id should run now" (the payload stays in the ledger), so a job can be handed over
 * again at any time: BullMQ ignores an add whose job id it already holds, and a worker that meets a
 * job already final in the ledger runs nothing.
 */
import { Queue, type JobsOptions, type Telemetry } from 'bullmq';
import { faultPoint } from '../fault-points.js';
import type { Logger } from '../logger.js';
import type { RedisErrorLog } from '../transport/redis-errors.js';
import type { JobRow, Ledger } from '../store/index.js';
import { RedisTimeoutError, withTimeout, type Redis } from '../transport/redis-connection.js';
import { claimRedisPrefix } from '../transport/prefix-claim.js';
import { RedisPrefixTakenError, type PrefixOwner } from '../errors.js';
import { mirroredValue } from './mirrored-value.js';

/** The name of the custom BullMQ backoff strategy through which the ledger's retry delay is applied. */
export const ledgerBackoffType = 'jobledger';

export interface DispatcherOptions {
  ledger: Ledger;
  connection: Redis;
  prefix: string;
  logger: Logger;
  /** Give up on one hand-over after this long and leave the jobs to the relay. Default 5000. */
  dispatchTimeoutMs?: number;
  /** Where the queues' Redis errors go (logged once, then counted). Default: each logged at warn. */
  redisErrors?: RedisErrorLog;
  /** BullMQ's telemetry (`bullmq-otel`), given to every Queue. Default none. */
  telemetry?: Telemetry;
  /**
   * The ledger this dispatcher hands jobs over for: the prefix is claimed for it before the first
   * hand-over (transport/prefix-claim.ts), and nothing is handed over while another ledger holds it.
   * Default: no claim.
   */
  owner?: () => Promise<PrefixOwner>;
  /**
   * The Bull Board mirror (`JOBLEDGER_BULL_BOARD_MIRROR`): each job's payload also goes into its
   * Redis data, capped at this many bytes of JSON (mirrored-value.ts). Default none: Redis carries
   * only the id.
   */
  mirrorPayloadMaxBytes?: number;
}

export interface DispatchReport {
  dispatched: string[];
  /** Left in the outbox for the relay (Redis unreachable or slow). */
  deferred: string[];
}

type DispatchableJob = Pick<JobRow, 'id' | 'queue' | 'name' | 'priority' | 'maxAttempts' | 'runAt'> & Partial<Pick<JobRow, 'attemptsStarted' | 'payload'>>;

/**
 * The only data a Redis job carries. `startedBefore` marks a job the ledger has started before
 * (handed over again by the reconciler or after an operator retry): its Redis counters start from
 * zero, so the worker asks the ledger how its earlier attempts ended (workers/poison-guard.ts).
 */
export interface RedisJobData {
  startedBefore?: number;
  /** The payload, for Bull Board to show, only with the mirror on (`mirrorPayloadMaxBytes`). Never read back. */
  payload?: unknown;
}

export class Dispatcher {
  private readonly queues = new Map<string, Queue>();
  private relayTimer: NodeJS.Timeout | undefined;
  private relayRunning: Promise<unknown> | undefined;
  /** True from a lost (or refused) connection until the next `ready`. */
  private redisDown = false;
  /** The prefix claim, once it succeeded (a failed one is tried again at the next hand-over). */
  private claimed: Promise<void> | undefined;

  /** Operations in flight, failed at once when the connection closes (one listener for all of them). */
  private readonly onConnectionLost = new Set<() => void>();
  /**
   * Hand-overs of jobs that lived in Redis before, by job id, while they run. An operator retry and
   * the relay (or reconcile) may take the same job at once; the second would remove the fresh
   * incarnation the first just added, a removal that then reads as someone else's.
   */
  private readonly redispatching = new Map<string, Promise<DispatchReport>>();

  constructor(private readonly options: DispatcherOptions) {
    options.connection.on('close', () => {
      this.redisDown = true;
      for (const fail of [...this.onConnectionLost]) fail();
    });
    options.connection.on('ready', () => (this.redisDown = false));
  }

  queue(name: string): Queue {
    let queue = this.queues.get(name);
    if (!queue) {
      const { connection, prefix, telemetry } = this.options;
      queue = new Queue(name, { connection, prefix, ...(telemetry ? { telemetry } : {}) });
      if (this.options.redisErrors) this.options.redisErrors.watch(queue, `queue ${name}`);
      else queue.on('error', (error) => this.options.logger.warn({ err: error, queue: name }, 'queue connection error'));
      this.queues.set(name, queue);
    }
    return queue;
  }

  /**
   * Adds jobs to Redis (grouped by queue) and queues the dispatched marks of those that made it.
   * Without `onEach`, each queue's jobs go in bulk (one MULTI/EXEC). With it, each job is its own
   * `add`, all sent together, and `onEach` hears of each job as soon as its own reply comes, before
   * the rest of the batch is in: what lets group-committed enqueues answer their callers while
   * Redis still runs the batch (enqueue-batcher.ts). The marks of such jobs are promised
   * (dispatched-marks.ts), so this process reads each `queued` from its answer on.
   */
  async dispatch(jobs: readonly DispatchableJob[], now = Date.now(), onEach?: (id: string) => void): Promise<DispatchReport> {
    const report: DispatchReport = { dispatched: [], deferred: [] };
    const byQueue = new Map<string, DispatchableJob[]>();
    for (const job of jobs) {
      const group = byQueue.get(job.queue);
      if (group) group.push(job);
      else byQueue.set(job.queue, [job]);
    }
    // Promised marks of jobs answered one by one, released once their hand-over's marks are queued.
    const releases: (() => void)[] = [];
    for (const [queueName, group] of byQueue) {
      // Ids whose add returned before the hand-over gave up (only counted with `onEach`).
      const added = new Set<string>();
      if (onEach) releases.push(this.options.ledger.promiseDispatchedMarks(added, this.onMarkFailure));
      let gaveUp = false;
      try {
        await this.whileConnected(async () => {
          await this.claimPrefix();
          if (!onEach) return this.addToQueue(queueName, group, now);
          await this.addEach(queueName, group, now, (id) => {
            if (gaveUp) return;
            added.add(id);
            faultPoint('enqueue.after_redis');
            onEach(id);
          });
        }, 'handing jobs to Redis');
        report.dispatched.push(...group.map((j) => j.id));
        // Passed once per job above when each is answered on its own, before its caller hears of it.
        if (!onEach) faultPoint('enqueue.after_redis');
      } catch (error) {
        gaveUp = true;
        for (const job of group) (added.has(job.id) ? report.dispatched : report.deferred).push(job.id);
        const left = group.length - added.size;
        if (error instanceof RedisPrefixTakenError) this.options.logger.error({ err: error, jobs: left }, 'not handing jobs to a Redis prefix another ledger holds; they stay in the outbox');
        else this.options.logger.warn(
          { err: error, queue: queueName, jobs: left },
          'could not hand jobs to Redis; they stay committed in the outbox for the relay',
        );
      }
    }
    try {
      if (report.dispatched.length) await this.markDispatched(report.dispatched);
    } finally {
      for (const release of releases) release();
    }
    return report;
  }

  /**
   * Claims the Redis prefix for this dispatcher's ledger (once it succeeds, never again); rejects
   * with `RedisPrefixTakenError` when another ledger holds it.
   */
  claimPrefix(): Promise<void> {
    const owner = this.options.owner;
    if (!owner) return Promise.resolve();
    this.claimed ??= owner()
      .then((o) => claimRedisPrefix(this.options.connection, this.options.prefix, o))
      .catch((error: unknown) => {
        this.claimed = undefined;
        throw error;
      });
    return this.claimed;
  }

  /**
   * Written behind the caller's return (store/jobs/dispatched-marks.ts). A failed mark is only logged:
   * the caller's enqueue succeeded (throwing would invite a duplicate enqueue), and the relay marks
   * the jobs later.
   */
  private markDispatched(ids: readonly string[]): Promise<void> {
    return this.options.ledger.markDispatchedBehind(ids, this.onMarkFailure);
  }

  private readonly onMarkFailure = (error: unknown, jobs: number): void => {
    this.options.logger.warn({ err: error, jobs }, 'jobs are in Redis but could not be marked dispatched; the relay will mark them');
  };

  /**
   * One job goes with `add`: `addBulk` wraps its jobs in MULTI/EXEC, which for a single job is two
   * more commands and a pipeline for nothing (single enqueues, one at a time: about 20-40 µs of the
   * hand-over's 140-210).
   */
  private async addToQueue(queueName: string, group: readonly DispatchableJob[], now: number): Promise<void> {
    const queue = this.queue(queueName);
    if (group.length === 1) {
      const [job] = group as [DispatchableJob];
      await queue.add(job.name, this.redisData(job), bullOptions(job, now));
      return;
    }
    await queue.addBulk(group.map((job) => ({ name: job.name, data: this.redisData(job), opts: bullOptions(job, now) })));
  }

  /**
   * Each job its own `add`, sent in the same tick (one write to Redis for all of them, no
   * MULTI/EXEC), `onAdded` called as each reply arrives. Rejects with the first failure once every
   * add has settled, so that the ids which did land are all reported.
   */
  private async addEach(queueName: string, group: readonly DispatchableJob[], now: number, onAdded: (id: string) => void): Promise<void> {
    const queue = this.queue(queueName);
    let failure: { error: unknown } | undefined;
    await Promise.all(
      group.map((job) =>
        queue.add(job.name, this.redisData(job), bullOptions(job, now)).then(
          () => onAdded(job.id),
          (error: unknown) => void (failure ??= { error }),
        ),
      ),
    );
    if (failure) throw failure.error;
  }

  private redisData(job: DispatchableJob): RedisJobData {
    const data: RedisJobData = job.attemptsStarted ? { startedBefore: job.attemptsStarted } : {};
    const maxBytes = this.options.mirrorPayloadMaxBytes;
    if (maxBytes !== undefined && job.payload !== undefined) data.payload = mirroredValue(job.payload, maxBytes);
    return data;
  }

  /**
   * Hands over a job that lived in Redis before (an operator retry): the old incarnation is removed
   * first, because BullMQ would ignore an add for an id it still holds. A job whose old incarnation
   * is still active stays in the outbox until that attempt lets go. A call for a job whose hand-over
   * this process is already running shares that one's report.
   */
  redispatch(job: JobRow): Promise<DispatchReport> {
    const running = this.redispatching.get(job.id);
    if (running) return running;
    const handOver = this.replaceAndDispatch(job).finally(() => this.redispatching.delete(job.id));
    this.redispatching.set(job.id, handOver);
    return handOver;
  }

  private async replaceAndDispatch(job: JobRow): Promise<DispatchReport> {
    const queue = this.queue(job.queue);
    try {
      const state = await this.whileConnected(() => queue.getJobState(job.id), 'reading job state');
      if (state === 'active') return { dispatched: [], deferred: [job.id] };
      if (state !== 'unknown') await queue.remove(job.id);
    } catch (error) {
      this.options.logger.warn({ err: error, jobId: job.id }, 'could not clear the old Redis job; the relay will retry');
      return { dispatched: [], deferred: [job.id] };
    }
    return this.dispatch([job]);
  }

  /** True while Redis holds the job's lock: a worker is running it and renewing the lock. */
  async isLocked(job: Pick<JobRow, 'id' | 'queue'>): Promise<boolean> {
    const key = `${this.queue(job.queue).toKey(job.id)}:lock`;
    return (await this.whileConnected(() => this.options.connection.exists(key), 'reading a job lock')) === 1;
  }

  /** Removes a job that is waiting or delayed in Redis (after a cancel). Active jobs are left to their worker. */
  async removeWaiting(job: Pick<JobRow, 'id' | 'queue'>): Promise<boolean> {
    try {
      return (await this.whileConnected(() => this.queue(job.queue).remove(job.id), 'removing a job')) === 1;
    } catch (error) {
      this.options.logger.warn({ err: error, jobId: job.id }, 'could not remove the job from Redis; a worker will find it final');
      return false;
    }
  }

  /** One pass of the relay: hands over what was committed at least `graceMs` ago and is still undispatched. */
  async relayOnce(graceMs: number, limit = 500): Promise<DispatchReport> {
    const total: DispatchReport = { dispatched: [], deferred: [] };
    for (;;) {
      const jobs = await this.options.ledger.findUndispatched(Date.now() - graceMs, limit);
      if (jobs.length === 0) return total;
      const firstTime = jobs.filter((j) => j.attemptsStarted === 0);
      const again = jobs.filter((j) => j.attemptsStarted > 0);
      const report = await this.dispatch(firstTime);
      for (const job of again) {
        const one = await this.redispatch(job);
        report.dispatched.push(...one.dispatched);
        report.deferred.push(...one.deferred);
      }
      total.dispatched.push(...report.dispatched);
      total.deferred.push(...report.deferred);
      if (report.dispatched.length === 0 || jobs.length < limit) return total;
    }
  }

  /** Runs the relay every `intervalMs` until `close()`. */
  startRelay(intervalMs: number, graceMs: number): void {
    if (this.relayTimer) return;
    const tick = (): void => {
      this.relayRunning = this.relayOnce(graceMs)
        .then((report) => {
          if (report.dispatched.length) this.options.logger.info({ jobs: report.dispatched.length }, 'relay handed committed jobs to Redis');
        })
        .catch((error: unknown) => this.options.logger.warn({ err: error }, 'relay pass failed; will retry'))
        .finally(() => {
          this.relayRunning = undefined;
          if (this.relayTimer) this.relayTimer = setTimeout(tick, intervalMs);
        });
    };
    this.relayTimer = setTimeout(tick, intervalMs);
  }

  /**
   * Runs one Redis operation, giving up after the dispatch timeout or as soon as the connection is
   * known to be down. BullMQ waits for `ready` before any command, whatever the producer
   * connection's fail-fast settings say, so without this every enqueue during an outage (or right
   * after opening against a dead Redis) would hang for the whole timeout. The operation itself runs
   * on; each of them is safe to repeat, and the relay repeats what did not land.
   */
  private whileConnected<T>(operation: () => Promise<T>, what: string): Promise<T> {
    if (this.redisDown) return Promise.reject(new Error(`Redis is down; not ${what}`));
    let onLost = (): void => undefined;
    const lost = new Promise<never>((_, reject) => {
      onLost = () => reject(new Error(`the Redis connection closed while ${what}`));
      this.onConnectionLost.add(onLost);
    });
    return withTimeout(Promise.race([operation(), lost]), this.options.dispatchTimeoutMs ?? 5000, what)
      .catch((error: unknown) => {
        if (error instanceof RedisTimeoutError) this.giveUpOnSilentConnection(what);
        throw error;
      })
      .finally(() => this.onConnectionLost.delete(onLost));
  }

  /**
   * A connection that stays `ready` but answers nothing (a blackholed network path, a half-open
   * socket after a NAT or failover drop) never emits `close`, so without this every later hand-over
   * would wait out the whole timeout again. Treat Redis as down from now on and make the client
   * open a fresh socket: its `ready` (after a ready check that needs a real answer) clears the flag.
   */
  private giveUpOnSilentConnection(what: string): void {
    if (this.redisDown || this.options.connection.status !== 'ready') return;
    this.redisDown = true;
    this.options.logger.warn({ what }, 'Redis did not answer in time; treating it as down and reconnecting (jobs stay in the outbox)');
    this.options.connection.disconnect(true);
  }

  async close(): Promise<void> {
    const timer = this.relayTimer;
    this.relayTimer = undefined;
    clearTimeout(timer);
    await this.relayRunning;
    await Promise.all([...this.queues.values()].map((q) => q.close()));
    this.queues.clear();
  }
}

function bullOptions(job: DispatchableJob, now: number): JobsOptions {
  return {
    jobId: job.id,
    delay: Math.max(0, job.runAt - now),
    ...(job.priority > 0 ? { priority: job.priority } : {}),
    // BullMQ counts failed attempts like the ledger's budget does; the ledger decides, and the
    // delay BullMQ applies comes from the ledger through the custom strategy (see execute-attempt.ts).
    attempts: job.maxAttempts,
    backoff: { type: ledgerBackoffType },
    // Redis is the transport, not the record: finished jobs leave it soon, the ledger keeps them.
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: { age: 24 * 3600, count: 5000 },
  };
}
