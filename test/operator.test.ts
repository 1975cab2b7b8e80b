import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { describe, expect, it, vi } from 'vitest';
import { IllegalTransitionError, InvalidIdError, InvalidOptionError, NotFoundError } from '../src/errors.js';
import type { JobLedger } from '../src/jobledger.js';
import type { Dispatcher } from '../src/jobs/dispatcher.js';
import { newId } from '../src/store/ids.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { expectGaplessSeq } from './support/assertions.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { openQueue } from './support/redis.js';

/** What a refused operator action must leave unchanged: the job, its history and the table sizes. */
async function snapshot(jl: JobLedger, jobId: string) {
  const detail = await jl.ledger.getJobDetail(jobId);
  return { detail, events: await jl.ledger.countRows('events'), attempts: await jl.ledger.countRows('attempts') };
}

describe.each(backends)('operator actions on %s', (dialect) => {
  it('cancels a delayed job: cancelled in the ledger with who and why, and gone from Redis', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const queue = openQueue(jl);
    const { id, status } = await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 60_000 });
    expect(status).toBe('delayed');
    expect(await queue.getJobState(id)).toBe('delayed');

    const result = await jl.cancel({ jobId: id, reason: 'customer withdrew', actor: 'alice' });
    expect(result.previousStatus).toBe('delayed');
    expect(result.job.status).toBe('cancelled');

    const { job, events, attempts } = await jl.ledger.getJobDetail(id);
    expect(job.status).toBe('cancelled');
    expect(job.statusReason).toBe('customer withdrew');
    expect(job.finishedAt).not.toBeNull();
    expect(attempts).toEqual([]);
    const cancelled = events.at(-1)!;
    expect(cancelled.type).toBe('job.cancelled');
    expect(cancelled.actor).toBe('alice');
    expect(cancelled.payload).toMatchObject({ reason: 'customer withdrew', previousStatus: 'delayed' });
    expectGaplessSeq(events);
    expect(await queue.getJob(id)).toBeUndefined();
    await queue.close();
    await jl.close();
  });

  it('cancels a queued job so that a worker started later never runs it, and retries it on request', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const queue = openQueue(jl);
    const { id, status } = await jl.enqueue('test.scripted', { action: 'succeed' });
    expect(status).toBe('queued');
    expect(await queue.getJobState(id)).toBe('waiting');
    expect((await jl.cancel({ jobId: id, reason: 'not now', actor: 'alice' })).previousStatus).toBe('queued');
    expect(await queue.getJob(id)).toBeUndefined();
    const sentinel = await jl.enqueue('test.scripted', { action: 'succeed' });
    const worker = jl.createWorker({ concurrency: 1 });
    await worker.start();
    await waitForStatus(jl, sentinel.id, 'completed');
    expect((await jl.ledger.getJobDetail(id)).attempts).toEqual([]);

    await jl.retry({ jobId: id, reason: 'now after all', actor: 'alice' });
    await waitForStatus(jl, id, 'completed');
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => [a.number, a.status])).toEqual([[1, 'succeeded']]);
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.cancelled', 'job.retried', 'job.started', 'job.completed']);
    expect(events[2]!.payload).toMatchObject({ previousStatus: 'cancelled', nextAttempt: 1 });
    expectGaplessSeq(events);
    await queue.close();
    await jl.close();
  });

  it('cancels a running job: its handler is aborted, the attempt ends cancelled and the job stays cancelled', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const worker = jl.createWorker();
    await worker.start();
    const { id } = await jl.enqueue('test.scripted', { action: 'sleep', ms: 10_000 });
    await waitFor(() => Promise.resolve(worker.runningCount === 1 ? true : undefined), 'the handler to be running');
    expect((await jl.ledger.getJob(id)).status).toBe('running');

    const result = await jl.cancel({ jobId: id, reason: 'stuck', actor: 'bob' });
    expect(result.previousStatus).toBe('running');

    const attempt = await waitFor(async () => {
      const [a] = (await jl.ledger.getJobDetail(id)).attempts;
      return a && a.status !== 'running' ? a : undefined;
    }, 'the running attempt to end');
    expect(attempt.status).toBe('cancelled');
    expect(attempt.durationMs).toBeLessThan(10_000);
    await waitFor(() => Promise.resolve(worker.runningCount === 0 ? true : undefined), 'the worker to let go');
    // BullMQ is told the job is over for good: it is not redelivered.
    const queue = openQueue(jl);
    await waitFor(async () => ((await queue.getJobState(id)) === 'failed' ? true : undefined), 'BullMQ to fail the job');
    await queue.close();

    const { job, events, attempts } = await jl.ledger.getJobDetail(id);
    expect(job.status).toBe('cancelled');
    expect(attempts).toHaveLength(1);
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.cancelled']);
    expect(events[2]).toMatchObject({ actor: 'bob', payload: { reason: 'stuck', previousStatus: 'running', runningAttempt: 1 } });
    expectGaplessSeq(events);
    await jl.close();
  });

  it('refuses to cancel a completed job and writes nothing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed' });
    await waitForStatus(jl, id, 'completed');
    const before = await snapshot(jl, id);

    const refused = jl.cancel({ jobId: id, reason: 'too late', actor: 'alice' });
    await expect(refused).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(refused).rejects.toMatchObject({ code: 'JOBLEDGER_ILLEGAL_TRANSITION', from: 'completed', transition: 'cancel' });
    expect(await snapshot(jl, id)).toEqual(before);
    await jl.close();
  });

  it('retries a failed job as a new attempt, keeping the history of the first life', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    // maxAttempts is 3: the first life fails; the operator's retry is attempt 4, which succeeds.
    const { id } = await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 4 });
    await waitForStatus(jl, id, 'failed');
    const firstLife = await jl.ledger.getJobDetail(id);
    expect(firstLife.attempts.map((a) => a.status)).toEqual(['failed', 'failed', 'failed']);

    const result = await jl.retry({ jobId: id, reason: 'upstream fixed', actor: 'carol' });
    expect(result.previousStatus).toBe('failed');
    expect(['pending', 'queued']).toContain(result.job.status);

    const job = await waitForStatus(jl, id, 'completed');
    expect(job.result).toEqual({ attempt: 4 });
    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => [a.number, a.status])).toEqual([[1, 'failed'], [2, 'failed'], [3, 'failed'], [4, 'succeeded']]);
    // The first life's attempts and events are untouched: retry appends, never overwrites.
    expect(attempts.slice(0, 3)).toEqual(firstLife.attempts);
    expect(events.slice(0, firstLife.events.length)).toEqual(firstLife.events);
    const retried = events[firstLife.events.length]!;
    expect(retried).toMatchObject({ type: 'job.retried', actor: 'carol', payload: { reason: 'upstream fixed', previousStatus: 'failed', nextAttempt: 4 } });
    expect(events.slice(firstLife.events.length + 1).map((e) => e.type)).toEqual(['job.started', 'job.completed']);
    expectGaplessSeq(events);
    await jl.close();
  });

  it('hands a retried job over once when the relay takes it at the same time: its fresh incarnation is never removed', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 4 });
    await waitForStatus(jl, id, 'failed');
    const queue = openQueue(jl);
    await waitFor(async () => ((await queue.getJobState(id)) === 'failed' ? true : undefined), 'BullMQ to fail the job');

    // The retry's hand-over reads the old incarnation's state; the relay takes the job right then.
    const dispatcher = (jl as unknown as { dispatcher: Dispatcher }).dispatcher;
    const getJobState = Queue.prototype.getJobState;
    let relay: Promise<unknown> | undefined;
    vi.spyOn(Queue.prototype, 'getJobState').mockImplementation(async function (this: Queue, jobId: string) {
      const state = await getJobState.call(this, jobId);
      if (jobId === id && relay === undefined) {
        relay = dispatcher.relayOnce(0);
        await Promise.race([relay, sleep(500)]);
      }
      return state;
    });
    const removes = vi.spyOn(Queue.prototype, 'remove');
    try {
      await jl.retry({ jobId: id, reason: 'upstream fixed' });
      await relay;
      expect(removes.mock.calls.filter(([jobId]) => jobId === id)).toHaveLength(1);
      await waitForStatus(jl, id, 'completed');
      const { events } = await jl.ledger.getJobDetail(id);
      expect(events.filter((e) => e.type === 'job.redis_removed')).toEqual([]);
    } finally {
      vi.restoreAllMocks();
      await queue.close();
      await jl.close();
    }
  });

  it('refuses to retry a queued or a running job', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const queued = await jl.enqueue('test.scripted', { action: 'succeed' });
    expect(queued.status).toBe('queued');
    const before = await snapshot(jl, queued.id);
    await expect(jl.retry({ jobId: queued.id, reason: 'again', actor: 'dave' })).rejects.toMatchObject({
      name: 'IllegalTransitionError',
      code: 'JOBLEDGER_ILLEGAL_TRANSITION',
      from: 'queued',
    });
    expect(await snapshot(jl, queued.id)).toEqual(before);

    const worker = jl.createWorker();
    await worker.start();
    await waitForStatus(jl, queued.id, 'completed');
    const running = await jl.enqueue('test.scripted', { action: 'sleep', ms: 10_000 });
    await waitForStatus(jl, running.id, 'running');
    const during = await snapshot(jl, running.id);
    const refused = jl.retry({ jobId: running.id, reason: 'again', actor: 'dave' });
    await expect(refused).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(refused).rejects.toMatchObject({ from: 'running' });
    expect(await snapshot(jl, running.id)).toEqual(during);
    await jl.cancel({ jobId: running.id, reason: 'end of test', actor: 'dave' });
    await jl.close();
  });

  it('rejects an unknown id, a malformed id, an empty reason and a bad actor with typed errors', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const unknown = newId('job');
    for (const action of [jl.cancel.bind(jl), jl.retry.bind(jl)]) {
      await expect(action({ jobId: unknown, reason: 'why not', actor: 'eve' })).rejects.toSatisfy(
        (e) => e instanceof NotFoundError && e.code === 'JOBLEDGER_NOT_FOUND' && e.message.includes(unknown),
      );
      await expect(action({ jobId: 'job_123', reason: 'why not', actor: 'eve' })).rejects.toSatisfy(
        (e) => e instanceof InvalidIdError && e.code === 'JOBLEDGER_INVALID_ID' && e.message.includes('"job_123"'),
      );
      await expect(action({ jobId: `run_${unknown.slice(4)}`, reason: 'why not' })).rejects.toBeInstanceOf(InvalidIdError);
      for (const actor of ['', 'x'.repeat(201)]) {
        await expect(action({ jobId: unknown, reason: 'why not', actor })).rejects.toSatisfy(
          (e) => e instanceof InvalidOptionError && e.option === 'actor',
        );
      }
      for (const reason of ['', '   ']) {
        await expect(action({ jobId: unknown, reason, actor: 'eve' })).rejects.toSatisfy(
          (e) => e instanceof InvalidOptionError && e.code === 'JOBLEDGER_INVALID_OPTION' && e.message.startsWith('JOBLEDGER_INVALID_OPTION: reason:'),
        );
      }
    }
    expect(await jl.ledger.countRows('events')).toBe(0);
    await jl.close();
  });
});
