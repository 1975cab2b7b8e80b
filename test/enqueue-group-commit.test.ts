/**
 * Group-committed single enqueue (jobs/enqueue-batcher.ts): `enqueue` calls made in the same
 * event-loop turn share one ledger commit and one Redis hand-over per queue, and each caller gets
 * its own answer, as if it had been alone. The commits are counted by the ledger's own statistics
 * (`Ledger.enqueueCommitStats`), the Redis round trips by the BullMQ calls the dispatcher makes.
 */
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { DatabaseError, InvalidPayloadError, NotFoundError } from '../src/errors.js';
import { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/ids.js';
import type { Ledger } from '../src/store/ledger.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';
import { openQueue } from './support/redis.js';
import { testRedisUrl } from './support/services.js';

/** Commits (and jobs) the ledger's enqueue group commit has made so far. */
function commits(jl: JobLedger): { batches: number; writes: number; splits: number } {
  const { batches, writes, splits } = jl.ledger.enqueueCommitStats;
  return { batches, writes, splits };
}

/** What changed in `commits` since `before`. */
function since(jl: JobLedger, before: ReturnType<typeof commits>): ReturnType<typeof commits> {
  const now = commits(jl);
  return { batches: now.batches - before.batches, writes: now.writes - before.writes, splits: now.splits - before.splits };
}

async function completedCount(jl: JobLedger, n: number): Promise<true | undefined> {
  return (await jl.ledger.countJobsByStatus()).completed === n ? true : undefined;
}

/** Makes the insert of a job whose payload has `tag: "poison"` fail, on either dialect. */
async function refuseJobsTagged(ledger: Ledger, tag: string): Promise<void> {
  await ledger.transaction(async (tx) => {
    if (tx.dialect === 'sqlite') {
      await tx.run(
        `CREATE TRIGGER refuse_job BEFORE INSERT ON jobs WHEN json_extract(NEW.payload, '$.tag') = '${tag}'
         BEGIN SELECT RAISE(ABORT, 'job refused by the test'); END`,
      );
    } else {
      await tx.run(
        `CREATE OR REPLACE FUNCTION refuse_job() RETURNS trigger AS $$
         BEGIN RAISE EXCEPTION 'job refused by the test'; END $$ LANGUAGE plpgsql`,
      );
      await tx.run(`CREATE TRIGGER refuse_job BEFORE INSERT ON jobs FOR EACH ROW WHEN (NEW.payload->>'tag' = '${tag}') EXECUTE FUNCTION refuse_job()`);
    }
  });
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(backends)('group-committed single enqueue on %s', (dialect) => {
  it('commits 50 concurrent enqueues in one transaction and sends their adds to Redis together, each caller with its own job, all run', async () => {
    // No relay: its passes hand over again what is committed and not yet marked.
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    await jl.enqueue('test.scripted', { action: 'succeed', tag: 'warm-up' }); // the queue and the prefix claim exist
    // How many adds had been sent when each reply came: 50 for all of them means one round trip.
    const sentAtEachReply: number[] = [];
    let sent = 0;
    const add = Queue.prototype.add;
    const adds = vi.spyOn(Queue.prototype, 'add').mockImplementation(function (this: Queue, ...args: Parameters<Queue['add']>) {
      sent++;
      return add.apply(this, args).then((job) => {
        sentAtEachReply.push(sent);
        return job;
      });
    });
    const bulks = vi.spyOn(Queue.prototype, 'addBulk');
    const before = commits(jl);

    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) => jl.enqueue('test.scripted', { action: 'succeed', result: i })),
    );
    expect(since(jl, before)).toEqual({ batches: 1, writes: 50, splits: 0 });
    expect(bulks).not.toHaveBeenCalled();
    expect(adds).toHaveBeenCalledTimes(50);
    expect(sentAtEachReply).toEqual(Array.from({ length: 50 }, () => 50));
    expect(results.every((r) => r.created && r.payloadMatched && r.status === 'queued')).toBe(true);
    expect(new Set(results.map((r) => r.id)).size).toBe(50);

    await jl.createWorker({ concurrency: 10 }).start();
    await waitFor(() => completedCount(jl, 51), '51 completed jobs', 40_000);
    // Each caller's id is the job that ran its payload.
    for (const [i, r] of results.entries()) expect((await jl.ledger.getJob(r.id)).result).toBe(i);
    await jl.close();
  });

  it("answers each caller once its own job is in Redis, not the batch's last, and reads it back queued", async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    await jl.enqueue('test.scripted', { action: 'succeed', tag: 'warm-up' });
    // The add of the job tagged "slow" is held until the test lets it go.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const add = Queue.prototype.add;
    vi.spyOn(Queue.prototype, 'add').mockImplementation(async function (this: Queue, ...args: Parameters<Queue['add']>) {
      const job = await add.apply(this, args);
      const payloadOf = await jl.ledger.getJob(args[2]!.jobId!);
      if ((payloadOf.payload as { tag?: string }).tag === 'slow') await held;
      return job;
    });
    const answered: string[] = [];
    const calls = ['a', 'b', 'slow', 'c'].map((tag) =>
      jl.enqueue('test.scripted', { action: 'succeed', tag }).then((job) => {
        answered.push(tag);
        return job;
      }),
    );
    await waitFor(() => Promise.resolve(answered.length === 3 ? true : undefined), 'three callers answered while one add is held');
    expect(answered.sort()).toEqual(['a', 'b', 'c']);
    const [a] = await Promise.all([calls[0]!]);
    expect(a.status).toBe('queued');
    // Its mark is not written until the whole hand-over ends, unless this process reads first.
    expect((await jl.ledger.getJob(a.id)).status).toBe('queued');
    release();
    const slow = await calls[2]!;
    expect(slow.status).toBe('queued');
    expect((await jl.ledger.getJob(slow.id)).status).toBe('queued');
    await jl.close();
  });

  it('answers pending for the one job of a batch whose add fails, queued for the rest; the relay hands it over', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    await jl.enqueue('test.scripted', { action: 'succeed', tag: 'warm-up' });
    const add = Queue.prototype.add;
    vi.spyOn(Queue.prototype, 'add').mockImplementation(async function (this: Queue, ...args: Parameters<Queue['add']>) {
      const row = await jl.ledger.getJob(args[2]!.jobId!);
      if ((row.payload as { tag?: string }).tag === 'refused') throw new Error('add refused by the test');
      return add.apply(this, args);
    });
    const results = await Promise.all(
      ['a', 'refused', 'b'].map((tag) => jl.enqueue('test.scripted', { action: 'succeed', tag })),
    );
    expect(results.map((r) => r.status)).toEqual(['queued', 'pending', 'queued']);
    expect((await jl.ledger.getJob(results[0]!.id)).status).toBe('queued');
    expect((await jl.ledger.getJob(results[1]!.id)).status).toBe('pending');
    vi.restoreAllMocks();
    expect((await jl.flushOutbox()).dispatched).toEqual([results[1]!.id]);
    expect((await jl.ledger.getJob(results[1]!.id)).status).toBe('queued');
    await jl.close();
  });

  it('keeps delays, priorities and per-job options apart within one batch', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const queue = openQueue(jl);
    const before = commits(jl);
    const [plain, delayed, urgent] = await Promise.all([
      jl.enqueue('test.scripted', { action: 'succeed' }),
      jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 60_000 }),
      jl.enqueue('test.scripted', { action: 'succeed' }, { priority: 5, maxAttempts: 7, actor: 'checkout' }),
    ]);
    expect(since(jl, before).batches).toBe(1);
    expect([plain.status, delayed.status, urgent.status]).toEqual(['queued', 'delayed', 'queued']);
    expect(await queue.getJobState(delayed.id)).toBe('delayed');
    expect((await queue.getJob(urgent.id))!.opts).toMatchObject({ priority: 5, attempts: 7 });
    expect(await jl.ledger.getJob(urgent.id)).toMatchObject({ priority: 5, maxAttempts: 7 });
    const [enqueued] = await jl.ledger.listEvents({ subjectType: 'job', subjectId: urgent.id });
    expect(enqueued).toMatchObject({ type: 'job.enqueued', actor: 'checkout' });
    await queue.close();
    await jl.close();
  });

  it('gives duplicates of one idempotency key in a batch one job, as calls one after the other would', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const held = await jl.enqueue('test.scripted', { action: 'succeed' }, { idempotencyKey: 'held' });
    const before = commits(jl);
    const [first, second, third, again] = await Promise.all([
      jl.enqueue('test.scripted', { action: 'succeed', tag: 'first' }, { idempotencyKey: 'order-9' }),
      jl.enqueue('test.scripted', { action: 'succeed', tag: 'second' }, { idempotencyKey: 'order-9' }),
      jl.enqueue('test.scripted', { action: 'succeed' }),
      jl.enqueue('test.scripted', { action: 'succeed' }, { idempotencyKey: 'held' }),
    ]);
    expect(since(jl, before)).toEqual({ batches: 1, writes: 4, splits: 0 });
    expect(first).toMatchObject({ created: true, payloadMatched: true, status: 'queued' });
    expect(second).toEqual({ id: first.id, created: false, payloadMatched: false, status: first.status });
    expect(third).toMatchObject({ created: true, status: 'queued' });
    expect(again).toEqual({ id: held.id, created: false, payloadMatched: true, status: 'queued' });
    expect((await jl.ledger.getJob(first.id)).payload).toEqual({ action: 'succeed', tag: 'first' });
    expect(await jl.ledger.countRows('jobs')).toBe(3);
    expect(await jl.ledger.countRows('events')).toBe(3);
    await jl.close();
  });

  it('rejects only the caller with bad input or an unknown run; the others of the turn commit together', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const before = commits(jl);
    const settled = await Promise.allSettled([
      jl.enqueue('test.scripted', { action: 'succeed', tag: 'a' }),
      jl.enqueue('test.scripted', { action: 'no such action' }),
      jl.enqueue('test.scripted', { action: 'succeed', tag: 'b' }, { runId: newId('run') }),
      jl.enqueue('test.scripted', { action: 'succeed', tag: 'c' }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidPayloadError);
    expect((settled[2] as PromiseRejectedResult).reason).toBeInstanceOf(NotFoundError);
    expect(since(jl, before)).toEqual({ batches: 1, writes: 2, splits: 0 });
    expect(await jl.ledger.countRows('jobs')).toBe(2);
    await jl.close();
  });

  it('splits a batch one of whose jobs the database refuses: only that caller fails, the others commit and run', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await refuseJobsTagged(jl.ledger, 'poison');
    const before = commits(jl);
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => jl.enqueue('test.scripted', { action: 'succeed', tag: i === 4 ? 'poison' : `ok ${i}` })),
    );
    expect(settled.map((s) => s.status)).toEqual(settled.map((_, i) => (i === 4 ? 'rejected' : 'fulfilled')));
    const refused = (settled[4] as PromiseRejectedResult).reason as DatabaseError;
    expect(refused).toBeInstanceOf(DatabaseError);
    expect((refused.cause as Error).message).toMatch(/job refused by the test/);
    // One batch that failed whole, then each of its ten jobs alone.
    expect(since(jl, before)).toEqual({ batches: 1, writes: 10, splits: 1 });
    expect(await jl.ledger.countRows('jobs')).toBe(9);
    await jl.createWorker().start();
    await waitFor(() => completedCount(jl, 9), '9 completed jobs', 30_000);
    await jl.close();
  });

  it('does not batch a transactional enqueue: it commits and rolls back with the caller transaction', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const before = commits(jl);
    let inTransaction: string | undefined;
    const [rolledBack, ...plain] = await Promise.allSettled([
      jl.transaction(jl.ledger.orm.em.fork(), async (tx) => {
        inTransaction = (await tx.enqueue('test.scripted', { action: 'succeed' })).id;
        throw new Error('the caller changed its mind');
      }),
      ...Array.from({ length: 5 }, () => jl.enqueue('test.scripted', { action: 'succeed' })),
    ]);
    expect(rolledBack.status).toBe('rejected');
    expect(plain.every((p) => p.status === 'fulfilled')).toBe(true);
    expect(since(jl, before)).toEqual({ batches: 1, writes: 5, splits: 0 });
    await expect(jl.ledger.getJob(inTransaction!)).rejects.toBeInstanceOf(NotFoundError);

    const committed = await jl.transaction(jl.ledger.orm.em.fork(), (tx) => tx.enqueue('test.scripted', { action: 'succeed' }));
    expect(committed.created).toBe(true);
    expect(since(jl, before).writes).toBe(5);
    expect(await jl.ledger.countRows('jobs')).toBe(6);
    await jl.close();
  });

  it('leaves a batch committed when Redis fails, and the relay hands every job over later', async () => {
    const producer = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    const before = commits(producer);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => producer.enqueue('test.scripted', { action: 'succeed', result: i })),
    );
    expect(since(producer, before).batches).toBe(1);
    expect(results.every((r) => r.created && r.status === 'pending')).toBe(true);

    const config = loadConfig(
      {},
      {
        DATABASE_URL: producer.config.database.url,
        JOBLEDGER_REDIS_PREFIX: producer.config.redisPrefix,
        REDIS_URL: await testRedisUrl(),
        LOG_LEVEL: 'silent',
        JOBLEDGER_RELAY_INTERVAL_MS: '100',
        JOBLEDGER_RELAY_GRACE_MS: '0',
      },
    );
    const worker = track(await JobLedger.open({ jobs: [scriptedJob], config }), 'JobLedger(worker)');
    await worker.createWorker({ concurrency: 5 }).start();
    await waitFor(() => completedCount(worker, 20), '20 relayed jobs completed', 40_000);
    for (const [i, r] of results.entries()) expect((await worker.ledger.getJob(r.id)).result).toBe(i);
    await worker.close();
    await producer.close();
  });
});
