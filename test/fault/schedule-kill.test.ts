/**
 * Recurring jobs under worker crashes: two `jobledger worker` processes fire an every-second
 * schedule from their configuration module while one of them is SIGKILLed, again and again, and
 * restarted: every second of the window gets its job, exactly one. And a worker killed at the fault
 * point between claiming a tick and enqueueing its job: the tick's job is enqueued by another worker
 * once the dead run is declared abandoned (scaled down here to 1.5 s).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { JobLedger } from '../../src/jobledger.js';
import { loadConfig } from '../../src/config.js';
import { listMaintenanceRuns } from '../../src/store/maintenance/maintenance-runs.js';
import { backends, freshDatabaseUrl } from '../support/backends.js';
import { startChildWorker } from '../support/child-worker.js';
import { scheduleJobKey } from '../../src/workers/maintenance/schedule-tasks.js';
import { scriptedJob } from '../support/fixtures/scripted-job.js';
import { cliEnv, configModuleDirectory, distIndexUrl, jobledgerBin, runCli } from '../support/cli-run.js';
import { openTestJobLedger, waitFor } from '../support/harness.js';

const second = 1000;

/** A configuration module with an every-second schedule of a no-op job type. */
const everySecondModule = (): string => `import { defineJob, defineSchedule } from ${JSON.stringify(distIndexUrl)};
import { z } from 'zod';
const tick = defineJob({ name: 'app.tick', schema: z.object({ at: z.string() }), handler: () => null });
export const jobs = [tick];
export const schedules = [defineSchedule({ name: 'every-second', cron: '* * * * * *', job: tick, payload: (t) => ({ at: t.toISOString() }) })];
`;

interface Worker {
  child: ChildProcess;
  /** Resolves once its maintenance scheduler runs (it logs so at info). */
  firing: Promise<void>;
}

function startWorker(env: Record<string, string>, cwd: string): Worker {
  const child = spawn(process.execPath, [jobledgerBin, 'worker', '--concurrency', '5'], { env: { ...env, LOG_LEVEL: 'info' }, cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  const firing = new Promise<void>((resolve, reject) => {
    let seen = '';
    child.stderr.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes('maintenance scheduler started')) resolve();
    });
    child.once('exit', () => reject(new Error(`worker exited before its scheduler started: ${seen.slice(-2000)}`)));
  });
  firing.catch(() => undefined);
  return { child, firing };
}

const exited = ({ child }: Worker): Promise<void> => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));

describe.each(backends)('recurring jobs while workers are SIGKILLed (%s)', (dialect) => {
  it('every second of the window gets exactly one job', { timeout: 120_000 }, async () => {
    const { dir } = configModuleDirectory(everySecondModule);
    const env = await cliEnv('schedkill', { DATABASE_URL: await freshDatabaseUrl(dialect), JOBLEDGER_MAINTENANCE_STALE_AFTER_MS: '1500' });
    expect((await runCli(['migrate'], env, dir)).code).toBe(0);
    const jl = await JobLedger.open({ jobs: [], relay: false, config: loadConfig({}, env) });
    const workers = [startWorker(env, dir), startWorker(env, dir)];
    await Promise.all(workers.map((w) => w.firing));
    const jobsByTick = async (): Promise<Map<number, number>> => {
      const byTick = new Map<number, number>();
      for (const job of await jl.ledger.listJobs({ name: 'app.tick', limit: 10_000 })) {
        const tick = Date.parse(job.idempotencyKey!.slice('schedule:every-second:'.length));
        byTick.set(tick, (byTick.get(tick) ?? 0) + 1);
      }
      return byTick;
    };
    try {
      // Both workers fire ticks; then the window opens.
      await waitFor(async () => ((await jobsByTick()).size >= 2 ? true : undefined), 'the first scheduled jobs', 60_000);
      await sleep(1500);
      const from = Math.ceil(Date.now() / second) * second;
      // One worker is always up: the other is killed only once its replacement fires ticks.
      for (let round = 0; round < 4; round++) {
        const slot = round % 2;
        await sleep(200 + Math.floor(Math.random() * 800));
        workers[slot]!.child.kill('SIGKILL');
        await exited(workers[slot]!);
        workers[slot] = startWorker(env, dir);
        await workers[slot].firing;
      }
      const until = Math.floor(Date.now() / second) * second;

      const wanted = (until - from) / second + 1;
      const byTick = await waitFor(
        async () => {
          const found = await jobsByTick();
          let inWindow = 0;
          for (let tick = from; tick <= until; tick += second) if (found.has(tick)) inWindow++;
          return inWindow === wanted ? found : undefined;
        },
        `a job for each of the ${wanted} seconds of the window`,
        60_000,
      );
      for (let tick = from; tick <= until; tick += second) expect(byTick.get(tick), new Date(tick).toISOString()).toBe(1);
      // One claim per tick: no tick was run twice.
      const runs = (await listMaintenanceRuns(jl.ledger, { task: 'schedule-every-second', limit: 10_000 })).filter((r) => r.tick >= from && r.tick <= until);
      expect(new Set(runs.map((r) => r.tick)).size).toBe(runs.length);
    } finally {
      for (const worker of workers) worker.child.kill('SIGKILL');
      await Promise.all(workers.map(exited));
      await jl.close();
    }
  });

  it('a worker killed between claiming a tick and enqueueing its job: another enqueues it once the run is abandoned', { timeout: 120_000 }, async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    const env = { TEST_SCHEDULE_CRON: '* * * * * *', JOBLEDGER_MAINTENANCE_STALE_AFTER_MS: '1500' };
    const doomed = await startChildWorker(jl.config, { ...env, TEST_FAULT_INJECT: 'schedule.after_claim' });
    try {
      expect(await doomed.exited).toEqual({ code: null, signal: 'SIGKILL' });
      const [claimed] = await listMaintenanceRuns(jl.ledger, { task: 'schedule-fault-tick', limit: 10 });
      expect(claimed).toMatchObject({ status: 'running' });
      expect(await jl.ledger.listJobs({ limit: 10 })).toEqual([]);

      const survivor = await startChildWorker(jl.config, env);
      try {
        const job = await waitFor(
          async () => (await jl.ledger.listJobs({ limit: 1000 })).find((j) => j.idempotencyKey === scheduleJobKey('fault-tick', claimed!.tick)),
          'the dead tick\'s job',
          60_000,
        );
        expect(job.payload).toEqual({ action: 'succeed' });
        const runs = await listMaintenanceRuns(jl.ledger, { task: 'schedule-fault-tick', limit: 1000 });
        expect(runs.find((r) => r.tick === claimed!.tick)).toMatchObject({ status: 'failed', error: { code: 'abandoned' } });
        // The run that made it good says so once it has finished (its counts are written then).
        await waitFor(
          async () => ((await listMaintenanceRuns(jl.ledger, { task: 'schedule-fault-tick', limit: 1000 })).some((r) => (r.counts as { recoveredAbandoned?: number } | null)?.recoveredAbandoned === 1) ? true : undefined),
          'the run that enqueued it to finish',
        );
      } finally {
        await survivor.close();
      }
    } finally {
      await doomed.close();
      await jl.close();
    }
  });
});
