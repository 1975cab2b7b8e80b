/**
 * Many workers: the same number of no-op jobs run by 1, 2 and 4 jobledger worker processes on one
 * PostgreSQL ledger, each count on a fresh database and Redis prefix. For each count it reports
 * jobs/s (from the moment the workers start fetching a queue already holding every job, to the last
 * job completed in the ledger) and CPU per job: the worker processes' together (read from /proc),
 * PostgreSQL's and Redis's.
 *
 * On a 2-core host the workers, PostgreSQL and Redis share two cores, so more processes cannot run
 * more jobs per second: what the figures show there is the cost of coordination (more connections,
 * more lock contention on the ledger's rows, more BullMQ fetch round trips), not scaling. On a host
 * with more cores than processes, the same run shows how far throughput grows with workers.
 *
 *   npm run bench:workers -- [--jobs 20000] [--concurrency 50] [--processes 1,2,4] [--json]
 *
 * Redis and PostgreSQL as for `npm run bench`: REDIS_URL and BENCH_POSTGRES_URL, else local ports.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkerChild, killLiveChildren } from './child-handle.js';
import { localPostgresCpuSeconds } from './cpu-meters.js';
import { ledgerProducer } from './producers.js';
import { preparePlace, runPendingCleanups } from './services.js';

interface ScalingRun {
  processes: number;
  jobs: number;
  /** Workers start fetching → last job completed in the ledger. */
  seconds: number;
  jobsPerSecond: number;
  /** CPU per job in µs: the worker processes together, PostgreSQL's server processes, Redis. */
  cpuPerJobMicros: { workers: number; postgres: number | null; redis: number | null };
  /** Each worker process's share of the handled jobs. */
  handledPerProcess: number[];
}

const { values } = parseArgs({
  options: {
    jobs: { type: 'string' },
    concurrency: { type: 'string' },
    processes: { type: 'string' },
    json: { type: 'boolean' },
  },
});
const jobs = wholeNumber('--jobs', values.jobs, 20_000);
const concurrency = wholeNumber('--concurrency', values.concurrency, 50);
const processCounts = (values.processes ?? '1,2,4').split(',').map((n) => wholeNumber('--processes', n, 1));
const redisUrl = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
const postgresAdminUrl = process.env.BENCH_POSTGRES_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres';

function wholeNumber(flag: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const value = Number(raw.replace(/_/g, ''));
  if (!Number.isSafeInteger(value) || value < 1) {
    process.stderr.write(`bench:workers: ${flag}: expected a whole number >= 1, got ${JSON.stringify(raw)}\n`);
    process.exit(2);
  }
  return value;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
function processCpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ ticks
  } catch {
    return 0;
  }
}

async function runWith(processes: number): Promise<ScalingRun> {
  const place = await preparePlace('postgres', redisUrl, postgresAdminUrl);
  try {
    // The producer migrates the fresh ledger and puts every job in the queue before any worker starts.
    const producer = await ledgerProducer(redisUrl, place);
    try {
      await producer.addBulk(jobs, 1000);
      const children = await Promise.all(
        Array.from({ length: processes }, () =>
          WorkerChild.spawn({ mode: 'ledger', redisUrl, redisPrefix: place.redisPrefix, databaseUrl: place.databaseUrl!, concurrency }),
        ),
      );
      const cpuBefore = children.map((c) => processCpuSeconds(c.pid));
      const postgresBefore = localPostgresCpuSeconds();
      const redisBefore = await producer.redisCpuSeconds();
      const startedAt = Math.min(...(await Promise.all(children.map((c) => c.start()))));
      while ((await producer.ledgerCompleted!()) < jobs) await sleep(50);
      const seconds = (performance.timeOrigin + performance.now() - startedAt) / 1000;
      const workerCpu = children.reduce((sum, c, i) => sum + processCpuSeconds(c.pid) - cpuBefore[i]!, 0);
      const postgresAfter = localPostgresCpuSeconds();
      const redisAfter = await producer.redisCpuSeconds();
      const reports = await Promise.all(children.map((c) => c.stop()));
      const perJob = (cpuSeconds: number | undefined): number | null => (cpuSeconds === undefined ? null : Math.round((cpuSeconds * 1e6) / jobs));
      return {
        processes,
        jobs,
        seconds: Math.round(seconds * 1000) / 1000,
        jobsPerSecond: Math.round(jobs / seconds),
        cpuPerJobMicros: {
          workers: perJob(workerCpu)!,
          postgres: perJob(postgresBefore === undefined || postgresAfter === undefined ? undefined : postgresAfter - postgresBefore),
          redis: perJob(redisBefore === undefined || redisAfter === undefined ? undefined : redisAfter - redisBefore),
        },
        handledPerProcess: reports.map((r) => r.handled),
      };
    } finally {
      await producer.close();
    }
  } finally {
    await place.dispose();
  }
}

async function main(): Promise<void> {
  const runs: ScalingRun[] = [];
  for (const processes of processCounts) {
    const run = await runWith(processes);
    runs.push(run);
    if (!values.json) {
      const cpu = run.cpuPerJobMicros;
      process.stdout.write(
        `${processes} worker process(es): ${run.jobsPerSecond} jobs/s (${run.jobs} jobs in ${run.seconds} s); CPU per job: workers ${cpu.workers} µs, ` +
          `PostgreSQL ${cpu.postgres ?? '?'} µs, Redis ${cpu.redis ?? '?'} µs; jobs per process ${run.handledPerProcess.join('/')}\n`,
      );
    }
  }
  const report = {
    bench: 'workers-scaling',
    backend: 'postgres',
    jobs,
    concurrencyPerProcess: concurrency,
    cores: (await import('node:os')).availableParallelism(),
    note: 'workers, PostgreSQL and Redis share this host: with fewer cores than processes the figures show the cost of coordination, not scaling',
    runs,
  };
  process.stdout.write(values.json ? `${JSON.stringify(report)}\n` : `${report.note}\n`);
}

const stop = (): void => {
  killLiveChildren();
  void runPendingCleanups().finally(() => process.exit(130));
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
main().catch(async (error: unknown) => {
  killLiveChildren();
  await runPendingCleanups();
  process.stderr.write(`bench:workers failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
