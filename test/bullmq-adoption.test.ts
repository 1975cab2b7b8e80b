/**
 * Jobs put on a jobledger queue by plain BullMQ (`Queue.add`, `addBulk`) are adopted: validated
 * against their job type's schema, recorded in the ledger with their origin and run once; one whose
 * payload the schema refuses is recorded `failed` with the validation error. Nothing is dropped.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../src/jobs/define-job.js';
import type { JobLedger } from '../src/jobledger.js';
import type { EventRow, JobRow } from '../src/store/entities/index.js';
import { newId } from '../src/store/ids.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { openQueue } from './support/redis.js';

const runs = new Map<string, number>();
const orderJob = defineJob({
  name: 'test.order',
  schema: z.object({ orderId: z.string(), amount: z.number().int().positive() }),
  handler: (payload) => {
    runs.set(payload.orderId, (runs.get(payload.orderId) ?? 0) + 1);
    return { charged: payload.amount };
  },
});

/** The ledger job adopted from BullMQ job `bullmqId` of queue `default`, once it exists. */
function adopted(jl: JobLedger, bullmqId: string): Promise<JobRow> {
  return waitFor(async () => {
    const [job] = (await jl.ledger.listJobs({ name: 'test.order' })).filter((j) => j.idempotencyKey === `bullmq:default:${bullmqId}`);
    return job;
  }, `the ledger job of BullMQ job ${bullmqId}`);
}

const enqueuedEvent = async (jl: JobLedger, jobId: string): Promise<EventRow> => (await jl.ledger.getJobDetail(jobId)).events.find((e) => e.type === 'job.enqueued')!;

describe.each(backends)('jobs added by plain BullMQ, on %s', (dialect) => {
  it('are adopted: valid ones run once with their origin recorded, an invalid one is recorded failed', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [orderJob] });
    await jl.createWorker().start();
    const queue = openQueue(jl);
    const tag = `${dialect}-${Date.now()}`;
    const single = await queue.add('test.order', { orderId: `${tag}-1`, amount: 5 });
    const bulk = await queue.addBulk([
      { name: 'test.order', data: { orderId: `${tag}-2`, amount: 7 } },
      { name: 'test.order', data: { orderId: `${tag}-3`, amount: -1 } },
    ]);

    for (const [bullJob, amount] of [[single, 5], [bulk[0]!, 7]] as const) {
      const row = await adopted(jl, bullJob.id!);
      const job = await waitForStatus(jl, row.id, 'completed');
      expect(job.result).toEqual({ charged: amount });
      expect(job.payload).toEqual(bullJob.data);
      const event = await enqueuedEvent(jl, row.id);
      expect(event.actor).toBe('bullmq');
      expect(event.payload).toMatchObject({ origin: { source: 'bullmq', queue: 'default', jobId: bullJob.id } });
      // The BullMQ job was carried over, not run: it completes naming its ledger job.
      await waitFor(async () => ((await queue.getJobState(bullJob.id!)) === 'completed' ? true : undefined), 'the BullMQ job to complete');
      expect((await queue.getJob(bullJob.id!))!.returnvalue).toEqual({ adoptedAs: row.id });
    }
    expect([runs.get(`${tag}-1`), runs.get(`${tag}-2`)]).toEqual([1, 1]);

    const invalid = await adopted(jl, bulk[1]!.id!);
    expect(invalid.status).toBe('failed');
    expect(invalid.attemptsStarted).toBe(0);
    expect(invalid.payload).toEqual({ orderId: `${tag}-3`, amount: -1 });
    expect((invalid.lastError as { message: string }).message).toMatch(/^JOBLEDGER_INVALID_PAYLOAD: test\.order\.amount: .*\(got -1\)/);
    const { events } = await jl.ledger.getJobDetail(invalid.id);
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.failed']);
    expect(events[0]!.payload).toMatchObject({ origin: { source: 'bullmq', jobId: bulk[1]!.id } });
    await waitFor(async () => ((await queue.getJobState(bulk[1]!.id!)) === 'failed' ? true : undefined), 'the invalid BullMQ job to fail');
    expect((await queue.getJob(bulk[1]!.id!))!.failedReason).toContain('JOBLEDGER_INVALID_PAYLOAD: test.order.amount');
    expect(runs.has(`${tag}-3`)).toBe(false);

    await queue.close();
    await jl.close();
  });

  it('maps a BullMQ job delivered again to the same ledger job, run once', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [orderJob] });
    await jl.createWorker().start();
    const queue = openQueue(jl);
    const orderId = `${dialect}-again-${Date.now()}`;
    const first = await queue.add('test.order', { orderId, amount: 3 }, { jobId: `order-${orderId}` });
    const row = await adopted(jl, first.id!);
    await waitForStatus(jl, row.id, 'completed');
    await waitFor(async () => ((await queue.getJobState(first.id!)) === 'completed' ? true : undefined), 'the BullMQ job to complete');

    // The same BullMQ job again (removed and re-added under its id, as a producer retrying would).
    await queue.remove(first.id!);
    const again = await queue.add('test.order', { orderId, amount: 3 }, { jobId: first.id! });
    await waitFor(async () => ((await queue.getJobState(again.id!)) === 'completed' ? true : undefined), 'the second BullMQ job to complete');
    expect((await queue.getJob(again.id!))!.returnvalue).toEqual({ adoptedAs: row.id });
    expect((await jl.ledger.listJobs({ name: 'test.order' })).map((j) => j.id)).toEqual([row.id]);
    expect(runs.get(orderId)).toBe(1);

    // A job under a ledger job id whose row is gone (pruned) is not brought back to life.
    const pruned = await queue.add('test.order', { orderId: `${orderId}-pruned`, amount: 1 }, { jobId: newId('job') });
    await waitFor(async () => ((await queue.getJobState(pruned.id!)) === 'failed' ? true : undefined), 'the job without a ledger row to fail');
    expect((await queue.getJob(pruned.id!))!.failedReason).toBe('no ledger row for this job id');
    expect((await jl.ledger.listJobs({ name: 'test.order' })).map((j) => j.id)).toEqual([row.id]);

    await queue.close();
    await jl.close();
  });
});
