/**
 * Attempt heartbeats (store/attempts/attempt-signals.ts): each names one attempt by its id, touches
 * it only while it runs, and is stamped with the database's clock, the one the stale-attempt check
 * reads (store/maintenance/stale-attempts.ts), whatever the worker's clock says.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { BeginResult } from '../src/store/attempts/attempt-writes.js';
import type { Ledger } from '../src/store/ledger.js';
import { databaseNow } from '../src/store/maintenance/stale-attempts.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { newJob, openTestLedger } from './support/ledger.js';

const worker = { workerId: 'w-1', host: 'host-1', pid: 4242 };

function attemptOf(result: BeginResult) {
  if (result.kind !== 'started') throw new Error(`expected a started attempt, got ${result.kind}`);
  return result.attempt;
}

async function heartbeatsOf(ledger: Ledger, jobId: string): Promise<[number, string, number][]> {
  const { attempts } = await ledger.getJobDetail(jobId);
  return attempts.map((a) => [a.number, a.status, a.heartbeatAt]);
}

describe.each(backends)('attempt heartbeats on %s', (dialect) => {
  afterEach(() => vi.restoreAllMocks());

  it('stamp the attempt they name, only while it runs, never another attempt of the same job', async () => {
    const ledger = await openTestLedger(dialect);
    const job = newJob();
    await ledger.insertJobs([job]);
    const first = attemptOf(await ledger.beginAttempt(job.id, worker, 1_000));
    // Delivered again: attempt 1 is recorded stalled, attempt 2 runs.
    const second = attemptOf(await ledger.beginAttempt(job.id, worker, 2_000));
    // Backdated, so that a heartbeat that lands on the wrong attempt shows.
    await ledger.transaction((sql) => sql.run('UPDATE attempts SET heartbeat_at = number * 1000 WHERE job_id = ?', [job.id]));
    expect(await heartbeatsOf(ledger, job.id)).toEqual([
      [1, 'stalled', 1_000],
      [2, 'running', 2_000],
    ]);

    // The lost attempt's worker still renews its lock: an attempt that ended is left as it ended.
    await ledger.recordHeartbeats([first.attemptId]);
    expect(await heartbeatsOf(ledger, job.id)).toEqual([
      [1, 'stalled', 1_000],
      [2, 'running', 2_000],
    ]);

    // Even an older attempt still marked running is not kept alive by the current one's heartbeat.
    await ledger.transaction((sql) => sql.run(`UPDATE attempts SET status = 'running' WHERE id = ?`, [first.attemptId]));
    const before = await databaseNow(ledger);
    await ledger.recordHeartbeats([second.attemptId]);
    const after = await databaseNow(ledger);
    const [older, current] = await heartbeatsOf(ledger, job.id);
    expect(older).toEqual([1, 'running', 1_000]);
    expect(current![2]).toBeGreaterThanOrEqual(before);
    expect(current![2]).toBeLessThanOrEqual(after);
    await ledger.close();
  });

  it("start with the database's clock, whatever the worker's says", async () => {
    const ledger = await openTestLedger(dialect);
    const jobs = Array.from({ length: 3 }, () => newJob());
    await ledger.insertJobs(jobs);
    const before = await databaseNow(ledger);
    // A worker whose clock runs an hour behind: its new attempts must not look an hour old.
    await Promise.all(jobs.map((job) => ledger.beginAttempt(job.id, worker, before - 3_600_000)));
    const after = await databaseNow(ledger);
    for (const job of jobs) {
      const [[, status, heartbeatAt]] = (await heartbeatsOf(ledger, job.id)) as [[number, string, number]];
      expect(status).toBe('running');
      expect(heartbeatAt).toBeGreaterThanOrEqual(before);
      expect(heartbeatAt).toBeLessThanOrEqual(after);
    }
    expect(await ledger.countAttemptsPastLock(60_000)).toBe(0);
    await ledger.close();
  });

  it("are stamped with the database's clock, not the worker's", async () => {
    const ledger = await openTestLedger(dialect);
    const jobs = [newJob(), newJob()];
    await ledger.insertJobs(jobs);
    const attempts = await Promise.all(jobs.map(async (job) => attemptOf(await ledger.beginAttempt(job.id, worker, 1_000))));
    // Backdated past the lock: the doctor's check counts them until a heartbeat lands.
    await ledger.transaction((sql) => sql.run('UPDATE attempts SET heartbeat_at = 1000'));
    expect(await ledger.countAttemptsPastLock(60_000)).toBe(2);

    const before = await databaseNow(ledger);
    // A worker whose clock runs an hour behind: its heartbeats must not look an hour old.
    vi.spyOn(Date, 'now').mockReturnValue(before - 3_600_000);
    await ledger.recordHeartbeats(attempts.map((a) => a.attemptId));
    vi.restoreAllMocks();
    const after = await databaseNow(ledger);

    for (const job of jobs) {
      const [[number, status, heartbeatAt]] = (await heartbeatsOf(ledger, job.id)) as [[number, string, number]];
      expect([number, status]).toEqual([1, 'running']);
      expect(heartbeatAt).toBeGreaterThanOrEqual(before);
      expect(heartbeatAt).toBeLessThanOrEqual(after);
    }
    // Doctor's check draws its line on the same clock: a fresh heartbeat is not past the lock.
    expect(await ledger.countAttemptsPastLock(60_000)).toBe(0);
    await ledger.close();
  });

  it('are sent by a worker for the attempt it runs, as BullMQ renews its lock', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], env: { JOBLEDGER_LOCK_DURATION_MS: '1000' } });
    const consumer = jl.createWorker({ concurrency: 1 });
    await consumer.start();
    // BullMQ renews the lock every half lock duration; the handler outlives a few renewals.
    const { id } = await jl.enqueue('test.scripted', { action: 'sleep', ms: 2_500 });
    const beat = await waitFor(async () => {
      const [attempt] = (await jl.ledger.getJobDetail(id)).attempts;
      return attempt?.status === 'running' && attempt.heartbeatAt > attempt.startedAt ? attempt : undefined;
    }, 'a heartbeat of the running attempt');
    expect(beat.heartbeatAt).toBeLessThanOrEqual(await databaseNow(jl.ledger));
    await waitForStatus(jl, id, 'completed');
    await jl.close();
  });
});
