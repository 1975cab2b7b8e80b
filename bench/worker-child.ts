/**
 * The worker side of one benchmark run, in its own process so that its RSS is the worker's alone and
 * bare BullMQ and jobledger are measured the same way. Started by child-handle.ts with the settings
 * as JSON in argv[2]; talks to the harness over IPC (protocol.ts):
 *   → ready          connected (jobledger: ledger opened), not fetching yet
 *   ← start          → started { atMs }: the clock starts just before the worker starts fetching
 *                    → handledAll { atMs }: every end-to-end job's handler has been entered
 *   ← stop           graceful close, then → stopped { peak RSS, pickup latencies, handled }
 * A bare or pg-boss child never imports jobledger, so MikroORM is not in its memory.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Session } from 'node:inspector';
import { loadConfig, type Config } from '../src/config.js';
import { benchJobName, benchQueue, enqueuedAt, wallNow, type ChildSettings, type FromChild, type ToChild } from './protocol.js';

interface RunningWorker {
  start(): Promise<void>;
  stop(): Promise<void>;
}

const settings = JSON.parse(process.argv[2] ?? '{}') as ChildSettings;
const pickupMs: number[] = [];
const checkpoints = new Set(settings.rssCheckpoints ?? []);
let handled = 0;
/** Set by a ledger child: reads the ledger's group-commit counters. */
let readGroupCommit: (() => { batches: number; writes: number }) | undefined;
let endToEndGroupCommit: { batches: number; writes: number } | undefined;
/** This process's CPU when the worker was told to start, and what it had used by the end-to-end phase's last job. */
let cpuAtStart: NodeJS.CpuUsage | undefined;
let endToEndCpuMicros: number | undefined;
let sampledPeakRssBytes = process.memoryUsage.rss();
/** Set by an observed ledger child (`settings.observe`): where /metrics is served, and how many spans ended. */
let metricsPort: number | undefined;
let countSpans: (() => Promise<number>) | undefined;
/** `settings.profileEndToEnd`: the inspector session profiling the end-to-end phase, and its written profile. */
let profiler: Session | undefined;
let profileWritten: Promise<void> | undefined;

function send(message: FromChild, then?: () => void): void {
  if (process.send) process.send(message, undefined, {}, () => then?.());
  else then?.();
}

/** What every handler, bare or jobledger, does: count, and note the pickup latency of timed jobs. */
function onHandled(enqueuedAtMs: number | undefined, enteredAtMs: number): void {
  handled++;
  if (enqueuedAtMs !== undefined) pickupMs.push(enteredAtMs - enqueuedAtMs);
  if (handled === settings.endToEndJobs) {
    send({ type: 'handledAll', atMs: enteredAtMs });
    endToEndGroupCommit = readGroupCommit?.();
    if (cpuAtStart) {
      const used = process.cpuUsage(cpuAtStart);
      endToEndCpuMicros = used.user + used.system;
    }
    profileWritten = stopProfiling();
  }
  if (checkpoints.has(handled)) {
    // A forced full GC first (the child runs with --expose-gc in memory mode), so that the figure
    // shows memory that is kept, not garbage that happens not to be collected yet.
    (globalThis as { gc?: () => void }).gc?.();
    const usage = process.memoryUsage();
    send({ type: 'checkpoint', handled, rssBytes: usage.rss, heapUsedBytes: usage.heapUsed });
  }
}

function benchConfig(): Readonly<Config> {
  return loadConfig(
    {},
    {
      REDIS_URL: settings.redisUrl,
      JOBLEDGER_REDIS_PREFIX: settings.redisPrefix,
      LOG_LEVEL: 'silent',
      ...(settings.databaseUrl ? { DATABASE_URL: settings.databaseUrl } : {}),
    },
  );
}

/** A plain BullMQ worker with the settings jobledger's worker uses (lock, stall checks), nothing else. */
async function bareWorker(config: Readonly<Config>): Promise<RunningWorker> {
  const { Worker } = await import('bullmq');
  const { Redis } = await import('ioredis');
  let worker: InstanceType<typeof Worker> | undefined;
  let connection: InstanceType<typeof Redis> | undefined;
  return {
    async start() {
      // Connection and worker are made here, as LedgerWorker.start() makes its own.
      connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
      worker = new Worker(
        benchQueue,
        (job) => {
          if (job.name === benchJobName) onHandled(enqueuedAt(job.data), wallNow());
          return Promise.resolve(null);
        },
        {
          connection,
          prefix: config.redisPrefix,
          concurrency: settings.concurrency,
          lockDuration: config.lockDurationMs,
          stalledInterval: config.stalledIntervalMs,
          maxStalledCount: config.maxStalledCount,
          autorun: false,
        },
      );
      worker.on('error', (error) => process.stderr.write(`bare worker error: ${error.message}\n`));
      worker.run().catch((error: unknown) => process.stderr.write(`bare worker loop stopped: ${String(error)}\n`));
      await worker.waitUntilReady();
    },
    async stop() {
      await worker?.close();
      await connection?.quit();
    },
  };
}

/**
 * pg-boss's workers on the database the harness's producer set up: `workers` loops, each fetching up
 * to `batchSize` jobs per poll and handing them to one handler call, which completes them together.
 */
async function pgbossWorker(): Promise<RunningWorker> {
  const { default: PgBoss } = await import('pg-boss');
  const { pgbossOptions } = await import('./pgboss-options.js');
  if (!settings.pgboss || !settings.databaseUrl) throw new Error('a pg-boss child needs its settings (pgboss) and a database');
  const { workers, batchSize } = settings.pgboss;
  const boss = new PgBoss({ ...pgbossOptions(settings.databaseUrl), migrate: false });
  boss.on('error', (error) => process.stderr.write(`pg-boss worker error: ${error.message}\n`));
  await boss.start();
  return {
    async start() {
      for (let i = 0; i < workers; i++) {
        await boss.work<{ t?: number }>(benchQueue, { batchSize, pollingIntervalSeconds: 0.5 }, (jobs) => {
          const enteredAt = wallNow();
          for (const job of jobs) onHandled(enqueuedAt(job.data), enteredAt);
          return Promise.resolve();
        });
      }
    },
    stop: () => boss.stop({ graceful: true, wait: true }),
  };
}

/**
 * An OpenTelemetry SDK as an application registers one: a BasicTracerProvider whose spans go to an
 * in-memory exporter through a BatchSpanProcessor with its default settings (the SDK's processor
 * for production), or a SimpleSpanProcessor if the harness asks (`settings.spanProcessor`: every
 * span exported as it ends), and the AsyncLocalStorage context manager unless the harness asks for
 * none (`settings.contextManager`); every trace sampled unless the harness gives a ratio
 * (`settings.sampleRatio`). The exporter is emptied every second, so that the run's spans
 * cost their making and exporting, not an ever-growing array. Returns a count of the spans exported
 * (the processor's buffer flushed first).
 */
async function registerTracing(): Promise<() => Promise<number>> {
  const { context, trace } = await import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
  const { BasicTracerProvider, BatchSpanProcessor, InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler } = await import(
    '@opentelemetry/sdk-trace-base'
  );
  const exporter = new InMemorySpanExporter();
  const processor = settings.spanProcessor === 'simple' ? new SimpleSpanProcessor(exporter) : new BatchSpanProcessor(exporter);
  const ratio = settings.sampleRatio ?? 1;
  const sampler = ratio < 1 ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }) } : {};
  const provider = new BasicTracerProvider({ spanProcessors: [processor], ...sampler });
  const manager = settings.contextManager === 'none' ? undefined : new AsyncLocalStorageContextManager().enable();
  if (manager && !context.setGlobalContextManager(manager)) throw new Error('a context manager was registered already');
  if (!trace.setGlobalTracerProvider(provider)) throw new Error('a tracer provider was registered already');
  let cleared = 0;
  setInterval(() => {
    cleared += exporter.getFinishedSpans().length;
    exporter.reset();
  }, 1000).unref();
  return async () => {
    await provider.forceFlush();
    return cleared + exporter.getFinishedSpans().length;
  };
}

/** A jobledger worker through the public API, on the ledger the harness migrated. */
async function ledgerWorker(config: Readonly<Config>): Promise<RunningWorker> {
  const { JobLedger } = await import('../src/index.js');
  const { benchNoopJob } = await import('./bench-job.js');
  // Registered before the ledger opens, as an application's SDK would be.
  if (settings.observe) countSpans = await registerTracing();
  // No relay: the harness is the producer and hands its jobs over itself.
  const jl = await JobLedger.open({ jobs: [benchNoopJob(onHandled)], config, relay: false });
  const worker = jl.createWorker({ concurrency: settings.concurrency });
  readGroupCommit = () => jl.ledger.groupCommitStats;
  if (settings.observe) metricsPort = (await jl.serveMetrics({ port: 0 })).port;
  return {
    start: () => worker.start(),
    stop: () => jl.close(),
  };
}

/** Posts one inspector command and resolves with its result. */
function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) =>
    session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T))),
  );
}

/** Starts sampling this thread's CPU (`settings.profileEndToEnd`): the end-to-end phase begins. */
async function startProfiling(): Promise<void> {
  const wanted = settings.profileEndToEnd;
  if (!wanted) return;
  profiler = new Session();
  profiler.connect();
  await post(profiler, 'Profiler.enable');
  await post(profiler, 'Profiler.setSamplingInterval', { interval: wanted.intervalUs });
  await post(profiler, 'Profiler.start');
}

/** Stops sampling and writes the profile (DevTools' .cpuprofile format). */
async function stopProfiling(): Promise<void> {
  const wanted = settings.profileEndToEnd;
  const session = profiler;
  if (!wanted || !session) return;
  profiler = undefined;
  const { profile } = await post<{ profile: object }>(session, 'Profiler.stop');
  session.disconnect();
  mkdirSync(wanted.dir, { recursive: true });
  writeFileSync(join(wanted.dir, `${wanted.label}-${process.pid}.cpuprofile`), JSON.stringify(profile));
}

/** The kernel's record of this process's peak RSS (Linux); undefined elsewhere. */
function vmHwmBytes(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  process.on('disconnect', () => process.exit(1)); // the harness is gone: do not linger
  setInterval(() => (sampledPeakRssBytes = Math.max(sampledPeakRssBytes, process.memoryUsage.rss())), 100).unref();
  const config = benchConfig();
  const worker =
    settings.mode === 'bare' ? await bareWorker(config) : settings.mode === 'pgboss' ? await pgbossWorker() : await ledgerWorker(config);
  process.on('message', (message: ToChild) => {
    const act = async (): Promise<void> => {
      if (message.type === 'start') {
        await startProfiling();
        const atMs = wallNow();
        cpuAtStart = process.cpuUsage();
        await worker.start();
        send({ type: 'started', atMs });
      } else {
        await worker.stop();
        await (profileWritten ?? stopProfiling());
        sampledPeakRssBytes = Math.max(sampledPeakRssBytes, process.memoryUsage.rss());
        const peakRssBytes = vmHwmBytes() ?? sampledPeakRssBytes;
        send(
          {
            type: 'stopped',
            peakRssBytes,
            sampledPeakRssBytes,
            pickupMs,
            handled,
            ...(endToEndGroupCommit ? { groupCommit: endToEndGroupCommit } : {}),
            ...(endToEndCpuMicros !== undefined ? { endToEndCpuMicros } : {}),
            ...(countSpans ? { spans: await countSpans() } : {}),
          },
          () => process.exit(0),
        );
      }
    };
    act().catch(reportAndExit);
  });
  send({ type: 'ready', ...(metricsPort !== undefined ? { metricsPort } : {}) });
}

function reportAndExit(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  send({ type: 'error', message }, () => process.exit(1));
}

main().catch(reportAndExit);
