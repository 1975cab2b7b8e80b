/**
 * Bull Board as a companion: a real Bull Board (`@bull-board/api` over jobledger's queue and
 * prefix, served by `@bull-board/fastify` on a loopback port) on the same Redis as a real worker.
 * With the mirror on, its own HTTP API shows the payload, progress, result, logs and failure reason
 * of jobledger jobs; its retry of a failed job is an operator retry in the ledger (actor `redis`),
 * its retry of a completed job a `job.retry_refused` event that runs nothing, and its promote of a
 * delayed job a `job.promoted` event, its remove of a job a `job.redis_removed` event (and an
 * unfinished job is handed to Redis again by reconcile). With the mirror off, Redis carries
 * nothing of the job but its id, as before.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import Fastify from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import { PermanentJobError, defineJob } from '../src/index.js';
import type { JobLedger } from '../src/jobledger.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { openQueue } from './support/redis.js';

/** Whether `bb.flaky` fails (permanently) when it runs: flipped by the test before Bull Board's retry. */
let flakyFails = true;

const reportJob = defineJob({
  name: 'bb.report',
  schema: z.object({ orderId: z.string() }),
  handler: async (payload, ctx) => {
    await ctx.progress({ done: 3, of: 4 });
    return { total: 42, orderId: payload.orderId };
  },
});
const flakyJob = defineJob({
  name: 'bb.flaky',
  schema: z.object({ orderId: z.string() }),
  maxAttempts: 1,
  handler: () => {
    if (flakyFails) throw new PermanentJobError('card declined');
    return { charged: true };
  },
});
const laterJob = defineJob({ name: 'bb.later', schema: z.object({ n: z.number() }), handler: (payload) => ({ n: payload.n }) });
const jobs = [reportJob, flakyJob, laterJob];

interface BoardJob {
  job: { id: string; finishedOn?: number; data: Record<string, unknown>; progress: unknown; returnValue: unknown; failedReason?: string; stacktrace: string[] };
  status: string;
}

/** A real Bull Board over the ledger's queue `default`, served on a loopback port; its API's base URL. */
async function startBullBoard(jl: JobLedger) {
  const queue = openQueue(jl);
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath('/board');
  createBullBoard({ queues: [new BullMQAdapter(queue)], serverAdapter });
  const app = Fastify();
  await app.register(serverAdapter.registerPlugin(), { prefix: '/board' });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/board/api`;
  const call = async (method: string, path: string): Promise<unknown> => {
    const response = await fetch(`${base}${path}`, { method });
    expect(response.status, `${method} ${path}`).toBeLessThan(300);
    const text = await response.text();
    return text ? JSON.parse(text) : undefined;
  };
  return {
    job: (id: string) => call('GET', `/queues/default/${id}`) as Promise<BoardJob>,
    logs: (id: string) => call('GET', `/queues/default/${id}/logs`) as Promise<string[]>,
    queues: () => call('GET', '/queues') as Promise<{ queues: { name: string }[] }>,
    retry: (id: string) => call('PUT', `/queues/default/${id}/retry`),
    promote: (id: string) => call('PUT', `/queues/default/${id}/promote`),
    /** Bull Board's "remove" of one job (BullMQ's `Job.remove`). */
    remove: (id: string) => call('PUT', `/queues/default/${id}/clean`),
    close: async () => {
      await app.close();
      await queue.close();
    },
  };
}

/**
 * Bull Board's view of a job once it is in `status` there. Bull Board reads the job's fields before
 * its state, so a job that finished in between shows its new state with its old fields: a finished
 * one counts once its `finishedOn` shows too.
 */
function boardJobIn(board: Awaited<ReturnType<typeof startBullBoard>>, id: string, status: string): Promise<BoardJob> {
  const finished = status === 'completed' || status === 'failed';
  return waitFor(async () => {
    const seen = await board.job(id);
    return seen.status === status && (!finished || seen.job.finishedOn) ? seen : undefined;
  }, `Bull Board to show ${id} ${status}`);
}

describe.each(backends)('Bull Board beside jobledger, on %s', (dialect) => {
  it('shows mirrored payload, progress, result, logs and failure; its retry and promote are recorded in the ledger', async () => {
    flakyFails = true;
    const jl = await openTestJobLedger(dialect, { jobs, env: { JOBLEDGER_BULL_BOARD_MIRROR: 'true', JOBLEDGER_BULL_BOARD_MIRROR_MAX_BYTES: '200' } });
    await jl.createWorker().start();
    const board = await startBullBoard(jl);
    try {
      expect((await board.queues()).queues.map((q) => q.name)).toContain('default');

      const report = await jl.enqueue('bb.report', { orderId: 'o-1' });
      await waitForStatus(jl, report.id, 'completed');
      const reported = await boardJobIn(board, report.id, 'completed');
      expect(reported.job.data).toMatchObject({ payload: { orderId: 'o-1' } });
      expect(reported.job.progress).toEqual({ done: 3, of: 4 });
      expect(reported.job.returnValue).toEqual({ total: 42, orderId: 'o-1' });
      expect(await board.logs(report.id)).toEqual([expect.stringMatching(/^attempt 1 completed after \d+ ms$/)]);

      // Bull Board's retry of a completed job: refused in the ledger, visibly (`job.retry_refused`
      // by `redis`); nothing runs, and Redis completes the job again with the ledger's result.
      await board.retry(report.id);
      const refused = await waitFor(async () => {
        const found = (await jl.ledger.getJobDetail(report.id)).events.find((e) => e.type === 'job.retry_refused');
        return found;
      }, 'the ledger to record the refused retry of a completed job');
      expect(refused).toMatchObject({ actor: 'redis', payload: { status: 'completed', reason: expect.stringMatching(/^the job completed in the ledger/) } });
      const stillCompleted = await jl.ledger.getJobDetail(report.id);
      expect(stillCompleted.job).toMatchObject({ status: 'completed', attemptsStarted: 1, result: { total: 42, orderId: 'o-1' } });
      expect(stillCompleted.attempts).toHaveLength(1);
      expect((await boardJobIn(board, report.id, 'completed')).job.returnValue).toEqual({ total: 42, orderId: 'o-1' });

      const flaky = await jl.enqueue('bb.flaky', { orderId: 'o-2' });
      await waitForStatus(jl, flaky.id, 'failed');
      const failed = await boardJobIn(board, flaky.id, 'failed');
      expect(failed.job.data).toMatchObject({ payload: { orderId: 'o-2' } });
      expect(failed.job.failedReason).toBe('permanent failure: card declined');
      expect(await board.logs(flaky.id)).toEqual([expect.stringMatching(/^attempt 1 failed after \d+ ms: PermanentJobError: card declined$/)]);

      // Bull Board's retry: an operator retry in the ledger, by `redis`, and the job runs again.
      flakyFails = false;
      await board.retry(flaky.id);
      const retried = await waitForStatus(jl, flaky.id, 'completed');
      expect(retried.result).toEqual({ charged: true });
      expect(retried.attemptsStarted).toBe(2);
      const { events, attempts } = await jl.ledger.getJobDetail(flaky.id);
      const retryEvent = events.find((e) => e.type === 'job.retried');
      expect(retryEvent).toMatchObject({ actor: 'redis', payload: { reason: 'retried from Redis (Bull Board)', previousStatus: 'failed', nextAttempt: 2 } });
      expect(attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
      const after = await boardJobIn(board, flaky.id, 'completed');
      expect(after.job.returnValue).toEqual({ charged: true });
      expect(await board.logs(flaky.id)).toEqual([
        expect.stringMatching(/^attempt 1 failed after/),
        expect.stringMatching(/^attempt 2 completed after \d+ ms$/),
      ]);

      // Bull Board's promote of a delayed job: recorded, and the ledger's run time follows.
      const later = await jl.enqueue('bb.later', { n: 7 }, { delayMs: 10 * 60_000 });
      const scheduledFor = (await jl.ledger.getJob(later.id)).runAt;
      // The producer mirrors the payload: Bull Board shows it before any attempt.
      expect((await boardJobIn(board, later.id, 'delayed')).job.data).toEqual({ payload: { n: 7 } });
      await board.promote(later.id);
      const promoted = await waitForStatus(jl, later.id, 'completed');
      expect(promoted.runAt).toBeLessThan(scheduledFor - 60_000);
      const promotedEvents = (await jl.ledger.getJobDetail(later.id)).events;
      expect(promotedEvents.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.promoted', 'job.completed']);
      expect(promotedEvents[2]).toMatchObject({ actor: 'redis', payload: { attempt: 1, scheduledFor } });

      // Past JOBLEDGER_BULL_BOARD_MIRROR_MAX_BYTES, a placeholder names the size; the ledger has it all.
      const big = await jl.enqueue('bb.report', { orderId: 'x'.repeat(300) });
      expect((await waitForStatus(jl, big.id, 'completed')).result).toEqual({ total: 42, orderId: 'x'.repeat(300) });
      const capped = await boardJobIn(board, big.id, 'completed');
      expect(capped.job.data).toMatchObject({ payload: { mirrored: false, bytes: Buffer.byteLength(JSON.stringify({ orderId: 'x'.repeat(300) })), maxBytes: 200 } });
      expect(capped.job.returnValue).toMatchObject({ mirrored: false, maxBytes: 200 });
    } finally {
      await board.close();
      await jl.close();
    }
  });

  it('keeps the ledger failure reason on a delivery of a failed job that was not retried in Redis', async () => {
    flakyFails = true;
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.createWorker().start();
    const queue = openQueue(jl);
    try {
      const flaky = await jl.enqueue('bb.flaky', { orderId: 'o-3' });
      await waitForStatus(jl, flaky.id, 'failed');
      await waitFor(async () => ((await queue.getJobState(flaky.id)) === 'failed' ? true : undefined), 'BullMQ to fail the job');
      // At-least-once delivery brings the failed job back as new (its Redis life begun again, as
      // after a Redis restore): it runs nothing, and Redis keeps the ledger's reason.
      await queue.remove(flaky.id);
      await queue.add('bb.flaky', {}, { jobId: flaky.id, attempts: 1 });
      await waitFor(async () => ((await queue.getJobState(flaky.id)) === 'failed' ? true : undefined), 'BullMQ to fail the delivery again');
      expect((await queue.getJob(flaky.id))!.failedReason).toBe('permanent failure: card declined');
      const detail = await jl.ledger.getJobDetail(flaky.id);
      expect(detail.job.status).toBe('failed');
      expect(detail.attempts).toHaveLength(1);
      expect(detail.events.map((e) => e.type)).not.toContain('job.retried');
    } finally {
      await queue.close();
      await jl.close();
    }
  });

  it('mirrors nothing with the mirror off: Redis carries only the id', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.createWorker().start();
    const board = await startBullBoard(jl);
    try {
      const report = await jl.enqueue('bb.report', { orderId: 'o-4' });
      await waitForStatus(jl, report.id, 'completed');
      const seen = await boardJobIn(board, report.id, 'completed');
      expect(seen.job.data).toEqual({});
      expect(seen.job.progress).toBe(0);
      expect(seen.job.returnValue).toBeNull();
      expect(await board.logs(report.id)).toEqual([]);
    } finally {
      await board.close();
      await jl.close();
    }
  });

  it("records a remove in Bull Board or BullMQ of a finished and of an unfinished job, never jobledger's own removals", async () => {
    flakyFails = true;
    // Removals are watched beside Bull Board, with the mirror on.
    const jl = await openTestJobLedger(dialect, { jobs, env: { JOBLEDGER_BULL_BOARD_MIRROR: 'true' } });
    await jl.createWorker().start();
    // A second worker sees the same removals: still one event per removal.
    await jl.createWorker().start();
    const board = await startBullBoard(jl);
    const queue = openQueue(jl);
    const removals = async (id: string) => (await jl.ledger.getJobDetail(id)).events.filter((e) => e.type === 'job.redis_removed');
    const recordedRemoval = (id: string) => waitFor(async () => (await removals(id))[0], `the ledger to record the removal of ${id}`);
    try {
      // A completed job removed in Bull Board: recorded, and the ledger keeps the job as it was.
      const report = await jl.enqueue('bb.report', { orderId: 'o-5' });
      await waitForStatus(jl, report.id, 'completed');
      await boardJobIn(board, report.id, 'completed');
      await board.remove(report.id);
      expect(await recordedRemoval(report.id)).toMatchObject({ actor: 'redis', payload: { redisState: 'completed', status: 'completed', handedBackByReconcile: false } });
      expect(await queue.getJobState(report.id)).toBe('unknown');
      expect((await jl.ledger.getJob(report.id)).status).toBe('completed');

      // A failed job removed with plain BullMQ (`Queue.remove`, as any BullMQ client can).
      const flaky = await jl.enqueue('bb.flaky', { orderId: 'o-6' });
      await waitForStatus(jl, flaky.id, 'failed');
      await waitFor(async () => ((await queue.getJobState(flaky.id)) === 'failed' ? true : undefined), 'BullMQ to fail the job');
      expect(await queue.remove(flaky.id)).toBe(1);
      expect(await recordedRemoval(flaky.id)).toMatchObject({ actor: 'redis', payload: { redisState: 'failed', status: 'failed' } });

      // A delayed job removed in Bull Board: recorded, and the next reconcile hands it to Redis again.
      const later = await jl.enqueue('bb.later', { n: 8 }, { delayMs: 10 * 60_000 });
      await boardJobIn(board, later.id, 'delayed');
      await board.remove(later.id);
      expect(await recordedRemoval(later.id)).toMatchObject({ actor: 'redis', payload: { redisState: 'delayed', status: 'delayed', handedBackByReconcile: true } });
      expect(await queue.getJobState(later.id)).toBe('unknown');
      expect((await jl.maintenance.run('reconcile')).outcome).toBe('succeeded');
      expect(await queue.getJobState(later.id)).toBe('delayed');

      // jobledger's own removals are none of these: a cancel removes the delayed job from Redis, and
      // an operator retry removes the failed incarnation before handing the job over again.
      const cancelled = await jl.enqueue('bb.later', { n: 9 }, { delayMs: 10 * 60_000 });
      await boardJobIn(board, cancelled.id, 'delayed');
      await jl.cancel({ jobId: cancelled.id, reason: 'not needed' });
      await waitFor(async () => ((await queue.getJobState(cancelled.id)) === 'unknown' ? true : undefined), 'the cancel to remove the job from Redis');
      const retried = await jl.enqueue('bb.flaky', { orderId: 'o-7' });
      await waitForStatus(jl, retried.id, 'failed');
      await waitFor(async () => ((await queue.getJobState(retried.id)) === 'failed' ? true : undefined), 'BullMQ to fail the job');
      flakyFails = false;
      await jl.retry({ jobId: retried.id, reason: 'card fixed' });
      await waitForStatus(jl, retried.id, 'completed');
      // A removal made after those is recorded: by then, theirs would have been too.
      const marker = await jl.enqueue('bb.report', { orderId: 'o-8' });
      await waitForStatus(jl, marker.id, 'completed');
      await boardJobIn(board, marker.id, 'completed');
      await board.remove(marker.id);
      await recordedRemoval(marker.id);
      expect(await removals(cancelled.id)).toEqual([]);
      expect(await removals(retried.id)).toEqual([]);
      expect(await removals(report.id)).toHaveLength(1);
      expect(await removals(flaky.id)).toHaveLength(1);
    } finally {
      await queue.close();
      await board.close();
      await jl.close();
    }
  });
});
