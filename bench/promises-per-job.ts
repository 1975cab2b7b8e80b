/**
 * Promises a worker creates per job, bare BullMQ against jobledger: with an application's
 * OpenTelemetry SDK and its AsyncLocalStorage context manager, Node runs promise hooks for every
 * promise, so this count is what observability's cost per job scales with. Unlike CPU time it is
 * the same from run to run (within a few hundredths: group-commit batch sizes vary), so a change
 * of the hot path shows here at once. For each backend, in this process: the jobs wait in a paused
 * queue, a worker (concurrency 50) starts on it, and PROMISE inits (async_hooks) are counted from
 * the queue's resume until every handler has run and no job is waiting or active in Redis.
 *
 *   npm run bench:promises -- [--backends bare,sqlite,postgres] [--jobs 2000]
 */
import { createHook } from 'node:async_hooks';
import { parseArgs } from 'node:util';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { JobLedger, loadConfig } from '../src/index.js';
import { benchNoopJob } from './bench-job.js';
import type { BackendName } from './options.js';
import { bareProducer, ledgerProducer } from './producers.js';
import { benchQueue } from './protocol.js';
import { preparePlace, runPendingCleanups, type RunPlace } from './services.js';

const concurrency = 50;
const measured: readonly BackendName[] = ['bare', 'sqlite', 'postgres'];
const redisUrl = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const postgresAdminUrl = process.env.BENCH_POSTGRES_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

let promises = 0;
const hook = createHook({
  init(_id, type) {
    if (type === 'PROMISE') promises++;
  },
});

/** Starts a worker on the place's paused queue; `onHandled` is called on each handler entry. */
async function startWorker(backend: BackendName, place: RunPlace, onHandled: () => void): Promise<() => Promise<void>> {
  if (backend === 'bare') {
    const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
    const worker = new Worker(
      benchQueue,
      () => {
        onHandled();
        return Promise.resolve(null);
      },
      { connection, prefix: place.redisPrefix, concurrency, autorun: false },
    );
    worker.run().catch((error: unknown) => process.stderr.write(`bare worker loop stopped: ${String(error)}\n`));
    await worker.waitUntilReady();
    return async () => {
      await worker.close();
      await connection.quit();
    };
  }
  const config = loadConfig({}, { DATABASE_URL: place.databaseUrl!, REDIS_URL: redisUrl, JOBLEDGER_REDIS_PREFIX: place.redisPrefix, LOG_LEVEL: 'silent' });
  const jl = await JobLedger.open({ jobs: [benchNoopJob(() => onHandled())], config, relay: false });
  await jl.createWorker({ concurrency }).start();
  return () => jl.close();
}

/** Resolves once no job of the queue is waiting, paused or active; its Redis calls are not counted. */
function drained(redis: Redis, prefix: string): Promise<void> {
  const key = (list: string): string => `${prefix}:${benchQueue}:${list}`;
  return new Promise((resolve) => {
    const poll = (): void => {
      hook.disable();
      void redis
        .multi()
        .llen(key('wait'))
        .llen(key('paused'))
        .llen(key('active'))
        .exec((error, replies) => {
          hook.enable();
          const left = error || !replies ? 1 : replies.reduce((sum, [, n]) => sum + Number(n), 0);
          if (left === 0) resolve();
          else setTimeout(poll, 5);
        });
      hook.enable();
    };
    poll();
  });
}

async function measure(backend: BackendName, jobs: number): Promise<number> {
  const place = await preparePlace(backend, redisUrl, postgresAdminUrl);
  const queue = new Queue(benchQueue, { connection: { url: redisUrl }, prefix: place.redisPrefix });
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: null });
  try {
    await queue.pause();
    const producer = backend === 'bare' ? bareProducer(redisUrl, place) : await ledgerProducer(redisUrl, place);
    await producer.addBulk(jobs, 500);
    await producer.close();
    let handled = 0;
    let allHandled: () => void = () => undefined;
    const handledAll = new Promise<void>((resolve) => (allHandled = resolve));
    const stop = await startWorker(backend, place, () => {
      if (++handled === jobs) allHandled();
    });
    promises = 0;
    hook.enable();
    await queue.resume();
    await handledAll;
    await drained(redis, place.redisPrefix);
    hook.disable();
    const perJob = promises / jobs;
    await stop();
    return perJob;
  } finally {
    hook.disable();
    await queue.close();
    await redis.quit();
    await place.dispose();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { backends: { type: 'string' }, jobs: { type: 'string' }, help: { type: 'boolean' } } });
  if (values.help) {
    process.stdout.write('usage: npm run bench:promises -- [--backends bare,sqlite,postgres] [--jobs 2000]\n');
    return;
  }
  const backends = (values.backends ?? 'bare,sqlite,postgres').split(',') as BackendName[];
  const unknown = backends.filter((b) => !measured.includes(b));
  if (unknown.length) throw new Error(`--backends: expected some of ${measured.join(', ')}, got ${unknown.join(', ')}`);
  const jobs = Number(values.jobs ?? 2000);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs: expected a positive integer, got ${values.jobs}`);
  for (const backend of backends) {
    const perJob = await measure(backend, jobs);
    process.stdout.write(`${backend.padEnd(10)} ${perJob.toFixed(2)} promises/job (${jobs} no-op jobs, concurrency ${concurrency})\n`);
  }
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    await runPendingCleanups();
    process.exit(1);
  },
);
