/**
 * The built-in maintenance tasks, called directly (or through `jl.maintenance.run`) on backdated rows:
 * retention pruning, reconciling Redis against the ledger, SQLite upkeep.
 */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NotFoundError } from '../src/errors.js';
import type { JobLedger } from '../src/jobledger.js';
import { defineJob } from '../src/jobs/define-job.js';
import { listMaintenanceRuns } from '../src/store/maintenance/maintenance-runs.js';
import { pruneByRetention } from '../src/store/maintenance/prune.js';
import { sqliteUpkeep } from '../src/store/maintenance/sqlite-upkeep.js';
import { MaintenanceRunEntity, type MaintenanceRunRow } from '../src/store/entities/index.js';
import { newId } from '../src/store/ids.js';
import { openTestLedger } from './support/ledger.js';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';
import { openQueue } from './support/redis.js';

const dayMs = 86_400_000;

const auditJob = defineJob({ name: 'test.audit', queue: 'audit', schema: z.object({ n: z.number() }), handler: (p) => ({ n: p.n }) });

/** Attempts and events per job id, to compare before and after a prune. */
async function historyOf(jl: JobLedger, ids: readonly string[]): Promise<Record<string, { attempts: number; events: number }>> {
  const history: Record<string, { attempts: number; events: number }> = {};
  for (const id of ids) {
    const attempts = await jl.ledger.read((sql) => sql.all('SELECT id FROM attempts WHERE job_id = ?', [id]));
    const events = await jl.ledger.read((sql) => sql.all(`SELECT id FROM events WHERE subject_type = 'job' AND subject_id = ?`, [id]));
    history[id] = { attempts: attempts.length, events: events.length };
  }
  return history;
}

describe.each(backends)('maintenance tasks (%s)', (dialect) => {
  it('prune deletes exactly the finished jobs past retention, with their attempts and events', async () => {
    const jl = await openTestJobLedger(dialect, {
      jobs: [scriptedJob, auditJob],
      env: { JOBLEDGER_RETENTION_DAYS: '30', JOBLEDGER_RETENTION_DAYS_BY_QUEUE: 'audit=forever' },
    });
    try {
      const enqueue = async (action: 'succeed' | 'throw-permanent' | 'fail-until', delayMs = 0) =>
        (await jl.enqueue('test.scripted', { action }, { delayMs })).id;
      const oldCompleted = [await enqueue('succeed'), await enqueue('succeed'), await enqueue('fail-until')];
      const oldFailed = await enqueue('throw-permanent');
      const oldCancelled = await enqueue('succeed', 3_600_000);
      const oldUnfinished = await enqueue('succeed', 3_600_000);
      const recent = await enqueue('succeed');
      const auditOld = (await jl.enqueue('test.audit', { n: 1 })).id;
      await jl.cancel({ jobId: oldCancelled, reason: 'test', actor: 'test' });

      const worker = jl.createWorker({ concurrency: 5 });
      await worker.start();
      for (const id of [...oldCompleted, recent, auditOld]) await waitForStatus(jl, id, 'completed');
      await waitForStatus(jl, oldFailed, 'failed');
      await worker.close();

      // Forty days ago, as far as the ledger can tell.
      const longAgo = Date.now() - 40 * dayMs;
      const old = [...oldCompleted, oldFailed, oldCancelled, oldUnfinished, auditOld];
      await jl.ledger.transaction((sql) =>
        sql.run(
          `UPDATE jobs SET created_at = ?, updated_at = ?, finished_at = CASE WHEN finished_at IS NULL THEN NULL ELSE CAST(? AS BIGINT) END WHERE id IN (${old.map(() => '?').join(', ')})`,
          [longAgo, longAgo, longAgo, ...old],
        ),
      );
      const doomed = [...oldCompleted, oldFailed, oldCancelled];
      const kept = [oldUnfinished, recent, auditOld];
      const doomedHistory = await historyOf(jl, doomed);
      const keptHistory = await historyOf(jl, kept);
      const expected = {
        jobs: doomed.length,
        attempts: Object.values(doomedHistory).reduce((n, h) => n + h.attempts, 0),
        events: Object.values(doomedHistory).reduce((n, h) => n + h.events, 0),
        // Nothing indexed these jobs for search (no search ran, the search-index task is not scheduled here).
        searchDocuments: 0,
        maintenanceRuns: 0,
        // The test writes no run, pipeline or state events, and job retention leaves the audit log alone.
        runEvents: 0,
        pipelineEvents: 0,
        stateEvents: 0,
        audit: 0,
      };
      expect(doomedHistory[oldCompleted[2]!]!.attempts).toBe(2); // the job that failed once, then succeeded

      // A dry run counts the same and deletes nothing (and is not recorded).
      const dry = await jl.maintenance.run('prune', { dryRun: true });
      expect(dry).toMatchObject({ outcome: 'dry-run', counts: expected });
      expect(await historyOf(jl, doomed)).toEqual(doomedHistory);
      expect(await listMaintenanceRuns(jl.ledger)).toEqual([]);

      // The function itself, in batches of two.
      const m = jl.config.maintenance;
      const counts = await pruneByRetention(jl.ledger, { policy: { defaultDays: m.retentionDays, byQueue: m.retentionDaysByQueue }, batchSize: 2 });
      expect(counts).toEqual(expected);
      for (const id of doomed) await expect(jl.ledger.getJob(id)).rejects.toBeInstanceOf(NotFoundError);
      expect(await historyOf(jl, doomed)).toEqual(Object.fromEntries(doomed.map((id) => [id, { attempts: 0, events: 0 }])));
      for (const id of kept) await jl.ledger.getJob(id);
      expect(await historyOf(jl, kept)).toEqual(keptHistory);

      // The scheduled task finds nothing more, and its run is recorded.
      const again = await jl.maintenance.run('prune');
      expect(again).toMatchObject({ outcome: 'succeeded', counts: { jobs: 0, attempts: 0, events: 0, maintenanceRuns: 0 } });
      expect(await listMaintenanceRuns(jl.ledger, { task: 'prune' })).toMatchObject([{ status: 'succeeded', triggeredBy: 'manual' }]);
    } finally {
      await jl.close();
    }
  });

  it("prune deletes old maintenance runs but each task's newest scheduled one and any still running", async () => {
    const ledger = await openTestLedger(dialect);
    try {
      const hour = 3_600_000;
      const old = Date.now() - 40 * dayMs;
      const recent = Date.now() - hour;
      const row = (task: string, tick: number, triggeredBy: MaintenanceRunRow['triggeredBy'], status: MaintenanceRunRow['status'] = 'succeeded') => ({
        id: newId('mnt'), task, tick, status, triggeredBy, claimedBy: 'test', startedAt: tick, heartbeatAt: tick, finishedAt: status === 'running' ? null : tick,
        durationMs: null, counts: null, error: null,
      });
      const doomed = [row('prune', old - 3 * hour, 'schedule'), row('prune', old - 2 * hour, 'schedule', 'failed'), row('prune', old - 1.5 * hour, 'manual'), row('reconcile', old - 2 * hour, 'manual'), row('archive-pipelines', old, 'manual')];
      const kept = [
        row('prune', old - hour, 'schedule'), // prune's newest scheduled run: missed-tick detection counts from it
        row('prune', old - 0.5 * hour, 'manual'), // newer than that
        row('reconcile', old - 3 * hour, 'schedule', 'running'),
        row('reconcile', recent, 'schedule'),
        row('archive-pipelines', recent, 'manual'),
      ];
      await ledger.unitOfWork(async (em) => {
        await em.insertMany(MaintenanceRunEntity, [...doomed, ...kept]);
      });
      const policy = { defaultDays: 30 };

      const dry = await pruneByRetention(ledger, { policy, dryRun: true });
      expect(dry.maintenanceRuns).toBe(doomed.length);
      expect(await listMaintenanceRuns(ledger, { limit: 100 })).toHaveLength(doomed.length + kept.length);

      const counts = await pruneByRetention(ledger, { policy, batchSize: 2 });
      expect(counts.maintenanceRuns).toBe(doomed.length);
      const left = (await listMaintenanceRuns(ledger, { limit: 100 })).map((r) => r.id).sort();
      expect(left).toEqual(kept.map((r) => r.id).sort());
    } finally {
      await ledger.close();
    }
  });

  it('reconcile hands a queued job Redis lost back to it, and it completes; a dry run changes nothing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const queue = openQueue(jl);
    try {
      const { id } = await jl.enqueue('test.scripted', { action: 'succeed', tag: 'lost' });
      const queued = await waitForStatus(jl, id, 'queued');
      expect(await queue.remove(id)).toBe(1);
      expect(await queue.getJobState(id)).toBe('unknown');
      // And a Redis job the ledger never heard of.
      await queue.add('test.scripted', {}, { jobId: 'job_not_in_the_ledger' });

      const dry = await jl.maintenance.run('reconcile', { dryRun: true });
      expect(dry).toMatchObject({ outcome: 'dry-run', counts: { checked: 1, missing: 1, redispatched: 0, redisOrphans: 1 } });
      expect(await queue.getJobState(id)).toBe('unknown');
      expect((await jl.ledger.getJob(id)).version).toBe(queued.version);
      expect(await listMaintenanceRuns(jl.ledger)).toEqual([]);

      expect(await queue.remove('job_not_in_the_ledger')).toBe(1);
      const real = await jl.maintenance.run('reconcile');
      expect(real).toMatchObject({ outcome: 'succeeded', counts: { checked: 1, missing: 1, redispatched: 1, deferred: 0, redisOrphans: 0 } });
      expect(await queue.getJobState(id)).toBe('waiting');

      const worker = jl.createWorker({ concurrency: 2 });
      await worker.start();
      const done = await waitForStatus(jl, id, 'completed');
      expect(done.attemptsStarted).toBe(1);
    } finally {
      await queue.close();
      await jl.close();
    }
  });

  it('the pipeline archive and snapshot rotation run as recorded tasks', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      expect(await jl.maintenance.run('archive-pipelines')).toMatchObject({ outcome: 'succeeded', counts: { archived: 0 } });
      expect(await jl.maintenance.run('rotate-snapshots')).toMatchObject({ outcome: 'succeeded', counts: { expired: 0, rotated: 0 } });
      const statuses = await jl.maintenance.status();
      expect(statuses.map((s) => [s.task, s.lastRun?.status ?? null])).toEqual([
        ['prune', null],
        ['reconcile', null],
        ['sqlite-upkeep', null],
        ['archive-pipelines', 'succeeded'],
        ['rotate-snapshots', 'succeeded'],
        ['search-index', null],
      ]);
    } finally {
      await jl.close();
    }
  });

  it('SQLite upkeep checkpoints the WAL and optimizes; on PostgreSQL it reports nothing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    try {
      const result = await jl.maintenance.run('sqlite-upkeep');
      expect(result.outcome).toBe('succeeded');
      if (dialect === 'sqlite') {
        expect(result.counts).toMatchObject({ walBusy: 0, optimized: 1 });
        expect(Object.keys(result.counts ?? {}).sort()).toEqual(['optimized', 'walBusy', 'walFrames', 'walFramesCheckpointed']);
        // The run's own claim at least was in the WAL, and was copied back.
        expect(result.counts?.walFrames).toBeGreaterThan(0);
        expect(result.counts?.walFramesCheckpointed).toBe(result.counts?.walFrames);
        // Recording the run wrote to the WAL again; the function alone leaves it truncated.
        const wal = `${jl.config.database.sqlitePath ?? ''}-wal`;
        expect(statSync(wal).size).toBeGreaterThan(0);
        await sqliteUpkeep(jl.ledger);
        expect(statSync(wal).size).toBe(0);
      } else {
        expect(result.counts).toEqual({});
      }
    } finally {
      await jl.close();
    }
  });
});
