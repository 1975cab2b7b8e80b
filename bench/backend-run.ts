/**
 * One run of one backend, in phases, each timed on its own (the report prints the same method):
 *  1. bulk enqueue: N no-op jobs in calls of `bulkChunk`, no worker running; the first
 *     min(bulkChunk, N/10) warm the producer up untimed, the rest are timed from the first call to
 *     the last one's return.
 *  2. end-to-end: a worker child (concurrency C) starts on the N waiting jobs; timed from just before
 *     it starts fetching (read in the child) until Redis holds no unfinished job (polled every 5 ms
 *     by the harness; for jobledger a job finishes in Redis only after its outcome is committed), or
 *     for pg-boss until its job table holds none (polled once the worker has entered every job's
 *     handler, as a count scans that table: producers.ts).
 *  3. pickup latency: with the worker running and idle, L jobs added one by one at a modest fixed
 *     rate (open loop, not waiting for the previous add); per job, from the enqueue call to its
 *     handler being entered in the worker (both read from the same wall clock).
 *  4. the worker child closes gracefully and reports its peak RSS (VmHWM); then the ledger's size.
 *  5. single enqueue: S jobs added one at a time, each awaited, no worker running; then S more by
 *     50 concurrent callers, each awaiting its add before the next (single-enqueue.ts).
 * Everything is made fresh for the run (Redis prefix, database) and removed afterwards.
 */
import { WorkerChild, type StoppedReport } from './child-handle.js';
import { localPostgresCpuSeconds, type ServiceCpu } from './cpu-meters.js';
import { sleep } from './interrupt.js';
import { usesPostgres, type BackendName, type BenchOptions } from './options.js';
import { bareProducer, ledgerProducer, pgbossProducer, type BenchProducer } from './producers.js';
import { wallNow } from './protocol.js';
import { preparePlace } from './services.js';
import { singleEnqueuePhase } from './single-enqueue.js';
import { percentile, perSecond } from './stats.js';

export interface RunFigures {
  /** End-to-end no-op jobs per second (phase 2). */
  jobsPerS: number;
  /** Bulk enqueue jobs per second (phase 1). */
  enqueuePerS: number;
  /** One-at-a-time enqueue jobs per second (phase 5), and each call's latency. */
  enqueueSinglePerS: number;
  enqueueSingleP50Ms?: number;
  enqueueSingleP99Ms?: number;
  /** Single enqueue by 50 concurrent callers (phase 5): jobs per second and each call's latency. */
  enqueueSingle50PerS?: number;
  enqueueSingle50P50Ms?: number;
  enqueueSingle50P99Ms?: number;
  p50PickupMs: number;
  p99PickupMs: number;
  peakRssMiB: number;
  /**
   * How late the last add of the latency phase returned after its slot. Beyond ~100 ms the producer
   * could not keep up with the rate, and the pickup latency includes time queued in the producer.
   */
  latencyAddLagMs: number;
  /** Ledger backends: ledger size on disk / finished jobs. */
  ledgerBytesPerJob?: number;
  /** Ledger backends: hot-path writes (attempt starts, outcomes, heartbeats) per group commit, end-to-end phase. */
  writesPerCommit?: number;
  /** End-to-end phase: CPU per job of the worker process (all its threads), of Redis, of a local PostgreSQL. */
  workerCpuUsPerJob?: number;
  redisCpuUsPerJob?: number;
  postgresCpuUsPerJob?: number;
  /** Their sum: the machine's CPU per job in the phase (the harness's polling aside). */
  cpuUsPerJob?: number;
  /** Observed runs (`--metrics`): scrapes of the worker's /metrics that answered 200, and spans its SDK exported. */
  scrapes?: number;
  spans?: number;
}

/** See `RunFigures.latencyAddLagMs`. */
export const saturatedLagMs = 100;
const stuckAfterMs = 120_000;
const pollMs = 5;
const progressEveryMs = 5000;
const mib = 1024 * 1024;

/**
 * `observed` (jobledger backends, `--metrics`): the worker child runs with metrics and tracing on
 * (protocol.ts, `ChildSettings.observe`), and the harness scrapes its /metrics every `scrapeEveryMs`
 * from the worker's start to its stop.
 */
export async function runBackend(backend: BackendName, options: BenchOptions, label: string, observed = false): Promise<RunFigures> {
  const name = observed ? `${backend} (metrics+tracing on)` : backend;
  const log = (message: string): void => void process.stderr.write(`${label} ${name}: ${message}\n`);
  let scraper: Scraper | undefined;
  const place = await preparePlace(backend, options.redisUrl, options.postgresAdminUrl);
  let producer: BenchProducer | undefined;
  let child: WorkerChild | undefined;
  try {
    producer =
      backend === 'bare'
        ? bareProducer(options.redisUrl, place)
        : backend === 'pgboss'
          ? await pgbossProducer(place)
          : await ledgerProducer(options.redisUrl, place);
    child = await WorkerChild.spawn(
      {
        mode: backend === 'bare' || backend === 'pgboss' ? backend : 'ledger',
        ...(backend === 'pgboss' ? { pgboss: options.pgboss } : {}),
        redisUrl: options.redisUrl,
        redisPrefix: place.redisPrefix,
        ...(place.databaseUrl ? { databaseUrl: place.databaseUrl } : {}),
        concurrency: options.concurrency,
        endToEndJobs: options.jobs,
        ...(observed ? { observe: true, contextManager: options.metricsContextManager, spanProcessor: options.metricsSpanProcessor, sampleRatio: options.metricsSampleRatio } : {}),
        ...(options.profileDir && options.profileEndToEnd
          ? { profileEndToEnd: { dir: options.profileDir, label: observed ? `${backend}-observed` : backend, intervalUs: 250 } }
          : {}),
      },
      { profileDir: options.profileEndToEnd ? undefined : options.profileDir, nodeFlags: options.nodeFlags },
    );

    const n = options.jobs;
    // The first jobs warm up the producer (connections, JIT) and are not timed; they are run with the rest.
    const warmup = bulkWarmup(options);
    await producer.addBulk(warmup, options.bulkChunk);
    const bulkStart = wallNow();
    await producer.addBulk(n - warmup, options.bulkChunk);
    const enqueuePerS = perSecond(n - warmup, wallNow() - bulkStart);
    log(`bulk enqueue of ${n - warmup} jobs (after ${warmup} untimed): ${fmt(enqueuePerS)} jobs/s`);

    // Read outside the timed window, and the second time while the worker's connections are open.
    const cpuBefore = await serviceCpu(producer, backend);
    if (observed && child.metricsPort === undefined) throw new Error('an observed worker child reported no metrics port');
    const startedAt = await child.start();
    if (child.metricsPort !== undefined) scraper = startScraping(child.metricsPort);
    const drainedAt = await waitUntilDrained(producer, n, log, producer.costlyCounts ? child.handledAll() : undefined);
    const cpuAfter = await serviceCpu(producer, backend);
    const jobsPerS = perSecond(n, drainedAt - startedAt);
    log(`end-to-end: ${fmt(jobsPerS)} jobs/s (${((drainedAt - startedAt) / 1000).toFixed(2)} s)`);

    const l = options.latencyJobs;
    const latencyAddLagMs = await addAtRate(producer, l, options.latencyRatePerS);
    if (latencyAddLagMs > saturatedLagMs) {
      log(`the producer fell behind ${options.latencyRatePerS} adds/s (last add ${latencyAddLagMs.toFixed(0)} ms late): pickup latency includes producer queueing`);
    }
    await waitUntilDrained(producer, l, log);
    const scrapes = await scraper?.stop();
    scraper = undefined;
    const stopped: StoppedReport = await child.stop();
    child = undefined;
    if (stopped.pickupMs.length !== l) throw new Error(`expected ${l} pickup latencies from the worker, got ${stopped.pickupMs.length}`);
    const pickups = [...stopped.pickupMs].sort((a, b) => a - b);
    const figures: RunFigures = {
      jobsPerS,
      enqueuePerS,
      enqueueSinglePerS: 0,
      p50PickupMs: percentile(pickups, 0.5),
      p99PickupMs: percentile(pickups, 0.99),
      peakRssMiB: stopped.peakRssBytes / mib,
      latencyAddLagMs,
      ...(stopped.groupCommit && stopped.groupCommit.batches > 0
        ? { writesPerCommit: stopped.groupCommit.writes / stopped.groupCommit.batches }
        : {}),
      ...cpuPerJob(n, stopped.endToEndCpuMicros, cpuBefore, cpuAfter),
      ...(scrapes !== undefined ? { scrapes } : {}),
      ...(stopped.spans !== undefined ? { spans: stopped.spans } : {}),
    };
    if (observed) log(`${scrapes ?? 0} scrapes of /metrics, ${stopped.spans ?? 0} spans exported`);
    if (figures.cpuUsPerJob !== undefined) {
      const parts = [
        ['worker', figures.workerCpuUsPerJob],
        ['Redis', figures.redisCpuUsPerJob],
        ['PostgreSQL', figures.postgresCpuUsPerJob],
      ] as const;
      const measured = parts.flatMap(([name, us]) => (us === undefined ? [] : [`${name} ${fmt(us)}`]));
      log(`CPU per job, end-to-end: ${fmt(figures.cpuUsPerJob)} us (${measured.join(', ')})`);
    }
    log(`pickup p50 ${figures.p50PickupMs.toFixed(2)} ms, p99 ${figures.p99PickupMs.toFixed(2)} ms; worker peak RSS ${figures.peakRssMiB.toFixed(1)} MiB`);

    if (producer.ledgerCompleted && producer.ledgerSize) {
      const completed = await producer.ledgerCompleted();
      if (completed !== n + l) throw new Error(`Redis finished ${n + l} jobs but the ledger has ${completed} completed`);
      const size = await producer.ledgerSize();
      figures.ledgerBytesPerJob = size.bytes / completed;
      log(`ledger ${(size.bytes / mib).toFixed(1)} MiB for ${completed} jobs: ${fmt(figures.ledgerBytesPerJob)} bytes/job`);
    }

    const { one, many } = await singleEnqueuePhase(producer, options.singleJobs, log);
    Object.assign(figures, {
      enqueueSinglePerS: one.perS,
      enqueueSingleP50Ms: one.p50Ms,
      enqueueSingleP99Ms: one.p99Ms,
      enqueueSingle50PerS: many.perS,
      enqueueSingle50P50Ms: many.p50Ms,
      enqueueSingle50P99Ms: many.p99Ms,
    });
    return figures;
  } finally {
    await scraper?.stop().catch(() => undefined);
    child?.kill(); // only on failure: a child that stopped normally is gone already
    await producer?.close().catch((error: unknown) => log(`closing the producer failed: ${String(error)}`));
    await place.dispose();
  }
}

/** How often an observed run's /metrics is scraped: a Prometheus scraping each second, five to fifteen times its usual rate. */
const scrapeEveryMs = 1000;

interface Scraper {
  /** Stops scraping; resolves with the scrapes that answered 200. Fails if any did not. */
  stop(): Promise<number>;
}

/** Scrapes /metrics every `scrapeEveryMs`, one scrape at a time, reading each body whole. */
function startScraping(port: number): Scraper {
  let stopped = false;
  let ok = 0;
  let failure: string | undefined;
  const loop = (async () => {
    while (!stopped) {
      const began = wallNow();
      try {
        const response = await fetch(`http://127.0.0.1:${port}/metrics`);
        const body = await response.text();
        if (response.status === 200 && body.includes('jobledger_jobs')) ok++;
        else failure ??= `status ${response.status}`;
      } catch (error) {
        failure ??= String(error);
      }
      const wait = scrapeEveryMs - (wallNow() - began);
      if (wait > 0 && !stopped) await sleep(wait);
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      if (failure) throw new Error(`a scrape of the worker's /metrics failed: ${failure}`);
      return ok;
    },
  };
}

/** Redis's CPU so far and, for a PostgreSQL run, the local server's (cpu-meters.ts). */
async function serviceCpu(producer: BenchProducer, backend: BackendName): Promise<ServiceCpu> {
  return { redis: await producer.redisCpuSeconds(), postgres: usesPostgres(backend) ? localPostgresCpuSeconds() : undefined };
}

/** The per-job CPU figures that could be measured, and their sum once the worker's is known. */
function cpuPerJob(jobs: number, workerMicros: number | undefined, before: ServiceCpu, after: ServiceCpu): Partial<RunFigures> {
  const perJob = (from: number | undefined, to: number | undefined): number | undefined =>
    from === undefined || to === undefined ? undefined : ((to - from) * 1e6) / jobs;
  const out: Partial<RunFigures> = {};
  if (workerMicros !== undefined) out.workerCpuUsPerJob = workerMicros / jobs;
  const redis = perJob(before.redis, after.redis);
  if (redis !== undefined) out.redisCpuUsPerJob = redis;
  const postgres = perJob(before.postgres, after.postgres);
  if (postgres !== undefined) out.postgresCpuUsPerJob = postgres;
  if (out.workerCpuUsPerJob !== undefined) {
    out.cpuUsPerJob = out.workerCpuUsPerJob + (out.redisCpuUsPerJob ?? 0) + (out.postgresCpuUsPerJob ?? 0);
  }
  return out;
}

/** Jobs enqueued untimed before the bulk enqueue is timed: one call's worth, at most a tenth of the jobs. */
export function bulkWarmup(options: Pick<BenchOptions, 'jobs' | 'bulkChunk'>): number {
  return Math.min(options.bulkChunk, Math.floor(options.jobs / 10));
}

/**
 * Polls the queue (Redis, or pg-boss's table) until no job is unfinished; returns the wall-clock time
 * of the poll that saw it empty. Fails on a failed job, or when nothing moved for two minutes. Given
 * `handledAll` (the worker has entered every job's handler), counts only every `progressEveryMs`
 * until it resolves, then polls: for a queue that is costly to count (`BenchProducer.costlyCounts`).
 */
export async function waitUntilDrained(
  producer: BenchProducer,
  total: number,
  log: (message: string) => void,
  handledAll?: Promise<unknown>,
): Promise<number> {
  let lastUnfinished = Infinity;
  let lastMoveAt = wallNow();
  let lastLogAt = wallNow();
  let handled = handledAll === undefined;
  void handledAll?.then(
    () => (handled = true),
    () => undefined, // a failed worker is reported through the race below
  );
  for (;;) {
    const counts = await producer.queueCounts();
    const now = wallNow();
    if (counts.failed > 0) throw new Error(`${counts.failed} job(s) failed`);
    if (counts.unfinished === 0) return now;
    if (counts.unfinished !== lastUnfinished) [lastUnfinished, lastMoveAt] = [counts.unfinished, now];
    if (now - lastMoveAt > stuckAfterMs) throw new Error(`stuck: ${counts.unfinished} job(s) unfinished for ${stuckAfterMs / 1000} s`);
    if (now - lastLogAt > progressEveryMs) {
      lastLogAt = now;
      log(`  ${Math.max(0, total - counts.unfinished)}/${total} finished`);
    }
    if (handled) await sleep(pollMs);
    else await Promise.race([handledAll, sleep(progressEveryMs)]);
  }
}

/**
 * Adds `count` timestamped jobs at `ratePerS`, on a fixed schedule that does not wait for slow adds
 * (so a slow producer cannot hide its slowness by lowering the rate). Returns how late the last add
 * returned after its slot.
 */
async function addAtRate(producer: BenchProducer, count: number, ratePerS: number): Promise<number> {
  const adds: Promise<void>[] = [];
  const failures: unknown[] = [];
  const begin = wallNow();
  const slot = (i: number): number => begin + (i * 1000) / ratePerS;
  for (let i = 0; i < count && failures.length === 0; i++) {
    const wait = slot(i) - wallNow();
    if (wait > 0.5) await sleep(wait);
    // Caught at once: a rejection must not go unhandled while the loop is still sleeping.
    adds.push(producer.addOne(wallNow()).catch((error: unknown) => void failures.push(error)));
  }
  await Promise.all(adds);
  if (failures.length) throw failures[0];
  return Math.max(0, wallNow() - slot(count - 1));
}

function fmt(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
