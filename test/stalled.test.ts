/**
 * A worker process dies mid-attempt (SIGKILL: no shutdown handler, no ledger write, its Redis lock
 * simply expires). BullMQ's stalled checker in another worker notices; the ledger must record the
 * lost attempt as `stalled` and either run the job again or, past the stall limit, fail it.
 *
 * BullMQ 6.7 (commands/moveStalledJobsToWait-9.lua): a job in the active list whose lock is gone
 * gets its `stc` counter incremented and is moved back to wait; if `stc` exceeds maxStalledCount the
 * script also sets the job's deferred failure "job stalled more than allowable limit", and the next
 * worker to fetch it fails it without calling the processor (Worker.processJob →
 * getUnrecoverableErrorMessage), emitting `failed`. So with maxStalledCount 0 the first stall fails
 * the job, deterministically.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { JobLedger } from '../src/jobledger.js';
import { backends } from './support/backends.js';
import { openSharedJobLedger, startChildWorker } from './support/child-worker.js';
import { waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';

/** A short lock so that a dead worker's job is seen as stalled within about two seconds. */
const stallTimings = { JOBLEDGER_LOCK_DURATION_MS: '1000', JOBLEDGER_STALLED_INTERVAL_MS: '500' } as const;

async function eventsOf(jl: JobLedger, id: string) {
  return (await jl.ledger.getJobDetail(id)).events;
}

/** Enqueues a job, lets a child worker begin it, and SIGKILLs the child mid-attempt. */
async function loseAttemptInDeadChild(jl: JobLedger, config: JobLedger['config'], payload: Record<string, unknown>) {
  const child = await startChildWorker(config, { WORKER_CONCURRENCY: '1' });
  const { id } = await jl.enqueue('test.scripted', payload);
  await waitForStatus(jl, id, 'running');
  const [attempt] = (await jl.ledger.getJobDetail(id)).attempts;
  expect(attempt).toMatchObject({ number: 1, status: 'running', pid: child.pid });
  child.kill('SIGKILL');
  expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  await child.close();
  return id;
}

describe.each(backends)('stalled attempts on %s', (dialect) => {
  it('runs a job again after its worker process died; the lost attempt is recorded stalled', async () => {
    const { config, jl } = await openSharedJobLedger(dialect, stallTimings);
    const id = await loseAttemptInDeadChild(jl, config, { action: 'hang-until', succeedOnAttempt: 2 });

    // The dead child's attempt stays `running` in the ledger until someone delivers the job again.
    expect((await jl.ledger.getJob(id)).status).toBe('running');
    const worker = jl.createWorker({ concurrency: 2 });
    await worker.start();

    const job = await waitForStatus(jl, id, 'completed');
    expect(job.result).toEqual({ attempt: 2 });
    expect(job).toMatchObject({ attemptsStarted: 2, currentAttempt: 2, attemptsFailed: 0 });
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => [a.number, a.status])).toEqual([
      [1, 'stalled'],
      [2, 'succeeded'],
    ]);
    expect(attempts[0]!.finishedAt).not.toBeNull();
    expect(attempts[1]).toMatchObject({ pid: process.pid, workerId: worker.identity.workerId });
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.stalled', 'job.started', 'job.completed']);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events[2]!.payload).toMatchObject({ attempt: 1, detectedBy: worker.identity.workerId });
    expect(job.version).toBe(events.length);
    await jl.close();
  });

  it('fails a job that stalled more than maxStalledCount allows, with its attempt stalled', async () => {
    const { config, jl } = await openSharedJobLedger(dialect, { ...stallTimings, JOBLEDGER_MAX_STALLED_COUNT: '0' });
    // `hang-until` would succeed on attempt 2: if the processor ever ran again, the job would complete.
    const id = await loseAttemptInDeadChild(jl, config, { action: 'hang-until', succeedOnAttempt: 2 });

    await jl.createWorker({ concurrency: 2 }).start();
    const job = await waitForStatus(jl, id, ['failed', 'completed']);
    expect(job.status).toBe('failed');
    expect(job.statusReason).toBe('BullMQ: job stalled more than allowable limit');
    expect(job.lastError).toMatchObject({ name: 'StalledJobError' });
    expect(job.finishedAt).not.toBeNull();
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => [a.number, a.status])).toEqual([[1, 'stalled']]);
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.stalled', 'job.failed']);
    expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);

    // Redis agrees: BullMQ failed the job itself.
    const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
    const queue = track(new Queue(job.queue, { connection, prefix: config.redisPrefix }), 'BullMQ Queue');
    expect(await queue.getJobState(id)).toBe('failed');
    expect((await queue.getJob(id))?.failedReason).toBe('job stalled more than allowable limit');
    await queue.close();
    await connection.quit();
    await jl.close();
  });

  it('does not spend the retry budget on a stalled attempt', async () => {
    // maxStalledCount 1 (the default): the first stall re-queues. A job with one attempt in its budget
    // must still complete, because a lost attempt is not a failed one.
    const { config, jl } = await openSharedJobLedger(dialect, { ...stallTimings, JOBLEDGER_MAX_STALLED_COUNT: '1' });
    const child = await startChildWorker(config, { WORKER_CONCURRENCY: '1' });
    const { id } = await jl.enqueue('test.scripted', { action: 'hang-until', succeedOnAttempt: 2 }, { maxAttempts: 1 });
    await waitForStatus(jl, id, 'running');
    child.kill('SIGKILL');
    await child.close();

    await jl.createWorker().start();
    const job = await waitForStatus(jl, id, ['completed', 'failed']);
    expect(job).toMatchObject({ status: 'completed', maxAttempts: 1, attemptsFailed: 0, attemptsStarted: 2 });
    const { attempts } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => a.status)).toEqual(['stalled', 'succeeded']);
    expect((await eventsOf(jl, id)).filter((e) => e.type === 'job.completed')).toHaveLength(1);
    await jl.close();
  });
});
