/**
 * Missed ticks, run-once catch-up, overlapping ticks and abandoned runs. Time is faked by backdating
 * rows (ticks in the past, heartbeats moved back) and calling the runner directly, never by sleeping.
 */
import { describe, expect, it } from 'vitest';
import { InvalidConfigError } from '../src/errors.js';
import { loadConfig } from '../src/config.js';
import { maintenanceDefaults } from '../src/config-maintenance.js';
import { cronProblem } from '../src/cron-schedule.js';
import type { JobLedger } from '../src/jobledger.js';
import type { MaintenanceRunRow } from '../src/store/entities/index.js';
import { claimTick, finishRun, listMaintenanceRuns } from '../src/store/maintenance/maintenance-runs.js';
import { MaintenanceRunner } from '../src/workers/maintenance/runner.js';
import type { MaintenanceTask, MissedTickPolicy } from '../src/workers/maintenance/task.js';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor } from './support/harness.js';

const minute = 60_000;
const staleAfterMs = 5 * minute;

/** A task on an every-minute schedule that counts its runs. */
function countingTask(onMissed: MissedTickPolicy = 'record'): { task: MaintenanceTask; runs: () => number } {
  let runs = 0;
  return {
    task: {
      name: 'count',
      description: 'counts its runs',
      schedule: '* * * * *',
      onMissed,
      supportsDryRun: false,
      run: () => Promise.resolve({ run: ++runs }),
    },
    runs: () => runs,
  };
}

/** What a runner told `onTicks` (the maintenance ticks metric), summed by outcome. */
type TickTally = Record<string, number>;

function runner(jl: JobLedger, task: MaintenanceTask, claimant = 'test-a', tally: TickTally = {}): MaintenanceRunner {
  return new MaintenanceRunner({
    ledger: jl.ledger,
    tasks: [task],
    logger: jl.logger,
    timezone: 'UTC',
    staleAfterMs,
    maxErrorChars: 2000,
    claimant,
    onTicks: (_task, outcome, ticks) => void (tally[outcome] = (tally[outcome] ?? 0) + ticks),
  });
}

/** A finished scheduled run of `task` at `tick`, as if it had happened then. */
async function pastRun(jl: JobLedger, task: string, tick: number): Promise<void> {
  const claim = await claimTick(jl.ledger, { task, tick, triggeredBy: 'schedule', claimedBy: 'earlier', now: tick, staleAfterMs });
  if (claim.kind !== 'claimed') throw new Error(`could not backdate a run at ${tick}`);
  await finishRun(jl.ledger, { id: claim.run.id, status: 'succeeded', counts: {}, now: tick + 10 });
}

async function rows(jl: JobLedger): Promise<MaintenanceRunRow[]> {
  return (await listMaintenanceRuns(jl.ledger, { task: 'count', limit: 1000 })).sort((a, b) => a.tick - b.tick);
}

/** A reference "now" half a minute past a minute boundary, and the boundary before it. */
function clock(): { now: number; minuteStart: number } {
  const minuteStart = Math.floor(Date.now() / minute) * minute;
  return { now: minuteStart + 30_000, minuteStart };
}

describe.each(backends)('missed maintenance ticks (%s)', (dialect) => {
  it('a task that never ran has nothing to miss', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const { task, runs } = countingTask('run-once');
      const result = await runner(jl, task).catchUp('count', { now: clock().now });
      expect(result).toEqual({ task: 'count', recorded: 0, omitted: 0, ran: null });
      expect(runs()).toBe(0);
      expect(await rows(jl)).toEqual([]);
    } finally {
      await jl.close();
    }
  });

  it('records every tick nobody ran since the last recorded one, once', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const { now, minuteStart } = clock();
      const last = minuteStart - 10 * minute;
      await pastRun(jl, 'count', last);
      const { task, runs } = countingTask('record');
      const tally: TickTally = {};
      const r = runner(jl, task, 'test-a', tally);

      // Ticks younger than the grace (60 s) may still be claimed by a slower process: not missed yet.
      const expected = Array.from({ length: 9 }, (_, i) => last + (i + 1) * minute);
      expect(await r.catchUp('count', { now })).toEqual({ task: 'count', recorded: 9, omitted: 0, ran: null });
      const all = await rows(jl);
      const missed = all.filter((row) => row.status === 'missed');
      expect(missed.map((row) => row.tick)).toEqual(expected);
      expect(missed.every((row) => row.claimedBy === 'test-a' && (row.error as { code: string }).code === 'not-run')).toBe(true);
      expect(runs()).toBe(0);
      expect(tally).toEqual({ missed: 9 });

      // Looking again finds nothing new.
      expect((await r.catchUp('count', { now })).recorded).toBe(0);
      expect(await rows(jl)).toHaveLength(10);
      expect(tally).toEqual({ missed: 9 });
    } finally {
      await jl.close();
    }
  });

  it('caps the rows at 100 per look and notes how many more were missed', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const { now, minuteStart } = clock();
      const last = minuteStart - 200 * minute; // 199 ticks missed
      await pastRun(jl, 'count', last);
      const { task } = countingTask('record');
      const result = await runner(jl, task).catchUp('count', { now });
      expect(result).toMatchObject({ recorded: 100, omitted: 99 });
      const missed = (await rows(jl)).filter((row) => row.status === 'missed');
      expect(missed).toHaveLength(100);
      expect(missed[0]!.tick).toBe(last + 100 * minute);
      expect(missed[99]!.tick).toBe(minuteStart - minute);
      expect(missed[0]!.counts).toEqual({ omittedMissedTicks: 99, omittedFromTick: last + minute, omittedUntilTick: last + 99 * minute });
    } finally {
      await jl.close();
    }
  });

  it('run-once runs the task exactly once for all the missed ticks, even when two processes catch up at once', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const { now, minuteStart } = clock();
      const last = minuteStart - 10 * minute;
      await pastRun(jl, 'count', last);
      const { task, runs } = countingTask('run-once');
      const tally: TickTally = {};
      const [a, b] = await Promise.all([
        runner(jl, task, 'process-a', tally).catchUp('count', { now }),
        runner(jl, task, 'process-b', tally).catchUp('count', { now }),
      ]);
      expect(runs()).toBe(1);
      const ran = [a, b].filter((r) => r.ran !== null);
      expect(ran).toHaveLength(1);
      expect(ran[0]!.ran).toMatchObject({ outcome: 'succeeded', tick: minuteStart - minute, counts: { run: 1 } });

      const all = await rows(jl);
      expect(all).toHaveLength(10);
      const caughtUp = all.filter((row) => row.triggeredBy === 'catch-up');
      expect(caughtUp).toHaveLength(1);
      expect(caughtUp[0]).toMatchObject({ tick: minuteStart - minute, status: 'succeeded' });
      expect(all.filter((row) => row.status === 'missed').map((row) => row.tick)).toEqual(
        Array.from({ length: 8 }, (_, i) => last + (i + 1) * minute),
      );
      // Both processes together counted the run once and each missed tick once.
      expect(tally).toEqual({ succeeded: 1, missed: 8 });

      // The next start finds nothing left to catch up.
      expect(await runner(jl, task, 'process-c').catchUp('count', { now })).toMatchObject({ recorded: 0, ran: null });
      expect(runs()).toBe(1);
    } finally {
      await jl.close();
    }
  });

  it('the process that claims a tick records the ticks nobody ran before it', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const { minuteStart } = clock();
      const last = minuteStart - 10 * minute;
      await pastRun(jl, 'count', last);
      const { task, runs } = countingTask('record');
      const tally: TickTally = {};
      const r = runner(jl, task, 'test-a', tally);
      const result = await r.runScheduledTick('count', last + 5 * minute, new AbortController().signal);
      expect(result).toMatchObject({ outcome: 'succeeded', counts: { run: 1 } });
      // A second process meeting the same tick skips it.
      expect((await runner(jl, task, 'test-b').runScheduledTick('count', last + 5 * minute, new AbortController().signal)).outcome).toBe('taken');
      expect(runs()).toBe(1);
      const all = await rows(jl);
      expect(all.map((row) => [row.tick - last, row.status])).toEqual([
        [0, 'succeeded'],
        [1 * minute, 'missed'],
        [2 * minute, 'missed'],
        [3 * minute, 'missed'],
        [4 * minute, 'missed'],
        [5 * minute, 'succeeded'],
      ]);
    } finally {
      await jl.close();
    }
  });

  it('a tick that comes due while a run is going is recorded as an overlap; a dead run is declared abandoned', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const { minuteStart } = clock();
      const t0 = minuteStart - 3 * minute;
      // A run that a process claimed and then died in: its row stays `running`.
      const claim = await claimTick(jl.ledger, { task: 'count', tick: t0, triggeredBy: 'schedule', claimedBy: 'dead', now: Date.now(), staleAfterMs });
      if (claim.kind !== 'claimed') throw new Error('claim failed');
      const { task, runs } = countingTask('record');
      const tally: TickTally = {};
      const r = runner(jl, task, 'test-a', tally);

      const overlapped = await r.runScheduledTick('count', t0 + minute, new AbortController().signal);
      expect(overlapped.outcome).toBe('overlap');
      expect(runs()).toBe(0);
      const overlapRow = (await rows(jl)).find((row) => row.tick === t0 + minute);
      expect(overlapRow).toMatchObject({ status: 'missed', claimedBy: 'test-a', error: { code: 'overlap' } });

      // Its heartbeat stops: past staleAfterMs, status() declares it failed (abandoned).
      await jl.ledger.transaction((sql) => sql.run('UPDATE maintenance_runs SET heartbeat_at = ? WHERE id = ?', [Date.now() - staleAfterMs - 1, claim.run.id]));
      const [status] = await r.status();
      expect(status?.lastRun?.tick).toBe(t0 + minute);
      const dead = (await rows(jl)).find((row) => row.id === claim.run.id);
      expect(dead).toMatchObject({ status: 'failed', error: { code: 'abandoned' } });
      // A late finish from the dead run changes nothing.
      expect(await finishRun(jl.ledger, { id: claim.run.id, status: 'succeeded', counts: { late: 1 }, now: Date.now() })).toBe(false);

      // And it no longer blocks the task.
      expect((await r.runScheduledTick('count', t0 + 2 * minute, new AbortController().signal)).outcome).toBe('succeeded');
      expect(runs()).toBe(1);
    } finally {
      await jl.close();
    }
  });
});

describe.each(backends)('the maintenance scheduler (%s)', (dialect) => {
  it('catches up at start through jl.maintenance (prune runs once for its missed days) and stops with jl.close()', async () => {
    // Daily, at an hour far from now (so no tick comes due during the test); pretend prune last ran
    // three days' ticks ago.
    const hour = 3_600_000;
    const day = 24 * hour;
    const latestTick = Math.floor((Date.now() - 6 * hour) / hour) * hour;
    const cronHour = new Date(latestTick).getUTCHours();
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false, env: { JOBLEDGER_CRON_PRUNE: `0 ${cronHour} * * *` } });
    try {
      await pastRun(jl, 'prune', latestTick - 3 * day);
      jl.maintenance.start();
      expect(jl.maintenance.isRunning).toBe(true);
      const caughtUp = await waitFor(async () => {
        const [row] = await listMaintenanceRuns(jl.ledger, { task: 'prune', limit: 1 });
        return row?.triggeredBy === 'catch-up' && row.status === 'succeeded' ? row : undefined;
      }, 'the prune catch-up run');
      expect(caughtUp.tick).toBe(latestTick);
      const prune = await listMaintenanceRuns(jl.ledger, { task: 'prune' });
      expect(prune.map((row) => [(latestTick - row.tick) / day, row.status])).toEqual([
        [0, 'succeeded'],
        [1, 'missed'],
        [2, 'missed'],
        [3, 'succeeded'],
      ]);
      const [status] = (await jl.maintenance.status()).filter((s) => s.task === 'prune');
      expect(status).toMatchObject({ schedule: `0 ${cronHour} * * *`, onMissed: 'run-once', lastRun: { id: caughtUp.id } });
      expect(status!.nextRunAt).toBe(latestTick + day);
    } finally {
      await jl.close();
    }
    expect(jl.maintenance.isRunning).toBe(false);
  });
});

describe('maintenance configuration', () => {
  it('reads schedules, policies and retention, and rejects malformed values with the variable name', () => {
    const config = loadConfig(
      {},
      {
        JOBLEDGER_CRON_PRUNE: 'off',
        JOBLEDGER_CRON_RECONCILE: '*/2 * * * *',
        JOBLEDGER_MAINTENANCE_ON_MISSED: 'reconcile=record',
        JOBLEDGER_RETENTION_DAYS: 'forever',
        JOBLEDGER_RETENTION_DAYS_BY_QUEUE: 'emails=7,audit=forever',
      },
    );
    expect(config.maintenance.schedules).toMatchObject({ prune: null, reconcile: '*/2 * * * *', 'sqlite-upkeep': '45 * * * *' });
    expect(config.maintenance.onMissed).toEqual({ reconcile: 'record' });
    expect(config.maintenance.retentionDays).toBeNull();
    expect(config.maintenance.retentionDaysByQueue).toEqual({ emails: 7, audit: null });
    expect(config.maintenance).toMatchObject({ timezone: 'UTC', staleAfterMs: 600_000, archiveAfterHours: 24, snapshotsKeepPerSubject: 10 });

    const bad: [Parameters<typeof loadConfig>[1], RegExp][] = [
      [{ JOBLEDGER_CRON_PRUNE: 'every day' }, /JOBLEDGER_CRON_PRUNE/],
      [{ JOBLEDGER_CRON_PRUNE: '0 0 1 * 1' }, /JOBLEDGER_CRON_PRUNE.*day-of-month/],
      [{ JOBLEDGER_RETENTION_DAYS: '-1' }, /JOBLEDGER_RETENTION_DAYS/],
      [{ JOBLEDGER_RETENTION_DAYS_BY_QUEUE: 'emails' }, /JOBLEDGER_RETENTION_DAYS_BY_QUEUE/],
      [{ JOBLEDGER_MAINTENANCE_ON_MISSED: 'prune=sometimes' }, /JOBLEDGER_MAINTENANCE_ON_MISSED/],
      [{ JOBLEDGER_MAINTENANCE_TIMEZONE: 'Mars/Olympus' }, /JOBLEDGER_MAINTENANCE_TIMEZONE/],
      [{ JOBLEDGER_MAINTENANCE_STALE_AFTER_MS: '10' }, /JOBLEDGER_MAINTENANCE_STALE_AFTER_MS/],
    ];
    for (const [overrides, message] of bad) {
      expect(() => loadConfig({}, overrides)).toThrow(InvalidConfigError);
      expect(() => loadConfig({}, overrides)).toThrow(message);
    }
  });

  // The configuration takes the default schedules without checking them (so a CLI command loads no
  // cron library): they must be valid in any time zone one may set, including ones with odd offsets
  // and daylight-saving changes at the hours the defaults use.
  it.each(['UTC', 'Europe/Berlin', 'America/St_Johns', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/Santiago'])('the default schedules are valid in %s', (timezone) => {
    const schedules = Object.entries(maintenanceDefaults).filter(([name]) => name.startsWith('JOBLEDGER_CRON_'));
    expect(schedules.length).toBeGreaterThan(0);
    for (const [name, expression] of schedules) expect(cronProblem(expression, timezone), name).toBeUndefined();
    expect(loadConfig({}, { JOBLEDGER_MAINTENANCE_TIMEZONE: timezone }).maintenance.timezone).toBe(timezone);
  });
});
