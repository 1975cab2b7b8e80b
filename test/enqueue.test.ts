import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { NotFoundError } from '../src/errors.js';
import { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/ids.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';
import { openQueue, openRedisProbe } from './support/redis.js';
import { testRedisUrl } from './support/services.js';

describe.each(backends)('enqueue on %s', (dialect) => {
  it('returns the existing job for a repeated idempotency key, also within one bulk call', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const first = await jl.enqueue('test.scripted', { action: 'succeed' }, { idempotencyKey: 'order-1' });
    const again = await jl.enqueue('test.scripted', { action: 'succeed', tag: 'different payload' }, { idempotencyKey: 'order-1' });
    expect(first.created).toBe(true);
    expect(again).toEqual({ id: first.id, created: false, payloadMatched: false, status: 'queued' });

    const bulk = await jl.enqueueBulk([
      { name: 'test.scripted', payload: { action: 'succeed' }, options: { idempotencyKey: 'order-2' } },
      { name: 'test.scripted', payload: { action: 'succeed' }, options: { idempotencyKey: 'order-2' } },
      { name: 'test.scripted', payload: { action: 'succeed' }, options: { idempotencyKey: 'order-1' } },
    ]);
    expect(bulk.map((j) => j.created)).toEqual([true, false, false]);
    expect(bulk[1]!.id).toBe(bulk[0]!.id);
    expect(bulk[2]!.id).toBe(first.id);
    expect(await jl.ledger.countRows('jobs')).toBe(2);
    expect(await jl.ledger.countRows('events')).toBe(2);
    await jl.close();
  });

  it('lets exactly one of many concurrent enqueues with the same key create the job', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) => jl.enqueue('test.scripted', { action: 'succeed', tag: `try ${i}` }, { idempotencyKey: 'race' })),
    );
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.id)).size).toBe(1);
    expect(await jl.ledger.countRows('jobs')).toBe(1);
    expect(await jl.ledger.countRows('events')).toBe(1);
    await jl.close();
  });

  it('hands the job to BullMQ under its ledger id, carrying no payload', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const queue = openQueue(jl);
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed', tag: 'secret' }, { maxAttempts: 5, priority: 7 });
    const bullJob = await queue.getJob(id);
    expect(bullJob).toMatchObject({ id, name: 'test.scripted', data: {} });
    expect(bullJob!.opts).toMatchObject({ attempts: 5, priority: 7 });
    const row = await jl.ledger.getJob(id);
    expect(row).toMatchObject({ status: 'queued', payload: { action: 'succeed', tag: 'secret' }, maxAttempts: 5, priority: 7 });
    expect(row.dispatchedAt).not.toBeNull();
    await queue.close();
    await jl.close();
  });

  it('keeps an idempotency key after the job completed and Redis forgot it, and runs nothing again', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const queue = openQueue(jl);
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed' }, { idempotencyKey: 'invoice-7' });
    await waitForStatus(jl, id, 'completed');
    await waitFor(async () => ((await queue.getJobState(id)) === 'completed' ? true : undefined), 'BullMQ to complete the job');
    expect(await queue.remove(id)).toBe(1);

    const again = await jl.enqueue('test.scripted', { action: 'succeed' }, { idempotencyKey: 'invoice-7' });
    expect(again).toEqual({ id, created: false, payloadMatched: true, status: 'completed' });
    expect(await queue.getJob(id)).toBeUndefined();
    // A job enqueued after it completes: had the duplicate been handed over, it would have run by now.
    const sentinel = await jl.enqueue('test.scripted', { action: 'succeed' });
    await waitForStatus(jl, sentinel.id, 'completed');
    expect((await jl.ledger.getJobDetail(id)).attempts).toHaveLength(1);
    expect(await jl.ledger.countRows('jobs')).toBe(2);
    await queue.close();
    await jl.close();
  });

  it('does not re-run a job that Redis delivers again after it is final', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const queue = openQueue(jl);
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed', result: 'once' });
    await waitForStatus(jl, id, 'completed');
    await waitFor(async () => ((await queue.getJobState(id)) === 'completed' ? true : undefined), 'BullMQ to complete the job');
    const before = await jl.ledger.getJobDetail(id);

    // Another producer (or a recovery gone wrong) hands the same id to Redis again.
    await queue.remove(id);
    await queue.add('test.scripted', {}, { jobId: id });
    await waitFor(async () => ((await queue.getJobState(id)) === 'completed' ? true : undefined), 'the redelivery to be processed');

    // Nothing ran again; the ledger records the refused redelivery as one event (actor redis).
    const after = await jl.ledger.getJobDetail(id);
    expect(after.job).toEqual({ ...before.job, version: before.job.version + 1, updatedAt: after.job.updatedAt });
    expect(after.job.status).toBe('completed');
    expect(after.attempts).toEqual(before.attempts);
    expect(after.events.slice(0, -1)).toEqual(before.events);
    expect(after.events.at(-1)).toMatchObject({ type: 'job.retry_refused', actor: 'redis', seq: before.job.version + 1 });
    await queue.close();
    await jl.close();
  });

  it('runs all 200 jobs of one enqueueBulk to completion', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker({ concurrency: 20 }).start();
    const enqueued = await jl.enqueueBulk(
      Array.from({ length: 200 }, (_, i) => ({ name: 'test.scripted', payload: { action: 'succeed', result: i } })),
    );
    expect(enqueued.every((j) => j.created && j.status === 'queued')).toBe(true);
    expect(new Set(enqueued.map((j) => j.id)).size).toBe(200);
    await waitFor(async () => ((await jl.ledger.countJobsByStatus()).completed === 200 ? true : undefined), '200 completed jobs', 50_000);
    expect(await jl.ledger.countRows('attempts')).toBe(200);
    const jobs = await jl.ledger.listJobs({ limit: 200 });
    expect(jobs.map((j) => j.result as number).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    await jl.close();
  });

  it('enqueues through the caller transaction: a commit runs the job', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const enqueued = await jl.transaction(jl.ledger.orm.em.fork(), async (tx) => tx.enqueue('test.scripted', { action: 'succeed', result: 'tx' }));
    expect(enqueued.created).toBe(true);
    expect((await waitForStatus(jl, enqueued.id, 'completed')).result).toBe('tx');
    await jl.close();
  });

  it('enqueues through the caller transaction: a rollback leaves no job, no event and nothing in Redis', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const probe = openRedisProbe(jl);
    let enqueuedId: string | undefined;
    const failing = jl.transaction(jl.ledger.orm.em.fork(), async (tx) => {
      enqueuedId = (await tx.enqueue('test.scripted', { action: 'succeed' })).id;
      throw new Error('the caller changed its mind');
    });
    await expect(failing).rejects.toThrow('the caller changed its mind');
    expect(enqueuedId).toMatch(/^job_/);
    await expect(jl.ledger.getJob(enqueuedId!)).rejects.toBeInstanceOf(NotFoundError);
    expect(await jl.ledger.countRows('jobs')).toBe(0);
    expect(await jl.ledger.countRows('events')).toBe(0);
    // The relay runs every 100 ms here: flush it once more so a leaked row would have reached Redis.
    expect(await jl.flushOutbox()).toEqual({ dispatched: [], deferred: [] });
    expect(await probe.keys()).toEqual([]);
    await probe.close();
    await jl.close();
  });

  it('keeps a job committed while Redis is down, and the relay of another process hands it over', async () => {
    const producer = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    const enqueued = await producer.enqueue('test.scripted', { action: 'succeed', result: 'relayed' });
    expect(enqueued).toMatchObject({ created: true, status: 'pending' });
    expect((await producer.ledger.getJob(enqueued.id)).dispatchedAt).toBeNull();

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
    await worker.createWorker().start();
    const job = await waitForStatus(worker, enqueued.id, 'completed');
    expect(job.result).toBe('relayed');
    expect(job.dispatchedAt).not.toBeNull();
    expect((await worker.ledger.getJobDetail(enqueued.id)).attempts).toHaveLength(1);
    await worker.close();
    await producer.close();
  });

  it('groups jobs in runs, lists them by run, and rejects an unknown run without writing', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const run = await jl.ledger.createRun({ name: 'nightly import', metadata: { source: 's3' }, actor: 'cron' });
    expect(run).toMatchObject({ name: 'nightly import', status: 'open', metadata: { source: 's3' }, finishedAt: null });
    const other = await jl.ledger.createRun({ name: 'other', actor: 'cron' });

    const inRun = await jl.enqueueBulk([
      { name: 'test.scripted', payload: { action: 'succeed' }, options: { runId: run.id } },
      { name: 'test.scripted', payload: { action: 'succeed' }, options: { runId: run.id } },
    ]);
    await jl.enqueue('test.scripted', { action: 'succeed' }, { runId: other.id });
    await jl.enqueue('test.scripted', { action: 'succeed' });
    const listed = await jl.ledger.listJobs({ runId: run.id });
    expect(listed.map((j) => j.id).sort()).toEqual(inRun.map((j) => j.id).sort());
    expect(listed.every((j) => j.runId === run.id)).toBe(true);

    const running = await jl.ledger.setRunStatus({ runId: run.id, status: 'running', actor: 'cron' });
    expect(running).toMatchObject({ status: 'running', version: 2, finishedAt: null });
    const done = await jl.ledger.setRunStatus({ runId: run.id, status: 'completed', reason: 'all imported', actor: 'cron' });
    expect(done).toMatchObject({ status: 'completed', statusReason: 'all imported', version: 3 });
    expect(done.finishedAt).not.toBeNull();
    expect(await jl.ledger.getRun(run.id)).toEqual(done);
    expect((await jl.ledger.listRuns()).map((r) => r.id).sort()).toEqual([run.id, other.id].sort());
    expect((await jl.ledger.listRuns({ status: 'completed' })).map((r) => r.id)).toEqual([run.id]);
    const runEvents = await jl.ledger.listEvents({ subjectType: 'run', subjectId: run.id });
    expect(runEvents.map((e) => [e.seq, e.type]).reverse()).toEqual([
      [1, 'run.created'],
      [2, 'run.status_changed'],
      [3, 'run.status_changed'],
    ]);

    const jobs = await jl.ledger.countRows('jobs');
    const events = await jl.ledger.countRows('events');
    const missing = newId('run');
    await expect(jl.enqueue('test.scripted', { action: 'succeed' }, { runId: missing })).rejects.toSatisfy(
      (e) => e instanceof NotFoundError && e.code === 'JOBLEDGER_NOT_FOUND' && e.message.includes(missing),
    );
    await expect(jl.ledger.getRun(missing)).rejects.toBeInstanceOf(NotFoundError);
    expect(await jl.ledger.countRows('jobs')).toBe(jobs);
    expect(await jl.ledger.countRows('events')).toBe(events);
    await jl.close();
  });
});
