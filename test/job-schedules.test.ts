/**
 * Recurring jobs (defineSchedule): one job per tick across every process, the tick's own payload,
 * missed ticks, time zones, bad definitions refused before anything opens, and the CLI. Time is
 * faked by calling the runner with ticks in the past and backdating rows, except one test that lets
 * node-cron fire an every-second schedule to show the wiring.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../src/jobs/define-job.js';
import { defineSchedule, type JobSchedule } from '../src/jobs/define-schedule.js';
import { InvalidOptionError, InvalidPayloadError, UnknownJobError } from '../src/errors.js';
import { JobLedger } from '../src/jobledger.js';
import type { JobRow } from '../src/store/index.js';
import { claimTick, finishRun, listMaintenanceRuns } from '../src/store/maintenance/maintenance-runs.js';
import { scheduleJobKey } from '../src/workers/maintenance/schedule-tasks.js';
import { backends, testConfig } from './support/backends.js';
import { cliEnv, configModuleDirectory, distIndexUrl, runCli } from './support/cli-run.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';

const minute = 60_000;

/** Every minute, each job tagged with its tick. */
const everyMinute = defineSchedule({
  name: 'every-minute',
  cron: '* * * * *',
  job: scriptedJob,
  payload: (tick) => ({ action: 'succeed' as const, tag: tick.toISOString() }),
});

const scheduledJobs = async (jl: JobLedger): Promise<JobRow[]> => (await jl.ledger.listJobs({ name: 'test.scripted', limit: 1000 })).filter((j) => j.idempotencyKey?.startsWith('schedule:'));

describe('defineSchedule', () => {
  it('refuses a bad definition with a typed error naming the option', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'Nightly', cron: '0 3 * * *', job: 'x' }, 'schedule name'],
      [{ name: 'nightly', cron: 'every night', job: 'x' }, 'nightly.cron'],
      [{ name: 'nightly', cron: '0 3 1 * 1', job: 'x' }, 'nightly.cron'],
      [{ name: 'nightly', cron: '0 3 * * *', timezone: 'Mars/Olympus', job: 'x' }, 'nightly.timezone'],
      [{ name: 'nightly', cron: '0 3 * * *' }, 'nightly.job'],
      [{ name: 'nightly', cron: '0 3 * * *', job: 'x', onMissed: 'run-all' }, 'nightly.onMissed'],
      [{ name: 'nightly', cron: '0 3 * * *', job: 'x', every: 'day' }, 'every'],
    ];
    for (const [options, option] of cases) {
      let thrown: unknown;
      try {
        defineSchedule(options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(InvalidOptionError);
      expect((thrown as InvalidOptionError).option, JSON.stringify(options)).toBe(option);
    }
  });

  it('refuses, at open, an unknown job type, a fixed payload its schema rejects and a name used twice, and opens nothing', async () => {
    const orderJob = defineJob({ name: 'test.order', schema: z.object({ amount: z.number().int().positive() }), handler: () => null });
    const cases: [JobSchedule[], new (...args: never[]) => Error][] = [
      [[defineSchedule({ name: 'a', cron: '* * * * *', job: 'test.nothing' })], UnknownJobError],
      [[defineSchedule({ name: 'a', cron: '* * * * *', job: orderJob, payload: { amount: -5 } })], InvalidPayloadError],
      [[everyMinute, everyMinute], InvalidOptionError],
    ];
    for (const [schedules, error] of cases) {
      const config = await testConfig('sqlite');
      await expect(JobLedger.open({ jobs: [scriptedJob, orderJob], schedules, config, migrate: true })).rejects.toBeInstanceOf(error);
      expect(existsSync(config.database.url.replace(/^sqlite:/, '')), 'the database was created').toBe(false);
    }
  });
});

describe.each(backends)('recurring jobs (%s)', (dialect) => {
  it('enqueues one job per tick however many processes fire it, with the tick in its payload, and a worker runs it', async () => {
    const config = await testConfig(dialect);
    const a = await openTestJobLedger(dialect, { jobs: [scriptedJob], schedules: [everyMinute], relay: false, env: { DATABASE_URL: config.database.url, JOBLEDGER_REDIS_PREFIX: config.redisPrefix } });
    const b = await JobLedger.open({ jobs: [scriptedJob], schedules: [everyMinute], relay: false, config: a.config });
    try {
      const tick = Math.floor(Date.now() / minute) * minute;
      const signal = new AbortController().signal;
      const results = await Promise.all([a, b, a, b].map((jl) => jl.maintenance.runner.runScheduledTick('schedule-every-minute', tick, signal)));
      expect(results.map((r) => r.outcome).sort()).toEqual(['succeeded', 'taken', 'taken', 'taken']);
      expect(results.find((r) => r.outcome === 'succeeded')!.counts).toEqual({ enqueued: 1, alreadyEnqueued: 0, recoveredAbandoned: 0 });

      const [job, ...more] = await scheduledJobs(a);
      expect(more).toEqual([]);
      expect(job).toMatchObject({ idempotencyKey: scheduleJobKey('every-minute', tick), payload: { action: 'succeed', tag: new Date(tick).toISOString() } });
      const [enqueued] = await a.ledger.listEvents({ subjectId: job!.id, type: 'job.enqueued', limit: 1 });
      expect(enqueued!.actor).toBe('schedule:every-minute');

      // The same tick run again (a claim taken over after a crash) finds its job: no second one.
      const again = await a.maintenance.runner.task('schedule-every-minute').run({ now: Date.now(), tick, dryRun: false, signal, logger: a.logger });
      expect(again).toEqual({ enqueued: 0, alreadyEnqueued: 1, recoveredAbandoned: 0 });
      expect(await scheduledJobs(a)).toHaveLength(1);

      const worker = a.createWorker({ concurrency: 2 });
      await worker.start();
      await waitForStatus(a, job!.id, 'completed');
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('a run by hand enqueues a job now, and a payload that fails its schema fails the run, recorded, with nothing enqueued', async () => {
    const broken = defineSchedule({ name: 'broken', cron: '0 3 * * *', job: scriptedJob, payload: () => ({ action: 'dance' }) as never });
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], schedules: [everyMinute, broken], relay: false });
    try {
      const byHand = await jl.maintenance.run('schedule-every-minute', { actor: 'alice' });
      expect(byHand).toMatchObject({ outcome: 'succeeded', counts: { enqueued: 1 } });
      const [job] = await scheduledJobs(jl);
      expect(job!.idempotencyKey).toBe(scheduleJobKey('every-minute', byHand.tick));

      const failed = await jl.maintenance.run('schedule-broken');
      expect(failed.outcome).toBe('failed');
      expect(failed.error!.message).toContain('JOBLEDGER_INVALID_PAYLOAD');
      expect(await scheduledJobs(jl)).toHaveLength(1);
      const [row] = await listMaintenanceRuns(jl.ledger, { task: 'schedule-broken', limit: 1 });
      expect(row!.status).toBe('failed');
    } finally {
      await jl.close();
    }
  });

  it('after every worker was down: records the missed ticks, and with run-once enqueues one job, for the newest of them', async () => {
    const runOnce = defineSchedule({ name: 'catch-up', cron: '* * * * *', job: scriptedJob, payload: { action: 'succeed' }, onMissed: 'run-once' });
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], schedules: [everyMinute, runOnce], relay: false });
    try {
      const now = Math.floor(Date.now() / minute) * minute + 30_000;
      const last = now - 30_000 - 10 * minute;
      for (const task of ['schedule-every-minute', 'schedule-catch-up']) {
        const claim = await claimTick(jl.ledger, { task, tick: last, triggeredBy: 'schedule', claimedBy: 'earlier', now: last, staleAfterMs: 5 * minute });
        if (claim.kind !== 'claimed') throw new Error('could not backdate a run');
        await finishRun(jl.ledger, { id: claim.run.id, status: 'succeeded', counts: {}, now: last + 10 });
      }

      const recorded = await jl.maintenance.runner.catchUp('schedule-every-minute', { now });
      expect(recorded.ran).toBeNull();
      expect(recorded.recorded).toBeGreaterThanOrEqual(8);
      expect(await scheduledJobs(jl)).toEqual([]);

      const caughtUp = await jl.maintenance.runner.catchUp('schedule-catch-up', { now });
      expect(caughtUp.ran).toMatchObject({ outcome: 'succeeded', counts: { enqueued: 1 } });
      const jobs = await scheduledJobs(jl);
      expect(jobs.map((j) => j.idempotencyKey)).toEqual([scheduleJobKey('catch-up', caughtUp.ran!.tick)]);
      expect(caughtUp.ran!.tick).toBeGreaterThan(now - 2 * minute);
    } finally {
      await jl.close();
    }
  });

  it('a run whose process died holds up no later tick, and a later run enqueues the job it never did', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], schedules: [everyMinute], relay: false });
    try {
      const now = Math.floor(Date.now() / minute) * minute;
      const signal = new AbortController().signal;
      // A process claimed the tick 30 minutes ago and died before it enqueued anything; another
      // claimed the tick a minute ago and is still heartbeating (or hung).
      const dead = now - 30 * minute;
      const hung = now - minute;
      for (const [tick, heartbeat] of [[dead, dead], [hung, Date.now()]] as const) {
        const claim = await claimTick(jl.ledger, { task: 'schedule-every-minute', tick, triggeredBy: 'schedule', claimedBy: 'gone', now: heartbeat, staleAfterMs: 10 * minute });
        expect(claim.kind).toBe('claimed');
      }

      const result = await jl.maintenance.runner.runScheduledTick('schedule-every-minute', now, signal);
      expect(result).toMatchObject({ outcome: 'succeeded', counts: { enqueued: 1, recoveredAbandoned: 1 } });
      const keys = (await scheduledJobs(jl)).map((j) => j.idempotencyKey).sort();
      expect(keys).toEqual([scheduleJobKey('every-minute', dead), scheduleJobKey('every-minute', now)]);
      const [abandoned] = await listMaintenanceRuns(jl.ledger, { task: 'schedule-every-minute', status: 'failed', limit: 1 });
      expect(abandoned).toMatchObject({ tick: dead, error: { code: 'abandoned' } });

      // Made good once: the next tick's run finds that job.
      const next = await jl.maintenance.runner.runScheduledTick('schedule-every-minute', now + minute, signal);
      expect(next.counts).toEqual({ enqueued: 1, alreadyEnqueued: 0, recoveredAbandoned: 0 });
      expect(await scheduledJobs(jl)).toHaveLength(3);
    } finally {
      await jl.close();
    }
  });

  it('reads its expression in its own time zone, and lists it among the maintenance tasks; a process without it lists its runs', async () => {
    const newYork = defineSchedule({ name: 'new-york-morning', cron: '0 3 * * *', timezone: 'America/New_York', job: scriptedJob, payload: { action: 'succeed' } });
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], schedules: [newYork], relay: false });
    const other = await JobLedger.open({ jobs: [scriptedJob], relay: false, config: jl.config });
    try {
      const status = (await jl.maintenance.status()).find((s) => s.task === 'schedule-new-york-morning')!;
      expect(status).toMatchObject({ schedule: '0 3 * * *', timezone: 'America/New_York', known: true, description: 'enqueues test.scripted (schedule new-york-morning)' });
      const hourThere = new Intl.DateTimeFormat('en-US', { timeZone: 'America/New_York', hour: 'numeric', minute: 'numeric', hourCycle: 'h23' }).format(new Date(status.nextRunAt!));
      expect(hourThere).toBe('03:00');

      await jl.maintenance.run('schedule-new-york-morning');
      const elsewhere = (await other.maintenance.status()).find((s) => s.task === 'schedule-new-york-morning')!;
      expect(elsewhere).toMatchObject({ known: false, schedule: null, nextRunAt: null, lastRun: { status: 'succeeded', counts: { enqueued: 1 } } });
      expect((await other.maintenance.status()).filter((s) => !s.known)).toHaveLength(1);
    } finally {
      await other.close();
      await jl.close();
    }
  });

  it('is fired by the maintenance scheduler once started', async () => {
    const everySecond = defineSchedule({ name: 'every-second', cron: '* * * * * *', job: scriptedJob, payload: (tick) => ({ action: 'succeed' as const, tag: tick.toISOString() }) });
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], schedules: [everySecond], relay: false });
    try {
      jl.maintenance.start();
      const [job] = await waitFor(async () => ((await scheduledJobs(jl)).length > 0 ? scheduledJobs(jl) : undefined), 'a job from the every-second schedule');
      expect(job!.idempotencyKey).toMatch(/^schedule:every-second:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
      expect(job!.payload).toEqual({ action: 'succeed', tag: job!.idempotencyKey!.slice('schedule:every-second:'.length) });
    } finally {
      await jl.close();
    }
  });
});

describe('recurring jobs from the command line', () => {
  it('`types` lists the configuration module\'s schedules, and `maintenance schedule-<name>` enqueues its job now', { timeout: 120_000 }, async () => {
    const { dir } = configModuleDirectory(
      () => `import { defineJob, defineSchedule } from ${JSON.stringify(distIndexUrl)};
import { z } from 'zod';
const report = defineJob({ name: 'app.report', schema: z.object({ day: z.string() }), handler: () => null });
export const jobs = [report];
export const schedules = [defineSchedule({ name: 'daily-report', cron: '0 6 * * *', timezone: 'Europe/Berlin', job: report, payload: (tick) => ({ day: tick.toISOString().slice(0, 10) }) })];
`,
    );
    const env = await cliEnv('sched');
    expect((await runCli(['migrate'], env, dir)).code).toBe(0);
    const types = await runCli(['types', '--json'], env, dir);
    expect(types.code, types.stderr).toBe(0);
    expect(JSON.parse(types.stdout)).toMatchObject({ schedules: [{ name: 'daily-report', cron: '0 6 * * *', timezone: 'Europe/Berlin', job: 'app.report', onMissed: 'record' }] });

    const ran = await runCli(['maintenance', 'schedule-daily-report', '--json'], env, dir);
    expect(ran.code, ran.stderr).toBe(0);
    expect(JSON.parse(ran.stdout)).toMatchObject({ task: 'schedule-daily-report', outcome: 'succeeded', counts: { enqueued: 1 } });
    const jobs = await runCli(['jobs', '--json'], env, dir);
    expect(JSON.parse(jobs.stdout)).toMatchObject([{ name: 'app.report', payload: { day: new Date().toISOString().slice(0, 10) } }]);

    // The listing runs no module: it shows the schedule's runs as another process's task.
    const listed = await runCli(['maintenance', '--json'], env, dir);
    expect(JSON.parse(listed.stdout)).toContainEqual(expect.objectContaining({ task: 'schedule-daily-report', known: false }));
  });
});
