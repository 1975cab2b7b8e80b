import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { InvalidOptionError, NotFoundError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { newId } from '../src/store/ids.js';
import { listEvents } from '../src/store/jobs/job-queries.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';

const orderJob = defineJob({
  name: 'test.order',
  schema: z.object({ customer: z.object({ id: z.string(), vip: z.boolean() }), amount: z.number() }),
  handler: (order) => ({ charged: order.amount }),
});
const order = (customerId: string, amount: number, vip = false) => ({ customer: { id: customerId, vip }, amount });

/** Waits until the clock has moved past `ms`, so the next row's timestamp is strictly later. */
const tick = (ms: number) => waitFor(() => Promise.resolve(Date.now() > ms ? true : undefined), 'the clock to move on');
const ids = (rows: readonly { id: string }[]) => rows.map((r) => r.id).sort();

async function rejectsOption(promise: Promise<unknown>, option: string): Promise<void> {
  await expect(promise).rejects.toSatisfy(
    (e) => e instanceof InvalidOptionError && e.option === option && e.code === 'JOBLEDGER_INVALID_OPTION',
  );
}

describe.each(backends)('ledger queries on %s', (dialect) => {
  it('filters jobs by status and counts them by status', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, orderJob] });
    await jl.createWorker().start();
    const done = await jl.enqueueBulk([0, 1].map(() => ({ name: 'test.scripted', payload: { action: 'succeed' } })));
    const failed = await jl.enqueue('test.scripted', { action: 'throw-permanent' });
    const later = await jl.enqueue('test.order', order('1', 5), { delayMs: 60_000 });
    for (const { id } of done) await waitForStatus(jl, id, 'completed');
    await waitForStatus(jl, failed.id, 'failed');

    expect(ids(await jl.ledger.listJobs({ status: 'completed' }))).toEqual(ids(done));
    expect(ids(await jl.ledger.listJobs({ status: ['failed', 'delayed'] }))).toEqual(ids([failed, later]));
    expect(await jl.ledger.countJobsByStatus()).toEqual({ pending: 0, queued: 0, delayed: 1, running: 0, completed: 2, failed: 1, cancelled: 0 });
    expect(await jl.ledger.countJobsByStatus({ name: 'test.order' })).toMatchObject({ delayed: 1, completed: 0, failed: 0 });
    await rejectsOption(jl.ledger.listJobs({ status: 'done' as never }), 'status');
    await jl.close();
  });

  it('filters jobs by name, run and creation window', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, orderJob] });
    const run = await jl.ledger.createRun({ name: 'batch', actor: 'test' });
    const early = await jl.enqueue('test.scripted', { action: 'succeed' });
    const earlyRow = await jl.ledger.getJob(early.id);
    await tick(earlyRow.createdAt);
    const middle = await jl.enqueueBulk([
      { name: 'test.order', payload: order('1', 5), options: { runId: run.id } },
      { name: 'test.order', payload: order('2', 6), options: { runId: run.id } },
    ]);
    const middleAt = (await jl.ledger.getJob(middle[0]!.id)).createdAt;
    await tick(middleAt);
    const late = await jl.enqueue('test.scripted', { action: 'succeed' });

    expect(ids(await jl.ledger.listJobs({ name: 'test.order' }))).toEqual(ids(middle));
    expect(ids(await jl.ledger.listJobs({ name: 'test.scripted' }))).toEqual(ids([early, late]));
    expect(ids(await jl.ledger.listJobs({ runId: run.id }))).toEqual(ids(middle));
    expect(await jl.ledger.listJobs({ runId: newId('run') })).toEqual([]);
    expect(ids(await jl.ledger.listJobs({ since: middleAt }))).toEqual(ids([...middle, late]));
    expect(ids(await jl.ledger.listJobs({ until: middleAt }))).toEqual(ids([early]));
    expect(ids(await jl.ledger.listJobs({ since: middleAt, until: middleAt + 1 }))).toEqual(ids(middle));
    expect(ids(await jl.ledger.listJobs({ since: middleAt, name: 'test.scripted' }))).toEqual(ids([late]));
    expect(await jl.ledger.countJobsByStatus({ runId: run.id })).toMatchObject({ queued: 2 });
    await jl.close();
  });

  it('filters jobs by nested payload fields, compared as text', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, orderJob] });
    const jobs = await jl.enqueueBulk([
      { name: 'test.order', payload: order('42', 10, true) },
      { name: 'test.order', payload: order('42', 11) },
      { name: 'test.order', payload: order('7', 10) },
      { name: 'test.order', payload: order('420', 2.5, true) },
    ]);
    const [vip42, plain42, plain7, vip420] = jobs;
    expect(ids(await jl.ledger.listJobs({ where: { 'customer.id': '42' } }))).toEqual(ids([vip42!, plain42!]));
    expect(ids(await jl.ledger.listJobs({ where: { amount: 10 } }))).toEqual(ids([vip42!, plain7!]));
    expect(ids(await jl.ledger.listJobs({ where: { amount: 2.5 } }))).toEqual(ids([vip420!]));
    expect(ids(await jl.ledger.listJobs({ where: { 'customer.vip': true } }))).toEqual(ids([vip42!, vip420!]));
    expect(ids(await jl.ledger.listJobs({ where: { 'customer.vip': false, 'customer.id': '42' } }))).toEqual(ids([plain42!]));
    expect(await jl.ledger.listJobs({ where: { 'customer.id': '42', name: 'x' } })).toEqual([]);
    expect(await jl.ledger.countJobsByStatus({ where: { 'customer.id': '42' } })).toMatchObject({ queued: 2 });
    await jl.close();
  });

  it('pages through jobs newest first with limit and offset', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const enqueued: string[] = [];
    for (let i = 0; i < 5; i++) enqueued.push((await jl.enqueue('test.scripted', { action: 'succeed', tag: `n${i}` })).id);
    const newestFirst = [...enqueued].reverse();
    const page = (limit: number, offset?: number) =>
      jl.ledger.listJobs({ limit, ...(offset === undefined ? {} : { offset }) }).then((rows) => rows.map((r) => r.id));
    expect(await page(2)).toEqual(newestFirst.slice(0, 2));
    expect(await page(2, 2)).toEqual(newestFirst.slice(2, 4));
    expect(await page(2, 4)).toEqual(newestFirst.slice(4));
    expect(await page(2, 5)).toEqual([]);
    await rejectsOption(jl.ledger.listJobs({ limit: 0 }), 'limit');
    await rejectsOption(jl.ledger.listJobs({ limit: 10_001 }), 'limit');
    await jl.close();
  });

  it('lists events by type, subject and time, newest first', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const first = await jl.enqueue('test.scripted', { action: 'succeed' });
    const firstDone = await waitForStatus(jl, first.id, 'completed');
    await tick(firstDone.finishedAt!);
    const since = Date.now();
    const second = await jl.enqueue('test.scripted', { action: 'succeed' });
    await waitForStatus(jl, second.id, 'completed');

    const completed = await jl.ledger.listEvents({ type: 'job.completed' });
    expect(completed.map((e) => e.subjectId)).toEqual([second.id, first.id]);
    const ofFirst = await jl.ledger.listEvents({ subjectId: first.id });
    expect(ofFirst.map((e) => [e.seq, e.type])).toEqual([
      [3, 'job.completed'],
      [2, 'job.started'],
      [1, 'job.enqueued'],
    ]);
    expect(ofFirst.every((e) => e.subjectType === 'job')).toBe(true);
    const recent = await jl.ledger.listEvents({ since });
    expect(new Set(recent.map((e) => e.subjectId))).toEqual(new Set([second.id]));
    expect(recent).toHaveLength(3);
    const starts = await jl.ledger.listEvents({ type: ['job.enqueued', 'job.started'], since });
    expect(starts.map((e) => e.type).sort()).toEqual(['job.enqueued', 'job.started']);
    expect(await jl.ledger.listEvents({ subjectId: newId('job') })).toEqual([]);
    expect(await jl.ledger.listEvents({ limit: 2 })).toHaveLength(2);
    await jl.close();
  });

  it('lists the rarer event types through their partial index, and mixes them with the common ones', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await jl.createWorker().start();
    const ok = await jl.enqueue('test.scripted', { action: 'succeed' });
    const bad = await jl.enqueue('test.scripted', { action: 'throw-permanent' });
    await waitForStatus(jl, ok.id, 'completed');
    await waitForStatus(jl, bad.id, 'failed');

    expect((await jl.ledger.listEvents({ type: 'job.failed' })).map((e) => e.subjectId)).toEqual([bad.id]);
    const mixed = await jl.ledger.listEvents({ type: ['job.failed', 'job.completed'] });
    expect(mixed.map((e) => `${e.type} ${e.subjectId}`).sort()).toEqual([`job.completed ${ok.id}`, `job.failed ${bad.id}`].sort());

    // The statement listEvents sends, explained: a rare type is found through the partial index;
    // on SQLite a common one by walking created_at, not by reading the whole table and sorting it.
    const planOf = (type: string) =>
      jl.ledger.transaction(async (sql) => {
        const sent: { text: string; params: readonly unknown[] }[] = [];
        const recording = { ...sql, all: (text: string, params: readonly unknown[] = []) => (sent.push({ text, params }), sql.all(text, params)) };
        await listEvents(recording, { type });
        const { text, params } = sent[0]!;
        if (dialect === 'sqlite') return (await sql.all(`EXPLAIN QUERY PLAN ${text}`, params)).map((r) => String(r.detail)).join('\n');
        await sql.run('SET LOCAL enable_seqscan = off'); // the tables are tiny; cost would pick a scan
        return (await sql.all(`EXPLAIN ${text}`, params)).map((r) => String(r['QUERY PLAN'])).join('\n');
      });
    expect(await planOf('job.failed')).toContain('events_rare_type_created_at_index');
    if (dialect === 'sqlite') expect(await planOf('job.started')).toContain('SCAN events USING INDEX events_created_at_index');
    await jl.close();
  });

  it('reports an unknown job as NotFoundError and a bad payload path as InvalidOptionError', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const missing = newId('job');
    await expect(jl.ledger.getJobDetail(missing)).rejects.toSatisfy(
      (e) => e instanceof NotFoundError && e.code === 'JOBLEDGER_NOT_FOUND' && e.kind === 'job' && e.id === missing,
    );
    await expect(jl.ledger.getJob(missing)).rejects.toBeInstanceOf(NotFoundError);
    for (const path of ['bad path!', "x') OR 1=1 --", '.leading', 'trailing.', '']) {
      await rejectsOption(jl.ledger.listJobs({ where: { [path]: 'x' } }), 'where');
      await rejectsOption(jl.ledger.countJobsByStatus({ where: { [path]: 'x' } }), 'where');
    }
    await jl.close();
  });
});
