/**
 * `jobledger demo`: the main job. On the embedded SQLite default it migrates, enqueues a mix of
 * demo jobs as one run (some succeed, some fail once and succeed on retry, a few always fail, some
 * report progress), runs an in-process worker until every job is final, and prints a summary.
 */
import type { Command } from 'commander';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisPrefixTakenError } from '../errors.js';
import type { EnqueueRequest } from '../jobs/validate-enqueue.js';
import type { JobLedger } from '../jobledger.js';
import { builtInJobTypes } from './config-module.js';
import { cliConfig, openJobLedger, type GlobalOptions } from './context.js';
import { printJson, printTable } from './output.js';
import { parseInteger } from './parse.js';
import { ProgressBar } from './progress-bar.js';
import type { PipelineDemoSummary } from '../demo/demo-pipelines.js';

export interface DemoSummary {
  run: string;
  database: string;
  jobs: Record<string, number> & { total: number };
  attempts: number;
  attemptsByStatus: Record<string, number>;
  retries: number;
  events: number;
  durations: { p50Ms: number; p95Ms: number };
  elapsedMs: number;
  throughputJobsPerS: number;
  /** The ticket pipelines run after the jobs (demo-pipelines.ts); null with `--pipelines 0`. */
  pipelines?: PipelineDemoSummary | null;
}

/** Where the demo keeps its ledger unless `--database` says otherwise. */
export const demoDatabaseUrl = 'sqlite:./data/jobledger-demo.sqlite';
/** The demo's Redis key prefix unless `--redis-prefix` says otherwise. */
export const demoRedisPrefix = 'jobledger-demo';

export function registerDemoCommand(program: Command, global: () => GlobalOptions): void {
  program
    .command('demo')
    .description('migrate, run a batch of demo jobs through a worker, and print a summary')
    .option('--jobs <n>', 'how many jobs', parseInteger('--jobs', 1, 1_000_000), 500)
    .option('--pipelines <n>', 'how many ticket pipelines to run after the jobs', parseInteger('--pipelines', 0, 100_000), 20)
    .option('-c, --concurrency <n>', 'worker concurrency', parseInteger('--concurrency', 1, 10_000), 20)
    .option('--database <url>', 'the demo\'s ledger (never DATABASE_URL\'s, so that demo jobs stay out of an application\'s ledger)', demoDatabaseUrl)
    .option('--redis-prefix <prefix>', 'the demo\'s Redis key prefix (never JOBLEDGER_REDIS_PREFIX\'s)', demoRedisPrefix)
    .option('--json', 'print the summary as one JSON object (last line of stdout)')
    .action(async (opts: { jobs: number; pipelines: number; concurrency: number; database: string; redisPrefix: string; json?: boolean }) => {
      // The demo's own job types in its own ledger and Redis prefix, whatever configuration module
      // the directory has and whatever DATABASE_URL says: its demo.* jobs never reach an
      // application's ledger or workers. Logs stay at `warn` unless LOG_LEVEL says otherwise.
      const open = async () =>
        openJobLedger(global(), {
          migrate: true,
          needsRedis: true,
          relay: true,
          envOverrides: { DATABASE_URL: opts.database, JOBLEDGER_REDIS_PREFIX: opts.redisPrefix },
          fixedJobTypes: await builtInJobTypes(),
        });
      const jl = await open().catch(async (error: unknown) => {
        // The demo's ledger was deleted and made again at the same place: its prefix is the demo's still.
        if (!(error instanceof RedisPrefixTakenError) || error.holder.database !== error.ours.database) throw error;
        await releasePrefix(error);
        return open();
      });
      try {
        const { printPipelineDemoSummary, runPipelineDemo } = await import('../demo/demo-pipelines.js');
        const summary = await runDemo(jl, opts);
        summary.pipelines = await runPipelineDemo(jl, opts);
        if (opts.json) printJson(summary);
        else printSummary(summary, printPipelineDemoSummary);
      } finally {
        await jl.close();
      }
    });
}

/** Frees the demo's prefix from the demo ledger that used to live at the same place. */
async function releasePrefix(taken: RedisPrefixTakenError): Promise<void> {
  const { checkRedis } = await import('../transport/redis-connection.js');
  const redis = await checkRedis(await cliConfig());
  try {
    await redis.del(taken.key);
  } finally {
    redis.disconnect();
  }
}

export async function runDemo(jl: JobLedger, opts: { jobs: number; concurrency: number }): Promise<DemoSummary> {
  const run = await jl.ledger.createRun({ name: 'demo', metadata: { jobs: opts.jobs, concurrency: opts.concurrency }, actor: 'demo' });
  const { failRunOnError } = await import('../demo/demo-pipelines.js');
  return failRunOnError(jl, run.id, () => jobsDemo(jl, run.id, opts));
}

async function jobsDemo(jl: JobLedger, runId: string, opts: { jobs: number; concurrency: number }): Promise<DemoSummary> {
  const run = { id: runId };
  const worker = jl.createWorker({ concurrency: opts.concurrency });
  const started = Date.now();
  let counts;
  try {
    await worker.start();
    for (let offset = 0; offset < opts.jobs; offset += 500) {
      const batch = Array.from({ length: Math.min(500, opts.jobs - offset) }, (_, i) => demoRequest(offset + i, run.id));
      await jl.enqueueBulk(batch);
    }
    const bar = new ProgressBar(opts.jobs);
    counts = await jl.ledger.countJobsByStatus({ runId: run.id });
    for (;;) {
      const final = counts.completed + counts.failed + counts.cancelled;
      bar.update(final, `completed ${counts.completed} failed ${counts.failed} running ${counts.running}`);
      if (final >= opts.jobs) break;
      await sleep(100);
      counts = await jl.ledger.countJobsByStatus({ runId: run.id });
    }
    bar.finish();
  } finally {
    await worker.close();
  }

  const figures = await jl.ledger.runFigures(run.id);
  const { describeDatabase } = await import('../config.js');
  const attempts = Object.values(figures.attemptsByStatus).reduce((a, b) => a + (b ?? 0), 0);
  const elapsedMs = Math.max(1, (figures.lastFinishedAt ?? Date.now()) - started);
  await jl.ledger.setRunStatus({
    runId: run.id,
    status: counts.failed ? 'failed' : 'completed',
    reason: `${counts.completed} completed, ${counts.failed} failed`,
    actor: 'demo',
  });
  return {
    run: run.id,
    database: describeDatabase(jl.config.database),
    jobs: { ...counts, total: opts.jobs },
    attempts,
    attemptsByStatus: figures.attemptsByStatus,
    retries: attempts - opts.jobs,
    events: figures.events,
    durations: { p50Ms: percentile(figures.succeededDurationsMs, 0.5), p95Ms: percentile(figures.succeededDurationsMs, 0.95) },
    elapsedMs,
    throughputJobsPerS: Math.round((opts.jobs / elapsedMs) * 1000 * 10) / 10,
  };
}

/** The demo's mix: resize images (progress), send emails (1 in 3 fails once), charge cards (1 in 10 declined), no-ops. */
function demoRequest(i: number, runId: string): EnqueueRequest {
  const options = { runId, actor: 'demo' };
  switch (i % 10) {
    case 0:
    case 1:
    case 2:
    case 3:
      return { name: 'demo.resize-image', payload: { imageId: `img-${i}`, steps: 3, stepMs: 2 }, options };
    case 4:
    case 5:
    case 6:
      return { name: 'demo.send-email', payload: { to: `user${i}@example.com`, failTimes: i % 30 < 10 ? 1 : 0 }, options };
    case 7:
    case 8:
      return { name: 'demo.charge-card', payload: { cardId: `card-${i}`, amountCents: 100 + i, declined: i % 50 === 7 }, options };
    default:
      return { name: 'demo.noop', payload: {}, options };
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

function printSummary(s: DemoSummary, printPipelineDemoSummary: (summary: PipelineDemoSummary | null | undefined, database: string) => void): void {
  const out = process.stdout;
  out.write(`\njobledger demo: run ${s.run} on ${s.database}\n\n`);
  printTable(
    Object.entries(s.jobs)
      .filter(([status, n]) => status !== 'total' && n > 0)
      .map(([status, n]) => ({ status, jobs: n })),
  );
  out.write('\n');
  printTable([
    { figure: 'jobs', value: s.jobs.total },
    { figure: 'attempts', value: `${s.attempts} (${Object.entries(s.attemptsByStatus).map(([k, v]) => `${v} ${k}`).join(', ')})` },
    { figure: 'retries', value: s.retries },
    { figure: 'events', value: s.events },
    { figure: 'attempt duration p50 / p95', value: `${s.durations.p50Ms} ms / ${s.durations.p95Ms} ms` },
    { figure: 'elapsed', value: `${s.elapsedMs} ms` },
    { figure: 'throughput', value: `${s.throughputJobsPerS} jobs/s` },
  ]);
  // The demo's ledger is not DATABASE_URL's: the commands to look at it name it.
  out.write(`\nInspect it: DATABASE_URL=${s.database} jobledger jobs --run ${s.run} --status failed, then show <job-id> the same way\n`);
  printPipelineDemoSummary(s.pipelines, s.database);
}
