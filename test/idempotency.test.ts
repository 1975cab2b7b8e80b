/**
 * Idempotency keys, one behaviour at a time (the many-process races are in enqueue-race.test.ts):
 * a transactional enqueue waits for the transaction holding its key; the read-back loop ends in a
 * coded error when the holder keeps vanishing; a caller's transaction aborted for a lost lock race
 * runs again; `payloadMatched` tells the first payload from another.
 */
import { describe, expect, it } from 'vitest';
import { IdempotencyUnresolvedError } from '../src/errors.js';
import { JobLedger } from '../src/jobledger.js';
import { insertJobs } from '../src/store/jobs/job-writes.js';
import { sameJsonValue } from '../src/store/json-value.js';
import type { Sql } from '../src/store/engine/sql.js';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger } from './support/harness.js';
import { track } from './support/leak-check.js';
import { newJob, openTestLedger } from './support/ledger.js';

/**
 * A Sql on which the job holding `key` appears just before each keyed insert meets it, and is
 * deleted right after, before the insert's caller can read it back (as retention pruning might),
 * the first `times` inserts.
 */
function holderVanishes(sql: Sql, key: string, times: number): Sql {
  let left = times;
  return {
    dialect: sql.dialect,
    run: (text, params) => sql.run(text, params),
    all: async (text, params) => {
      if (left === 0 || !text.startsWith('INSERT INTO jobs')) return sql.all(text, params);
      left--;
      await insertJobs(sql, [newJob({ idempotencyKey: key })]);
      const inserted = await sql.all(text, params);
      await sql.run(`DELETE FROM events WHERE subject_id IN (SELECT id FROM jobs WHERE idempotency_key = ?)`, [key]);
      await sql.run(`DELETE FROM jobs WHERE idempotency_key = ?`, [key]);
      return inserted;
    },
  };
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe.each(backends)('idempotency keys on %s', (dialect) => {
  it('offers a key again when the job holding it vanished before it was read, and gives up with a coded error after five tries', async () => {
    const ledger = await openTestLedger(dialect);
    const job = newJob({ idempotencyKey: 'k-1' });
    const [inserted] = await ledger.transaction((tx) => insertJobs(holderVanishes(tx, 'k-1', 2), [job]));
    expect(inserted).toMatchObject({ id: job.id, created: true });

    const unlucky = newJob({ idempotencyKey: 'k-2' });
    const attempt = ledger.transaction((tx) => insertJobs(holderVanishes(tx, 'k-2', 5), [unlucky]));
    await expect(attempt).rejects.toSatisfy(
      (e) => e instanceof IdempotencyUnresolvedError && e.code === 'JOBLEDGER_IDEMPOTENCY_UNRESOLVED' && e.message.includes('"k-2"'),
    );
    // Nothing of the failed call stays: only the first call's job and its event.
    expect(await ledger.countRows('jobs')).toBe(1);
    expect(await ledger.countRows('events')).toBe(1);
    await ledger.close();
  });

  for (const ending of ['commits', 'rolls back'] as const) {
    it(`makes a transactional enqueue wait for the open transaction holding its key, which then ${ending}`, async () => {
      const a = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
      const b = track(await JobLedger.open({ jobs: [scriptedJob], config: a.config }), 'JobLedger(b)');
      const holding = deferred();
      const finish = deferred();
      const first = a.transaction(a.ledger.orm.em.fork(), async (tx) => {
        const job = await tx.enqueue('test.scripted', { action: 'succeed', tag: 'a' }, { idempotencyKey: 'held' });
        holding.resolve();
        await finish.promise;
        if (ending === 'rolls back') throw new Error('a changed its mind');
        return job;
      });
      await holding.promise;
      let waited = true;
      const second = b
        .transaction(b.ledger.orm.em.fork(), (tx) => tx.enqueue('test.scripted', { action: 'succeed', tag: 'b' }, { idempotencyKey: 'held' }))
        .finally(() => (waited = false));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(waited, 'the second enqueue waited for the first transaction').toBe(true);
      finish.resolve();

      if (ending === 'commits') {
        const [held, got] = await Promise.all([first, second]);
        expect(held.created).toBe(true);
        expect(got).toMatchObject({ id: held.id, created: false, payloadMatched: false });
      } else {
        await expect(first).rejects.toThrow('a changed its mind');
        const got = await second;
        expect(got).toMatchObject({ created: true, payloadMatched: true });
        expect((await a.ledger.getJob(got.id)).payload).toEqual({ action: 'succeed', tag: 'b' });
      }
      expect(await a.ledger.countRows('jobs')).toBe(1);
      await b.close();
      await a.close();
    });
  }

  it("runs the caller's transaction again when the database aborts it for a lost lock race, and commits it once", async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const transient = dialect === 'sqlite' ? Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) : Object.assign(new Error('deadlock detected'), { code: '40P01' });
    let runs = 0;
    const enqueued = await jl.transaction(jl.ledger.orm.em.fork(), async (tx) => {
      runs++;
      const job = await tx.enqueue('test.scripted', { action: 'succeed' }, { idempotencyKey: 'retried' });
      if (runs === 1) throw transient;
      return job;
    });
    expect(runs).toBe(2);
    expect(enqueued.created).toBe(true);
    expect(await jl.ledger.countRows('jobs')).toBe(1);
    expect(await jl.ledger.countRows('events')).toBe(1);
    expect((await jl.ledger.getJob(enqueued.id)).dispatchedAt).not.toBeNull();

    // Inside a transaction the caller opened, the work runs once and the error is the caller's.
    const em = jl.ledger.orm.em.fork();
    let nestedRuns = 0;
    const nested = em.transactional((outer) =>
      jl.transaction(outer, () => {
        nestedRuns++;
        return Promise.reject(transient);
      }),
    );
    await expect(nested).rejects.toBe(transient);
    expect(nestedRuns).toBe(1);
    await jl.close();
  });

  it('says whether the job holding a key has the name and payload of the call (the first payload wins)', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const payload = { action: 'succeed', result: { b: 1, a: [1, { y: 2, x: null }] }, tag: 'first' } as const;
    const first = await jl.enqueue('test.scripted', payload, { idempotencyKey: 'order-9' });
    // The same document with its keys in another order (jsonb keeps its own order on PostgreSQL).
    const same = await jl.enqueue('test.scripted', { tag: 'first', result: { a: [1, { x: null, y: 2 }], b: 1 }, action: 'succeed' }, { idempotencyKey: 'order-9' });
    const other = await jl.enqueue('test.scripted', { ...payload, tag: 'second' }, { idempotencyKey: 'order-9' });
    expect(first).toMatchObject({ created: true, payloadMatched: true });
    expect(same).toMatchObject({ id: first.id, created: false, payloadMatched: true });
    expect(other).toMatchObject({ id: first.id, created: false, payloadMatched: false });
    const bulk = await jl.enqueueBulk([
      { name: 'test.scripted', payload: { action: 'succeed', tag: 'x' }, options: { idempotencyKey: 'order-10' } },
      { name: 'test.scripted', payload: { action: 'succeed', tag: 'y' }, options: { idempotencyKey: 'order-10' } },
      { name: 'test.scripted', payload: { action: 'succeed', tag: 'x' }, options: { idempotencyKey: 'order-10' } },
    ]);
    expect(bulk.map((j) => [j.created, j.payloadMatched])).toEqual([
      [true, true],
      [false, false],
      [false, true],
    ]);
    expect((await jl.ledger.getJob(first.id)).payload).toEqual(payload);
    await jl.close();
  });
});

describe('sameJsonValue', () => {
  it('compares JSON documents whatever the order of their keys', () => {
    expect(sameJsonValue({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 })).toBe(true);
    expect(sameJsonValue({ a: 1, gone: undefined }, { a: 1 })).toBe(true);
    expect(sameJsonValue({ a: 1 }, { a: 1, b: null })).toBe(false);
    expect(sameJsonValue([1, 2], [2, 1])).toBe(false);
    expect(sameJsonValue({ 0: 'a' }, ['a'])).toBe(false);
    expect(sameJsonValue(null, {})).toBe(false);
    expect(sameJsonValue('1', 1)).toBe(false);
  });
});
