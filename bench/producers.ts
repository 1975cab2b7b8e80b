/**
 * The harness's producer side, one per backend run: bare BullMQ (a `Queue`), jobledger (through
 * its public API: `JobLedger.open`, `enqueueBulk`, `enqueue`) or pg-boss (`insert`, `send`). Bare
 * jobs carry the same BullMQ options jobledger's dispatcher gives its jobs (a `job_<ulid>` id,
 * attempts, backoff, removal of finished jobs), so that the difference measured is the ledger, not
 * different Redis work. The BullMQ two also get a separate monitoring Queue on their own connection,
 * to see when Redis is drained; pg-boss's queue is counted in its table.
 */
import { Queue, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import PgBoss from 'pg-boss';
import { monotonicFactory } from 'ulid';
import { JobLedger, loadConfig } from '../src/index.js';
import { benchNoopJob } from './bench-job.js';
import { measureLedgerSize, type LedgerSize } from './ledger-size.js';
import { pgbossOptions } from './pgboss-options.js';
import { benchJobName, benchQueue } from './protocol.js';
import { redisCpuSeconds } from './cpu-meters.js';
import type { RunPlace } from './services.js';

export interface QueueCounts {
  /** Waiting, active, delayed, prioritized or waiting for children: not finished. */
  unfinished: number;
  failed: number;
}

export interface BenchProducer {
  /** Enqueues `count` no-op jobs in calls of `chunk` jobs, each call awaited before the next. */
  addBulk(count: number, chunk: number): Promise<void>;
  /** Enqueues one no-op job; `t` (the enqueue call's wall-clock time) rides in its payload. */
  addOne(t?: number): Promise<void>;
  /** The queue's unfinished and failed jobs (Redis for BullMQ, pg-boss's job table for pg-boss). */
  queueCounts(): Promise<QueueCounts>;
  /**
   * Counting is a scan of a table (pg-boss): while the worker runs, the harness counts only every
   * few seconds, and polls for the end only once the worker has entered every job's handler.
   */
  costlyCounts?: true;
  /** Redis's own CPU so far, in seconds (INFO cpu on the monitoring connection); undefined without Redis. */
  redisCpuSeconds(): Promise<number | undefined>;
  /** jobledger only: completed jobs according to the ledger. */
  ledgerCompleted?(): Promise<number>;
  /** jobledger only: the ledger's size on disk. */
  ledgerSize?(): Promise<LedgerSize>;
  close(): Promise<void>;
}

const unfinishedStates = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

function monitor(
  redisUrl: string,
  prefix: string,
): { counts(): Promise<QueueCounts>; cpuSeconds(): Promise<number | undefined>; close(): Promise<void> } {
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(benchQueue, { connection, prefix });
  return {
    async counts() {
      const counts = await queue.getJobCounts(...unfinishedStates, 'failed');
      const unfinished = unfinishedStates.reduce((sum, state) => sum + (counts[state] ?? 0), 0);
      return { unfinished, failed: counts.failed ?? 0 };
    },
    cpuSeconds: () => redisCpuSeconds(connection),
    async close() {
      await queue.close();
      await connection.quit();
    },
  };
}

/** The same options `Dispatcher` (src/jobs/dispatcher.ts) gives a default no-op job. */
function bareJobOptions(jobId: string): JobsOptions {
  return {
    jobId,
    delay: 0,
    attempts: 3,
    backoff: { type: 'fixed', delay: 1000 },
    removeOnComplete: { age: 3600, count: 1000 },
    removeOnFail: { age: 24 * 3600, count: 5000 },
  };
}

export function bareProducer(redisUrl: string, place: RunPlace): BenchProducer {
  const nextUlid = monotonicFactory();
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const queue = new Queue(benchQueue, { connection, prefix: place.redisPrefix });
  const watch = monitor(redisUrl, place.redisPrefix);
  return {
    async addBulk(count, chunk) {
      for (let done = 0; done < count; done += chunk) {
        const size = Math.min(chunk, count - done);
        await queue.addBulk(Array.from({ length: size }, () => ({ name: benchJobName, data: {}, opts: bareJobOptions(`job_${nextUlid()}`) })));
      }
    },
    async addOne(t) {
      await queue.add(benchJobName, t === undefined ? {} : { t }, bareJobOptions(`job_${nextUlid()}`));
    },
    queueCounts: () => watch.counts(),
    redisCpuSeconds: () => watch.cpuSeconds(),
    async close() {
      await watch.close();
      await queue.close();
      await connection.quit();
    },
  };
}

export async function ledgerProducer(redisUrl: string, place: RunPlace): Promise<BenchProducer> {
  if (!place.databaseUrl) throw new Error('a ledger run needs a database');
  const config = loadConfig(
    {},
    { DATABASE_URL: place.databaseUrl, REDIS_URL: redisUrl, JOBLEDGER_REDIS_PREFIX: place.redisPrefix, LOG_LEVEL: 'silent' },
  );
  // The relay is off: every enqueue below hands its jobs over itself, and a job it could not hand
  // over is an error of the run (checked below), not something to be fixed up a second later.
  const jl = await JobLedger.open({ jobs: [benchNoopJob()], config, migrate: true, relay: false });
  const watch = monitor(redisUrl, place.redisPrefix);
  const expectHandedOver = (statuses: readonly string[]): void => {
    const stuck = statuses.filter((s) => s !== 'queued').length;
    if (stuck) throw new Error(`${stuck} enqueued job(s) were not handed to Redis (status ${statuses.find((s) => s !== 'queued')})`);
  };
  return {
    async addBulk(count, chunk) {
      for (let done = 0; done < count; done += chunk) {
        const size = Math.min(chunk, count - done);
        const jobs = await jl.enqueueBulk(Array.from({ length: size }, () => ({ name: benchJobName, payload: {} })));
        expectHandedOver(jobs.map((j) => j.status));
      }
    },
    async addOne(t) {
      const job = await jl.enqueue(benchJobName, t === undefined ? {} : { t });
      expectHandedOver([job.status]);
    },
    queueCounts: () => watch.counts(),
    redisCpuSeconds: () => watch.cpuSeconds(),
    ledgerCompleted: async () => (await jl.ledger.countJobsByStatus()).completed,
    ledgerSize: () => measureLedgerSize(jl, place.sqlitePath),
    async close() {
      await watch.close();
      await jl.close();
    },
  };
}

export async function pgbossProducer(place: RunPlace): Promise<BenchProducer> {
  if (!place.databaseUrl) throw new Error('a pg-boss run needs a database');
  const boss = new PgBoss(pgbossOptions(place.databaseUrl));
  boss.on('error', (error) => process.stderr.write(`pg-boss producer error: ${error.message}\n`));
  await boss.start();
  await boss.createQueue(benchQueue);
  const counter = new pg.Client({ connectionString: place.databaseUrl });
  await counter.connect();
  return {
    async addBulk(count, chunk) {
      for (let done = 0; done < count; done += chunk) {
        const size = Math.min(chunk, count - done);
        await boss.insert(Array.from({ length: size }, () => ({ name: benchQueue, data: {} })));
      }
    },
    async addOne(t) {
      const id = await boss.send(benchQueue, t === undefined ? {} : { t });
      if (id === null) throw new Error('pg-boss did not create the job');
    },
    async queueCounts() {
      const result = await counter.query<{ unfinished: string; failed: string }>(
        `SELECT count(*) FILTER (WHERE state < 'completed') AS unfinished, count(*) FILTER (WHERE state = 'failed') AS failed
           FROM pgboss.job WHERE name = $1`,
        [benchQueue],
      );
      const row = result.rows[0];
      return { unfinished: Number(row?.unfinished ?? 0), failed: Number(row?.failed ?? 0) };
    },
    // No index of pg-boss's covers active and finished jobs: a count scans the job table, about
    // 20-25 ms of PostgreSQL's time at 60,000 jobs, a third of it if polled every 50 ms.
    costlyCounts: true,
    redisCpuSeconds: () => Promise.resolve(undefined),
    async close() {
      await counter.end();
      await boss.stop({ graceful: false, wait: true });
    },
  };
}
