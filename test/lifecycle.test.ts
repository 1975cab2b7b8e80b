import { describe, expect, it } from 'vitest';
import type { EventRow } from '../src/store/entities/index.js';
import type { SerializedError } from '../src/store/attempts/outcome.js';
import { scriptedJob, type Script } from './support/fixtures/scripted-job.js';
import { expectGaplessSeq } from './support/assertions.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';

/** The delays recorded by each `job.retry_scheduled` event, in order. */
const delaysOf = (events: readonly EventRow[]): number[] =>
  events.filter((e) => e.type === 'job.retry_scheduled').map((e) => (e.payload as { delayMs: number }).delayMs);

describe.each(backends)('job lifecycle on %s', (dialect) => {
  it('records enqueue, start and completion with their events, in order', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const worker = jl.createWorker({ concurrency: 2 });
    await worker.start();
    const { id, created } = await jl.enqueue('test.scripted', { action: 'succeed', result: { answer: 42 } });
    expect(created).toBe(true);
    const job = await waitForStatus(jl, id, 'completed');
    expect(job.result).toEqual({ answer: 42 });
    const detail = await jl.ledger.getJobDetail(id);
    expect(detail.attempts.map((a) => [a.number, a.status])).toEqual([[1, 'succeeded']]);
    expect(detail.events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'job.enqueued'],
      [2, 'job.started'],
      [3, 'job.completed'],
    ]);
    expect(detail.job.dispatchedAt).not.toBeNull();
    expect(detail.job.finishedAt).toBeGreaterThanOrEqual(detail.job.startedAt!);
    await jl.close();
  });

  it('retries with the recorded backoff and ends completed', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 3 }, { backoff: { type: 'fixed', delayMs: 50 } });
    await waitForStatus(jl, id, 'completed');
    const detail = await jl.ledger.getJobDetail(id);
    expect(detail.attempts.map((a) => a.status)).toEqual(['failed', 'failed', 'succeeded']);
    const scheduled = detail.events.filter((e) => e.type === 'job.retry_scheduled');
    expect(scheduled.map((e) => (e.payload as { delayMs: number }).delayMs)).toEqual([50, 50]);
    // The next attempt began no earlier than the recorded delay after the failure.
    expect(detail.attempts[1]!.startedAt - detail.attempts[0]!.finishedAt!).toBeGreaterThanOrEqual(45);
    await jl.close();
  });

  it('fails the job once its attempts are exhausted, keeping every attempt and a gapless event log', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', { action: 'throw' });
    const job = await waitForStatus(jl, id, 'failed');
    expect(job.statusReason).toMatch(/^attempts exhausted \(3 of 3\): scripted failure on attempt 3/);
    expect(job.attemptsStarted).toBe(3);
    expect(job.finishedAt).not.toBeNull();
    expect((job.lastError as SerializedError).message).toBe('scripted failure on attempt 3');
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => [a.number, a.status])).toEqual([[1, 'failed'], [2, 'failed'], [3, 'failed']]);
    expect(attempts.map((a) => (a.error as SerializedError).message)).toEqual([1, 2, 3].map((n) => `scripted failure on attempt ${n}`));
    expect(events.map((e) => e.type)).toEqual([
      'job.enqueued',
      'job.started', 'job.attempt_failed', 'job.retry_scheduled',
      'job.started', 'job.attempt_failed', 'job.retry_scheduled',
      'job.started', 'job.attempt_failed', 'job.failed',
    ]);
    expectGaplessSeq(events);
    expect(job.version).toBe(events.length);
    await jl.close();
  });

  it('fails at once on a permanent error, after one attempt', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', { action: 'throw-permanent' });
    const job = await waitForStatus(jl, id, 'failed');
    expect(job.statusReason).toMatch(/^permanent failure: scripted permanent failure/);
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => a.status)).toEqual(['failed']);
    expect((attempts[0]!.error as SerializedError).name).toBe('PermanentJobError');
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.attempt_failed', 'job.failed']);
    expectGaplessSeq(events);
    await jl.close();
  });

  it.each([
    ['a handler that honours its signal', { action: 'sleep', ms: 5000 }],
    ['a handler that ignores its signal', { action: 'hang' }],
  ] as const)('times out %s: the attempt is timed_out and the job fails', async (_, script) => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', script, { timeoutMs: 200, maxAttempts: 1 });
    const job = await waitForStatus(jl, id, 'failed');
    expect(job.statusReason).toMatch(/attempts exhausted \(1 of 1\).*timeout of 200 ms/);
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => a.status)).toEqual(['timed_out']);
    expect((attempts[0]!.error as SerializedError).name).toBe('TimeoutError');
    expect(attempts[0]!.durationMs).toBeGreaterThanOrEqual(190);
    expect(events.find((e) => e.type === 'job.attempt_failed')?.payload).toMatchObject({ status: 'timed_out' });
    expectGaplessSeq(events);
    await jl.close();
  });

  it('records non-Error throws safely and keeps the worker running', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker({ concurrency: 1 }).start();
    const actions = ['throw-string', 'throw-undefined', 'throw-circular'] as const;
    const ids: string[] = [];
    for (const action of actions) ids.push((await jl.enqueue('test.scripted', { action }, { maxAttempts: 1 })).id);
    for (const id of ids) await waitForStatus(jl, id, 'failed');
    const errors = await Promise.all(ids.map(async (id) => (await jl.ledger.getJobDetail(id)).attempts.map((a) => [a.status, a.error])));
    for (const attempts of errors) {
      expect(attempts).toHaveLength(1);
      expect(attempts[0]![0]).toBe('failed');
      expect((attempts[0]![1] as SerializedError).name).toBe('NonErrorThrown');
    }
    const [asString, asUndefined, asCircular] = errors.map((a) => a[0]![1] as SerializedError);
    expect(asString!.thrown).toBe('"a plain string"');
    expect(asUndefined!.thrown).toBe('undefined');
    expect(asCircular!.thrown).toMatch(/not serialisable/);

    const after = await jl.enqueue('test.scripted', { action: 'succeed', result: 'still alive' });
    expect((await waitForStatus(jl, after.id, 'completed')).result).toBe('still alive');
    await jl.close();
  });

  it('stores the final progress while rate-limiting job.progress events', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], env: { JOBLEDGER_PROGRESS_EVENT_INTERVAL_MS: '60000' } });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', { action: 'progress' });
    const job = await waitForStatus(jl, id, 'completed');
    expect(job.progress).toBe(100);
    const { events } = await jl.ledger.getJobDetail(id);
    const progress = events.filter((e) => e.type === 'job.progress');
    expect(progress).toHaveLength(1);
    expect(progress[0]!.payload).toMatchObject({ attempt: 1, progress: 20 });
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.progress', 'job.completed']);
    expectGaplessSeq(events);
    await jl.close();
  });

  it('uses per-enqueue maxAttempts and backoff over the job type defaults', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const fixed = await jl.enqueue('test.scripted', { action: 'throw' }, { maxAttempts: 2, backoff: { type: 'fixed', delayMs: 30 } });
    const exponential = await jl.enqueue('test.scripted', { action: 'throw' }, { maxAttempts: 4, backoff: { type: 'exponential', delayMs: 20 } });
    for (const [{ id }, attempts, delays] of [
      [fixed, 2, [30]],
      [exponential, 4, [20, 40, 80]],
    ] as const) {
      const job = await waitForStatus(jl, id, 'failed');
      expect(job.maxAttempts).toBe(attempts);
      expect(job.statusReason).toMatch(new RegExp(`^attempts exhausted \\(${attempts} of ${attempts}\\)`));
      const detail = await jl.ledger.getJobDetail(id);
      expect(detail.attempts).toHaveLength(attempts);
      expect(delaysOf(detail.events)).toEqual(delays);
      // Each retry began no earlier than its recorded delay after the failure before it.
      detail.attempts.slice(1).forEach((a, i) => {
        expect(a.startedAt - detail.attempts[i]!.finishedAt!).toBeGreaterThanOrEqual(delays[i]! - 5);
      });
    }
    await jl.close();
  });

  it('keeps a delayed job delayed until its runAt, then runs it', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const script: Script = { action: 'succeed' };
    const enqueued = await jl.enqueue('test.scripted', script, { delayMs: 300 });
    expect(enqueued.status).toBe('delayed');
    const before = await jl.ledger.getJob(enqueued.id);
    expect(before.runAt - before.createdAt).toBe(300);
    // Read right after enqueue: either still delayed, or (on a very slow machine) already past runAt.
    if (Date.now() < before.runAt) expect(before.status).toBe('delayed');
    await waitForStatus(jl, enqueued.id, 'completed');
    const { attempts } = await jl.ledger.getJobDetail(enqueued.id);
    expect(attempts).toHaveLength(1);
    expect(attempts[0]!.startedAt).toBeGreaterThanOrEqual(before.runAt);
    await jl.close();
  });
});
