/**
 * Commands that change things: migrate, worker, enqueue, retry, cancel. What an action needs beyond
 * commander is imported inside it (cli/context.ts says why).
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import { builtInJobTypes } from '../config-module.js';
import { cliConfig, openingDatabase, openJobLedger, withJobLedger, type GlobalOptions } from '../context.js';
import { printJson, printTable } from '../output.js';
import { parseInteger, parseJsonObject } from '../parse.js';
import { maxConcurrency } from '../../workers/worker-options.js';

export function registerOperateCommands(program: Command, global: () => GlobalOptions): void {
  program
    .command('migrate')
    .description('apply pending migrations to DATABASE_URL')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const [config, { describeDatabase }, { Ledger }] = await Promise.all([cliConfig(), import('../../config.js'), import('../../store/index.js')]);
      const ledger = await openingDatabase(config, () => Ledger.open(config.database, { skipSchemaCheck: true }));
      try {
        const applied = await ledger.migrate();
        if (opts.json) printJson({ database: describeDatabase(config.database), applied });
        else process.stdout.write(applied.length ? `applied ${applied.join(', ')}\n` : `schema is current (${describeDatabase(config.database)})\n`);
      } finally {
        await ledger.close();
      }
    });

  program
    .command('worker')
    .description('run a long-lived worker for the job types of the configuration module (SIGTERM/SIGINT: graceful; twice: forced)')
    .option('-c, --concurrency <n>', 'jobs at once per queue', parseInteger('--concurrency', 1, maxConcurrency), 10)
    .option('--demo', 'serve the built-in demo job types instead of a configuration module\'s')
    .option('--migrate', 'apply pending migrations first')
    .option('--no-maintenance', 'do not run the scheduled maintenance in this process')
    .option('--allow-evicting-redis', 'start even if Redis may evict queued jobs (maxmemory-policy not noeviction); development only')
    .action(async (opts: { concurrency: number; demo?: boolean; migrate?: boolean; maintenance: boolean; allowEvictingRedis?: boolean }) => {
      const jl = await openJobLedger(global(), {
        jobTypes: true,
        configRequiredBy: 'jobledger worker',
        ...(opts.demo ? { fixedJobTypes: await builtInJobTypes() } : {}),
        migrate: opts.migrate ?? false,
        needsRedis: true,
        relay: true,
        // A worker's log is its output.
        envDefaults: { LOG_LEVEL: 'info' },
      });
      const worker = jl.createWorker({
        concurrency: opts.concurrency,
        ...(opts.allowEvictingRedis ? { allowEvictingRedis: true } : {}),
      });
      try {
        await worker.start();
        if (jl.config.metricsPort !== null) await jl.serveMetrics(); // JOBLEDGER_METRICS_PORT
      } catch (error) {
        await jl.close(); // an unsafe Redis or a taken port: nothing to drain
        throw error;
      }
      // Per process, not per worker; each tick still runs once across all processes. jl.close() stops it.
      if (opts.maintenance) jl.maintenance.start();
      const { installShutdownHandlers } = await import('../../workers/shutdown.js');
      installShutdownHandlers(worker, jl.logger, () => jl.close());
    });

  program
    .command('enqueue <name>')
    .description('enqueue one job; prints its id (with Redis down it is committed as pending, and a worker\'s relay hands it over later)')
    .requiredOption('--data <json>', 'the payload, as JSON (required)')
    .option('--idempotency-key <key>', 'return the existing job if this key was used before')
    .option('--priority <p>', '0 (none) or 1 (highest) to 2097152', parseInteger('--priority', 0, 2_097_152))
    .option('--delay-ms <ms>', 'run no earlier than this from now', parseInteger('--delay-ms', 0))
    .option('--run <run-id>', 'the run the job belongs to')
    .option('--json', 'print JSON')
    .action(async (name: string, opts: { data: string; idempotencyKey?: string; priority?: number; delayMs?: number; run?: string; json?: boolean }) => {
      const payload = parseJsonObject('--data', opts.data);
      const { defaultActor } = await import('../../jobs/operator.js');
      // Like the library's enqueue: the ledger commit is what counts, and a Redis that does not answer
      // leaves the job pending in the outbox (the dispatcher fails fast). Refused credentials are a
      // mistake to fix, not an outage: they still stop it.
      await withJobLedger(global(), { jobTypes: true, needsRedis: 'credentials' }, async (jl) => {
        const job = await jl.enqueue(name, payload, {
          ...(opts.idempotencyKey !== undefined ? { idempotencyKey: opts.idempotencyKey } : {}),
          ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
          ...(opts.delayMs !== undefined ? { delayMs: opts.delayMs } : {}),
          ...(opts.run !== undefined ? { runId: opts.run } : {}),
          actor: defaultActor(),
        });
        if (opts.json) printJson(job);
        else process.stdout.write(`${job.id}\n`);
        if (job.created && job.status === 'pending') {
          process.stderr.write(`warning: ${job.id} is committed but Redis did not take it (is REDIS_URL reachable?); it stays pending until a running worker's relay hands it over\n`);
        }
        if (!job.payloadMatched) {
          process.stderr.write(`note: the idempotency key is held by ${job.id}, enqueued with another payload; that job is returned and --data was not used\n`);
        }
      });
    });

  for (const action of ['retry', 'cancel'] as const) {
    program
      .command(`${action} <job-id>`)
      .description(action === 'retry' ? 'give a failed or cancelled job a new attempt' : 'cancel a job that has not finished')
      .option('--reason <text>', 'why, recorded in the event (required)')
      .option('--actor <name>', 'who (recorded in the event; default: the OS user)')
      .option('--json', 'print JSON')
      .action(async (jobId: string, opts: { reason?: string; actor?: string; json?: boolean }) => {
        // Checked here rather than by commander, which would print the whole usage after it.
        const reason = opts.reason;
        if (reason === undefined) throw new InvalidOptionError('--reason', `the reason for the ${action} (required; recorded in the job's event)`, undefined);
        await withJobLedger(global(), { needsRedis: true }, async (jl) => {
          const input = { jobId, reason, source: 'cli' as const, ...(opts.actor ? { actor: opts.actor } : {}) };
          const result = action === 'retry' ? await jl.retry(input) : await jl.cancel(input);
          if (opts.json) printJson({ id: result.job.id, previousStatus: result.previousStatus, status: result.job.status });
          else printTable([{ job: result.job.id, from: result.previousStatus, to: result.job.status }], { keep: ['job'] });
        });
      });
  }
}
