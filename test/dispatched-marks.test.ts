/**
 * Dispatched marks are written behind the hand-over: marks queued while one write runs go together
 * in the next, the process's own reads wait for them, a failed write is logged and leaves its jobs
 * to the relay, and closing jobledger writes every mark still queued.
 */
import { describe, expect, it, vi } from 'vitest';
import { newId } from '../src/store/ids.js';
import type { Ledger } from '../src/store/ledger.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';
import { newJob, openTestLedger } from './support/ledger.js';

/** Makes the ledger's mark writes wait (a slow write) until the returned function is called. */
function holdMarkWrites(ledger: Ledger): () => void {
  const markDispatched = ledger.markDispatched.bind(ledger);
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  vi.spyOn(ledger, 'markDispatched').mockImplementation(async (ids) => {
    await gate;
    await markDispatched(ids);
  });
  return open;
}

describe.each(backends)('dispatched marks (%s)', (dialect) => {
  it('writes the marks queued during a write together in the next one, and reads wait for them', async () => {
    const ledger = await openTestLedger(dialect);
    const [a, b, c] = await ledger.insertJobs([newJob(), newJob(), newJob()]);
    const writes = vi.spyOn(ledger, 'markDispatched');
    const failures: unknown[] = [];

    await ledger.markDispatchedBehind([a!.id], (error) => failures.push(error));
    await vi.waitFor(() => expect(writes).toHaveBeenCalledTimes(1));
    await ledger.markDispatchedBehind([b!.id], (error) => failures.push(error));
    await ledger.markDispatchedBehind([c!.id], (error) => failures.push(error));
    // A read issued now sees all three, without anyone having waited for the writes.
    const rows = await Promise.all([a!, b!, c!].map((job) => ledger.getJob(job.id)));

    expect(writes.mock.calls.map(([ids]) => ids)).toEqual([[a!.id], [b!.id, c!.id]]);
    for (const row of rows) expect(row).toMatchObject({ status: 'queued', dispatchedAt: expect.any(Number) });
    expect(failures).toEqual([]);
    await ledger.close();
  });

  it('writes a promised mark when the rest of its hand-over queues it, or first when a read comes before', async () => {
    const ledger = await openTestLedger(dialect);
    const [a, b, c] = await ledger.insertJobs([newJob(), newJob(), newJob()]);
    const writes = vi.spyOn(ledger, 'markDispatched');
    const failures: unknown[] = [];
    const onFailure = (error: unknown): void => void failures.push(error);

    // Promised alone, a mark is not written: its hand-over is still running.
    const landed = new Set<string>();
    const release = ledger.promiseDispatchedMarks(landed, onFailure);
    landed.add(a!.id);
    landed.add(b!.id);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(writes).not.toHaveBeenCalled();
    // A read queues the promised marks before it and finds them written.
    expect((await ledger.getJob(a!.id)).status).toBe('queued');
    expect(writes.mock.calls.map(([ids]) => ids)).toEqual([[a!.id, b!.id]]);
    // The hand-over's end queues its jobs; one promised and queued goes once, with that write.
    landed.add(c!.id);
    await ledger.markDispatchedBehind([c!.id], onFailure);
    release();
    expect((await ledger.getJob(c!.id)).status).toBe('queued');
    expect(writes.mock.calls.map(([ids]) => ids)).toEqual([[a!.id, b!.id], [c!.id]]);
    expect(failures).toEqual([]);
    await ledger.close();
  });

  it('lets a repeated idempotency key read its job after the marks queued before it', async () => {
    const ledger = await openTestLedger(dialect);
    const [first] = await ledger.insertJobs([newJob({ idempotencyKey: 'order-1' })]);
    const open = holdMarkWrites(ledger);
    await ledger.markDispatchedBehind([first!.id], () => undefined);

    let settled = false;
    const again = ledger.insertJobs([newJob({ idempotencyKey: 'order-1' }), newJob()]).finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waitedForTheMark = !settled;
    open();
    const [existing, fresh] = await again;
    expect(waitedForTheMark).toBe(true);
    expect(existing).toMatchObject({ id: first!.id, created: false, job: { status: 'queued' } });
    expect(fresh).toMatchObject({ created: true, job: { status: 'pending' } });
    await ledger.close();
  });

  it('lets a transactional enqueue of a repeated key read its job after the marks queued before it', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    const open = holdMarkWrites(jl.ledger);
    const payload = { action: 'succeed', result: 'once' };
    const first = await jl.enqueue('test.scripted', payload, { idempotencyKey: 'order-1' });
    expect(first.status).toBe('queued');

    let settled = false;
    const again = jl
      .transaction(jl.ledger.orm.em.fork(), (tx) => tx.enqueue('test.scripted', payload, { idempotencyKey: 'order-1' }))
      .finally(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    const waitedForTheMark = !settled;
    open();
    expect(await again).toEqual({ id: first.id, created: false, payloadMatched: true, status: 'queued' });
    expect(waitedForTheMark).toBe(true);
    await jl.close();
  });

  it('does not hold a bulk without idempotency keys behind the marks', async () => {
    const ledger = await openTestLedger(dialect);
    const [first] = await ledger.insertJobs([newJob()]);
    const open = holdMarkWrites(ledger);
    await ledger.markDispatchedBehind([first!.id], () => undefined);
    const inserted = await ledger.insertJobs([newJob(), newJob()]);
    expect(inserted.map((j) => j.created)).toEqual([true, true]);
    open();
    expect(await ledger.getJob(first!.id)).toMatchObject({ status: 'queued' });
    await ledger.close();
  });

  it('reports a failed write to the callers whose jobs it held, and goes on with the next', async () => {
    const ledger = await openTestLedger(dialect);
    const [a, b, c] = await ledger.insertJobs([newJob(), newJob(), newJob()]);
    const writes = vi.spyOn(ledger, 'markDispatched');
    writes.mockRejectedValueOnce(new Error('connection reset'));
    const failures: Array<[string, string, number]> = [];
    const report = (caller: string) => (error: unknown, jobs: number) => failures.push([caller, (error as Error).message, jobs]);

    await ledger.markDispatchedBehind([a!.id, b!.id], report('first'));
    await ledger.markDispatchedBehind([], report('empty'));
    await ledger.getJob(a!.id);
    await ledger.markDispatchedBehind([c!.id], report('second'));

    expect((await ledger.findUndispatched(Date.now(), 10)).map((j) => j.id).sort()).toEqual([a!.id, b!.id].sort());
    expect(failures).toEqual([['first', 'connection reset', 2]]);
    expect(await ledger.getJob(c!.id)).toMatchObject({ status: 'queued', dispatchedAt: expect.any(Number) });
    await ledger.close();
  });

  it('makes the caller wait once more than 20,000 marks are queued', async () => {
    const ledger = await openTestLedger(dialect);
    const markDispatched = ledger.markDispatched.bind(ledger);
    let written = 0;
    vi.spyOn(ledger, 'markDispatched').mockImplementation(async (ids) => {
      await markDispatched(ids);
      written += ids.length;
    });
    const ids = Array.from({ length: 20_001 }, () => newId('job'));
    await ledger.markDispatchedBehind(ids, () => undefined);
    expect(written).toBe(20_001);
    await ledger.close();
  });

  it('writes every queued mark before the ledger closes', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    const enqueued = await jl.enqueueBulk(Array.from({ length: 300 }, (_, i) => ({ name: 'test.scripted', payload: { action: 'succeed', result: i } })));
    expect(new Set(enqueued.map((j) => j.status))).toEqual(new Set(['queued']));
    const url = jl.config.database.url;
    await jl.close();

    const ledger = await openTestLedger(dialect, url);
    expect(await ledger.countJobsByStatus()).toMatchObject({ queued: 300 });
    expect(await ledger.countUndispatched(0)).toBe(0);
    await ledger.close();
  });
});
