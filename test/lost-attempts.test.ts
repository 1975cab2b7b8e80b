/**
 * The ledger's side of lost attempts, store-level: which attempts count as lost in a row (a late
 * outcome does not reset the count), how a worker records an attempt it lost to a frozen event loop,
 * and that a delivery older than the job's current attempt supersedes nothing.
 */
import { describe, expect, it } from 'vitest';
import type { Ledger } from '../src/store/ledger.js';
import { countLostAttemptsInARow } from '../src/store/attempts/lost-attempts.js';
import type { AttemptRef } from '../src/store/attempts/attempt-writes.js';
import pg from 'pg';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

const workerA = { workerId: 'w-a', host: 'h', pid: 1 };
const workerB = { workerId: 'w-b', host: 'h', pid: 2 };

async function started(ledger: Ledger, jobId: string, worker = workerA, now = Date.now(), deliveredAt?: number): Promise<AttemptRef> {
  const begin = await ledger.beginAttempt(jobId, worker, now, deliveredAt);
  if (begin.kind !== 'started') throw new Error(`expected a start, got ${begin.kind}`);
  return begin.attempt;
}

describe.each(backends)('lost attempts on %s', (dialect) => {
  it('counts stalled, superseded and still-running attempts as lost in a row; an outcome of its own ends the run', async () => {
    const ledger = await openTestLedger(dialect);
    const [job] = await ledger.insertJobs([newJob()]);
    const id = job!.id;
    const first = await started(ledger, id, workerA);
    expect(await countLostAttemptsInARow(ledger, id, 3)).toBe(1); // running while delivered again
    const second = await started(ledger, id, workerB); // records the first stalled
    // The first comes back late, from a frozen process: fenced out, and still a lost attempt.
    expect(await ledger.recordOutcome(first, { type: 'completed', result: 'late' })).toMatchObject({ kind: 'superseded', currentAttempt: 2 });
    const third = await started(ledger, id, workerA); // records the second stalled
    expect(await countLostAttemptsInARow(ledger, id, 3)).toBe(3);
    expect((await ledger.getJobDetail(id)).attempts.map((a) => a.status)).toEqual(['superseded', 'stalled', 'running']);
    expect(await ledger.recordOutcome(second, { type: 'completed', result: 'late too' })).toMatchObject({ kind: 'superseded' });
    expect(await countLostAttemptsInARow(ledger, id, 2)).toBe(2);
    // The current attempt fails by its own logic: the job's own outcome, not a loss.
    const error = { name: 'Error', message: 'its own failure' };
    expect(await ledger.recordOutcome(third, { type: 'retry', attemptStatus: 'failed', error, delayMs: 10 })).toMatchObject({ kind: 'applied' });
    expect(await countLostAttemptsInARow(ledger, id, 3)).toBe(0);
    await ledger.close();
  });

  it('records an attempt its own worker lost to a freeze: stalled, the job queued, the discarded result in the event', async () => {
    const ledger = await openTestLedger(dialect);
    const [job] = await ledger.insertJobs([newJob()]);
    const id = job!.id;
    const attempt = await started(ledger, id);
    const lost = { reason: 'event loop blocked for 5000 ms', detectedBy: workerA.workerId, discarded: { type: 'completed', result: 1 } as const };
    expect(await ledger.recordLostAttempt(attempt, lost)).toEqual({ kind: 'requeued' });
    const detail = await ledger.getJobDetail(id);
    expect(detail.job).toMatchObject({ status: 'queued', attemptsFailed: 0, statusReason: 'attempt 1 lost: event loop blocked for 5000 ms', result: null });
    expect(detail.attempts.map((a) => a.status)).toEqual(['stalled']);
    expect(detail.events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.stalled']);
    expect(detail.events[2]!.payload).toMatchObject({ attempt: 1, detectedBy: 'w-a', reason: 'event loop blocked for 5000 ms', discardedOutcome: 'completed' });
    expect(await countLostAttemptsInARow(ledger, id, 3)).toBe(1);
    // Applied once: a duplicate is a late outcome of an attempt that no longer owns the job (and,
    // like any late outcome of a stalled attempt, marks it superseded: still a lost attempt).
    expect(await ledger.recordLostAttempt(attempt, lost)).toMatchObject({ kind: 'superseded' });
    const again = await ledger.getJobDetail(id);
    expect(again.job.status).toBe('queued');
    expect(again.events.map((e) => e.type).slice(-1)).toEqual(['job.superseded']);
    expect(await countLostAttemptsInARow(ledger, id, 3)).toBe(1);

    // The next attempt runs as usual; one lost after another attempt took over is a late outcome.
    const next = await started(ledger, id, workerB);
    await started(ledger, id, workerA);
    expect(await ledger.recordLostAttempt(next, { ...lost, detectedBy: 'w-b' })).toMatchObject({ kind: 'superseded', currentAttempt: 3 });
    expect((await ledger.getJobDetail(id)).attempts.map((a) => a.status)).toEqual(['superseded', 'superseded', 'running']);
    await ledger.close();
  });

  it('lets no delivery fetched before the current attempt began supersede it', async () => {
    const ledger = await openTestLedger(dialect);
    const [job] = await ledger.insertJobs([newJob()]);
    const id = job!.id;
    const now = Date.now();
    await started(ledger, id, workerB, now, now - 10);
    // A delivery fetched before that start (a process that froze between its fetch and its begin).
    expect(await ledger.beginAttempt(id, workerA, now + 5000, now - 2000)).toEqual({ kind: 'stale', currentAttempt: 1 });
    const detail = await ledger.getJobDetail(id);
    expect(detail.attempts.map((a) => [a.number, a.status])).toEqual([[1, 'running']]);
    expect(detail.job.version).toBe(2);
    // A delivery fetched after it (its worker lost the job): the usual takeover.
    await started(ledger, id, workerA, now + 5000, now + 3000);
    expect((await ledger.getJobDetail(id)).attempts.map((a) => [a.number, a.status])).toEqual([
      [1, 'stalled'],
      [2, 'running'],
    ]);
    await ledger.close();
  });

  it('lets a stale delivery neither count the running attempt as lost nor fail the job for it', async () => {
    const ledger = await openTestLedger(dialect);
    const [job] = await ledger.insertJobs([newJob()]);
    const id = job!.id;
    const now = Date.now();
    await started(ledger, id, workerA, now - 3000);
    await started(ledger, id, workerB, now - 2000); // the first lost
    await started(ledger, id, workerA, now); // the second lost; the third runs
    // A delivery fetched after the third began (its worker lost it): all three lost.
    expect(await countLostAttemptsInARow(ledger, id, 3, now + 100)).toBe(3);
    // A delivery fetched before the third began (a process that froze since its fetch): that
    // attempt is alive, not lost, and nothing is counted behind it.
    expect(await countLostAttemptsInARow(ledger, id, 3, now - 100)).toBe(0);
    expect(await ledger.failStalledJob(id, 'lost 3 attempts in a row', now + 200, now - 100)).toBe(false);
    expect((await ledger.getJob(id)).status).toBe('running');
    expect(await ledger.failStalledJob(id, 'lost 3 attempts in a row', now + 200, now + 100)).toBe(true);
    const detail = await ledger.getJobDetail(id);
    expect(detail.job).toMatchObject({ status: 'failed', statusReason: 'lost 3 attempts in a row' });
    expect(detail.attempts.map((a) => a.status)).toEqual(['stalled', 'stalled', 'stalled']);
    await ledger.close();
  });

  it.runIf(dialect === 'postgresql')('fails a job whose lost attempt its own worker is recording at the same moment', async () => {
    const url = await freshDatabaseUrl(dialect);
    const ledger = await openTestLedger(dialect, url);
    const [job] = await ledger.insertJobs([newJob()]);
    const id = job!.id;
    const now = Date.now();
    await started(ledger, id, workerA, now - 3000);
    await started(ledger, id, workerB, now - 2000);
    await started(ledger, id, workerA, now - 1000);
    // The frozen worker, waking, records its attempt lost in a transaction still open when the
    // poison guard of another worker fails the job.
    const waking = new pg.Client({ connectionString: url });
    await waking.connect();
    try {
      await waking.query('BEGIN');
      await waking.query(`UPDATE jobs SET status = 'queued', status_reason = 'attempt 3 lost', version = version + 1 WHERE id = $1`, [id]);
      await waking.query(`UPDATE attempts SET status = 'stalled', finished_at = $2 WHERE job_id = $1 AND number = 3`, [id, now]);
      const failing = ledger.failStalledJob(id, 'lost 3 attempts in a row', now + 200, now + 100);
      await new Promise((resolve) => setTimeout(resolve, 300));
      await waking.query('COMMIT');
      expect(await failing).toBe(true);
    } finally {
      await waking.end();
    }
    const detail = await ledger.getJobDetail(id);
    expect(detail.job).toMatchObject({ status: 'failed', statusReason: 'lost 3 attempts in a row' });
    expect(detail.attempts.map((a) => a.status)).toEqual(['stalled', 'stalled', 'stalled']);
    await ledger.close();
  });
});
