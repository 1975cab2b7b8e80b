/**
 * Reconciles Redis against the ledger. The ledger is the truth: a job it expects Redis to carry that
 * Redis does not have (evicted, flushed, removed by hand, or finished in Redis while the ledger never
 * heard) is handed over again through the Dispatcher; committed jobs the producer never handed over
 * are the outbox relay's, run here too for processes without a relay. Redis jobs waiting or delayed
 * without a ledger row are only counted: a worker that meets one runs nothing, and deleting Redis
 * data the ledger cannot explain is left to an operator.
 *
 * First, attempts whose heartbeat died (measured on the database's clock, see
 * store/maintenance/stale-attempts.ts) are recorded `stalled` and their jobs queued and handed over
 * again, unless Redis still holds the job's lock (its worker is alive, only its ledger writes are
 * not arriving) — BullMQ's own stalled checker cannot see a job Redis has lost, nor a job whose
 * workers are all gone.
 *
 * Handing a job over again is safe at any time: BullMQ ignores an add for an id it holds, and a
 * worker that meets a job already final in the ledger runs nothing. Before acting, each job is read
 * again and skipped if its version moved since the scan (a worker took it meanwhile).
 */
import type { Dispatcher } from '../../jobs/dispatcher.js';
import { withTimeout } from '../../transport/redis-connection.js';
import type { Logger } from '../../logger.js';
import { databaseNow, existingJobIds, findJobsExpectedInRedis, findStaleAttempts, recoverStaleAttempt, unchangedJobs, type JobRow, type Ledger, type StaleAttempt } from '../../store/index.js';

export interface ReconcileDeps {
  ledger: Ledger;
  dispatcher: Dispatcher;
  /** Queues to scan for Redis jobs the ledger does not know. */
  queues: readonly string[];
  logger: Logger;
}

export interface ReconcileOptions {
  /** Count, change nothing. Default false. */
  dryRun?: boolean;
  /** The reference time (epoch ms). Default `Date.now()`. */
  now?: number;
  signal?: AbortSignal;
  /** A `pending` job this old was not handed over by its producer: the relay's grace. Default 60000. */
  pendingGraceMs?: number;
  /**
   * A running attempt whose heartbeat is older than this, by the database's clock, is recorded
   * `stalled` and its job queued and handed over again (unless Redis still holds its lock).
   */
  heartbeatStaleMs: number;
  /** Ledger jobs checked per Redis round. Default 200. */
  pageSize?: number;
  /** Redis job ids scanned per queue and state, at most. Default 100,000. */
  maxRedisScan?: number;
  /** Give up on one Redis round after this long. Default 10000. */
  redisTimeoutMs?: number;
}

export interface ReconcileCounts {
  /** Running attempts whose heartbeat is older than `heartbeatStaleMs` (database time). */
  staleAttempts: number;
  /** Of those, left alone because Redis still holds their job's lock: the worker is alive. */
  staleAlive: number;
  /** Of those, recorded `stalled` (their jobs queued again); 0 in a dry run. */
  staleRecovered: number;
  /** Ledger jobs (queued, delayed) looked up in Redis. */
  checked: number;
  /** Of those, absent from Redis or finished there while not finished in the ledger. */
  missing: number;
  /** Handed to Redis again (0 in a dry run). */
  redispatched: number;
  /** Could not be handed over this time (Redis unreachable, an old incarnation still active). */
  deferred: number;
  /** Committed jobs never handed over, older than the relay's grace. */
  outboxOverdue: number;
  /** Of those, handed over now (0 in a dry run). */
  outboxHandedOver: number;
  /** Redis jobs waiting or delayed that have no ledger row. */
  redisOrphans: number;
  [count: string]: number;
}

/**
 * What a reconcile run found Redis and the ledger disagree on, by kind (the
 * `jobledger_reconcile_disagreements_total` metric):
 * - `missing_in_redis`: a queued or delayed job Redis does not carry (or finished while the ledger did not);
 * - `undispatched`: a committed job never handed to Redis, past the relay's grace;
 * - `unknown_in_redis`: a Redis job waiting or delayed with no ledger row;
 * - `stale_attempt`: a running attempt whose heartbeat died while Redis holds no lock for its job.
 */
export const disagreementKinds = ['missing_in_redis', 'undispatched', 'unknown_in_redis', 'stale_attempt'] as const;
export type DisagreementKind = (typeof disagreementKinds)[number];
export type Disagreements = Record<DisagreementKind, number>;

export function disagreementsOf(counts: ReconcileCounts): Disagreements {
  return {
    missing_in_redis: counts.missing,
    undispatched: counts.outboxOverdue,
    unknown_in_redis: counts.redisOrphans,
    stale_attempt: Math.max(0, counts.staleAttempts - counts.staleAlive),
  };
}

const pendingRedisTypes = ['wait', 'delayed', 'prioritized'] as const;

export async function reconcileRedis(deps: ReconcileDeps, options: ReconcileOptions): Promise<ReconcileCounts> {
  const { ledger, dispatcher } = deps;
  const now = options.now ?? Date.now();
  const dryRun = options.dryRun ?? false;
  const pageSize = options.pageSize ?? 200;
  const redisTimeoutMs = options.redisTimeoutMs ?? 10_000;
  const pendingGraceMs = options.pendingGraceMs ?? 60_000;
  const counts: ReconcileCounts = {
    staleAttempts: 0,
    staleAlive: 0,
    staleRecovered: 0,
    checked: 0,
    missing: 0,
    redispatched: 0,
    deferred: 0,
    outboxOverdue: 0,
    outboxHandedOver: 0,
    redisOrphans: 0,
  };

  // 0. Attempts whose heartbeat died.
  await recoverStaleAttempts(deps, options, counts, { dryRun, pageSize, redisTimeoutMs });

  // 1. The outbox: committed, never handed over.
  counts.outboxOverdue = await ledger.countUndispatched(pendingGraceMs, now);
  if (!dryRun && counts.outboxOverdue > 0) {
    const relayed = await dispatcher.relayOnce(pendingGraceMs);
    counts.outboxHandedOver = relayed.dispatched.length;
    counts.deferred += relayed.deferred.length;
  }

  // 2. Jobs the ledger expects in Redis.
  for (let afterId = ''; !options.signal?.aborted; ) {
    const page = await findJobsExpectedInRedis(ledger, { afterId, limit: pageSize });
    if (page.length === 0) break;
    afterId = page[page.length - 1]!.id;
    counts.checked += page.length;
    const states = await withTimeout(
      Promise.all(page.map((job) => dispatcher.queue(job.queue).getJobState(job.id))),
      redisTimeoutMs,
      'reading job states from Redis',
    );
    const absent: JobRow[] = [];
    const finishedInRedis: JobRow[] = [];
    page.forEach((job, i) => {
      const state = states[i];
      if (state === 'unknown') absent.push(job);
      else if (state === 'completed' || state === 'failed') finishedInRedis.push(job);
    });
    counts.missing += absent.length + finishedInRedis.length;
    if (dryRun || absent.length + finishedInRedis.length === 0) continue;

    const current = new Map((await unchangedJobs(ledger, [...absent, ...finishedInRedis])).map((j) => [j.id, j]));
    const toAdd = absent.flatMap((j) => current.get(j.id) ?? []);
    if (toAdd.length) {
      // The keys were just seen absent, so a plain add (in bulk) is enough; BullMQ ignores it if a
      // worker's relay got there first.
      const report = await dispatcher.dispatch(toAdd);
      counts.redispatched += report.dispatched.length;
      counts.deferred += report.deferred.length;
    }
    for (const job of finishedInRedis.flatMap((j) => current.get(j.id) ?? [])) {
      // Redis finished this incarnation while the ledger did not: replace it with a fresh one.
      const report = await dispatcher.redispatch(job);
      counts.redispatched += report.dispatched.length;
      counts.deferred += report.deferred.length;
    }
  }

  // 3. Redis jobs the ledger has no row for.
  const maxScan = options.maxRedisScan ?? 100_000;
  for (const queueName of deps.queues) {
    const queue = dispatcher.queue(queueName);
    for (const type of pendingRedisTypes) {
      for (let start = 0; start < maxScan && !options.signal?.aborted; start += 1000) {
        const ids = await withTimeout(queue.getRanges([type], start, start + 999, true), redisTimeoutMs, 'listing Redis jobs');
        if (ids.length === 0) break;
        const known = await existingJobIds(ledger, ids);
        counts.redisOrphans += ids.filter((id) => !known.has(id)).length;
        if (ids.length < 1000) break;
      }
    }
  }

  if (counts.missing || counts.redisOrphans || counts.outboxOverdue || counts.staleAttempts) {
    deps.logger.warn({ ...counts, dryRun }, 'reconcile found Redis and the ledger out of step');
  }
  return counts;
}

async function recoverStaleAttempts(
  deps: ReconcileDeps,
  options: ReconcileOptions,
  counts: ReconcileCounts,
  settings: { dryRun: boolean; pageSize: number; redisTimeoutMs: number },
): Promise<void> {
  const { ledger, dispatcher } = deps;
  // The database's clock, not this process's: see store/maintenance/stale-attempts.ts.
  const now = await databaseNow(ledger);
  const staleBefore = now - options.heartbeatStaleMs;
  for (let afterId = ''; !options.signal?.aborted; ) {
    const page = await findStaleAttempts(ledger, { staleBefore, afterId, limit: settings.pageSize });
    if (page.length === 0) return;
    afterId = page[page.length - 1]!.attemptId;
    counts.staleAttempts += page.length;
    for (const attempt of page) {
      // A job whose lock Redis still holds is alive: its worker renews the lock, only its
      // heartbeats do not reach the ledger. Taking it away would run it twice.
      const redisState = attempt.current ? await withTimeout(redisStateOf(dispatcher, attempt), settings.redisTimeoutMs, 'reading a job from Redis') : 'moved-on';
      if (redisState === 'locked') {
        counts.staleAlive++;
        continue;
      }
      if (settings.dryRun) continue;
      const recovered = await recoverStaleAttempt(ledger, attempt, { staleBefore, now });
      if (recovered.kind === 'skipped') continue;
      counts.staleRecovered++;
      if (recovered.kind !== 'requeued') continue;
      // Make sure Redis will deliver the job again. An active job without a lock is BullMQ's: its
      // stalled checker moves it back to wait; waiting and delayed ones will be fetched anyway.
      let report;
      if (redisState === 'unknown') report = await dispatcher.dispatch([recovered.job]);
      else if (redisState === 'completed' || redisState === 'failed') report = await dispatcher.redispatch(recovered.job);
      if (report) {
        counts.redispatched += report.dispatched.length;
        counts.deferred += report.deferred.length;
      }
    }
  }
}

/** Where Redis has the attempt's job: `locked` when it is active with its lock still held. */
async function redisStateOf(dispatcher: Dispatcher, attempt: StaleAttempt): Promise<string> {
  const state = await dispatcher.queue(attempt.queue).getJobState(attempt.jobId);
  if (state === 'active' && (await dispatcher.isLocked({ id: attempt.jobId, queue: attempt.queue }))) return 'locked';
  return state;
}
