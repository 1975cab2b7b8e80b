/**
 * Shutdown in a real worker process (src/workers/shutdown.ts): the first SIGTERM drains running
 * attempts under the grace period, then aborts the rest and records them `interrupted` (the job is
 * queued again without spending its retry budget); a second signal forces exit code 130.
 */
import { describe, expect, it } from 'vitest';
import type { JobLedger } from '../src/jobledger.js';
import { backends } from './support/backends.js';
import { openSharedJobLedger, startChildWorker } from './support/child-worker.js';
import { waitForStatus } from './support/harness.js';

async function enqueueMany(jl: JobLedger, count: number, payload: Record<string, unknown>): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await jl.enqueue('test.scripted', { ...payload, tag: `job-${i}` })).id);
  return ids;
}

async function waitAllRunning(jl: JobLedger, ids: readonly string[]): Promise<void> {
  for (const id of ids) await waitForStatus(jl, id, 'running');
}

describe.each(backends)('worker process shutdown on %s', (dialect) => {
  it('lets attempts shorter than the grace period finish, then exits 0', async () => {
    const { config, jl } = await openSharedJobLedger(dialect, { JOBLEDGER_SHUTDOWN_GRACE_MS: '5000' });
    const child = await startChildWorker(config, { WORKER_CONCURRENCY: '5' });
    // Long enough to be certainly still running when the signal lands, well inside the grace.
    const ids = await enqueueMany(jl, 3, { action: 'sleep', ms: 1500 });
    await waitAllRunning(jl, ids);
    const signalledAt = Date.now();
    child.kill('SIGTERM');

    expect(await child.exited).toEqual({ code: 0, signal: null });
    for (const id of ids) {
      const { job, attempts, events } = await jl.ledger.getJobDetail(id);
      expect(job.status).toBe('completed');
      expect(job.result).toEqual({ slept: 1500 });
      expect(attempts.map((a) => a.status)).toEqual(['succeeded']);
      // Drained: the attempt was running when the signal came and finished after it.
      expect(attempts[0]!.finishedAt).toBeGreaterThanOrEqual(signalledAt);
      expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.completed']);
    }
    await jl.close();
  });

  it('interrupts attempts longer than the grace period and re-queues them without spending their budget', async () => {
    const { config, jl } = await openSharedJobLedger(dialect, { JOBLEDGER_SHUTDOWN_GRACE_MS: '300' });
    const child = await startChildWorker(config, { WORKER_CONCURRENCY: '5' });
    // Attempt 1 sleeps (honouring its signal) far past the grace; attempt 2 succeeds at once.
    const ids = await enqueueMany(jl, 3, { action: 'sleep-until', ms: 20_000, succeedOnAttempt: 2 });
    await waitAllRunning(jl, ids);
    child.kill('SIGTERM');

    expect(await child.exited).toEqual({ code: 0, signal: null });
    for (const id of ids) {
      const { job, attempts, events } = await jl.ledger.getJobDetail(id);
      expect(job).toMatchObject({ status: 'queued', statusReason: 'worker shutting down', attemptsFailed: 0 });
      expect(attempts.map((a) => a.status)).toEqual(['interrupted']);
      expect(attempts[0]!.finishedAt).not.toBeNull();
      expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.interrupted']);
      expect(events[2]!.payload).toMatchObject({ attempt: 1, reason: 'worker shutting down' });
    }

    // The job went back to BullMQ's wait list, so any worker picks it up again.
    await jl.createWorker({ concurrency: 5 }).start();
    for (const id of ids) {
      const job = await waitForStatus(jl, id, ['completed', 'failed']);
      expect(job).toMatchObject({ status: 'completed', result: { attempt: 2 }, attemptsStarted: 2, attemptsFailed: 0 });
      const { attempts, events } = await jl.ledger.getJobDetail(id);
      expect(attempts.map((a) => [a.number, a.status])).toEqual([
        [1, 'interrupted'],
        [2, 'succeeded'],
      ]);
      expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.interrupted', 'job.started', 'job.completed']);
      expect(events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    }
    await jl.close();
  });

  it('forces exit code 130 on a second SIGTERM during the drain; a later worker recovers the attempts as stalled', async () => {
    const { config, jl } = await openSharedJobLedger(dialect, {
      JOBLEDGER_SHUTDOWN_GRACE_MS: '20000',
      JOBLEDGER_LOCK_DURATION_MS: '1000',
      JOBLEDGER_STALLED_INTERVAL_MS: '500',
    });
    const child = await startChildWorker(config, { WORKER_CONCURRENCY: '5' });
    // Attempt 1 hangs and ignores its signal, so the drain cannot finish on its own.
    const ids = await enqueueMany(jl, 2, { action: 'hang-until', succeedOnAttempt: 2 });
    await waitAllRunning(jl, ids);
    child.kill('SIGTERM');
    await child.waitForLine('SIGNAL SIGTERM');
    child.kill('SIGTERM');

    expect(await child.exited).toEqual({ code: 130, signal: null });
    for (const id of ids) {
      // A forced exit writes nothing: the attempts are still `running` in the ledger.
      const { job, attempts } = await jl.ledger.getJobDetail(id);
      expect(job.status).toBe('running');
      expect(attempts.map((a) => a.status)).toEqual(['running']);
    }

    // "unfinished attempts will be recovered as stalled": BullMQ's stalled checker re-delivers them.
    await jl.createWorker({ concurrency: 5 }).start();
    for (const id of ids) {
      const job = await waitForStatus(jl, id, ['completed', 'failed']);
      expect(job).toMatchObject({ status: 'completed', result: { attempt: 2 } });
      const { attempts, events } = await jl.ledger.getJobDetail(id);
      expect(attempts.map((a) => a.status)).toEqual(['stalled', 'succeeded']);
      expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.stalled', 'job.started', 'job.completed']);
    }
    await jl.close();
  });
});
