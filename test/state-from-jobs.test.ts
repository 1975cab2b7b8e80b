import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../src/jobs/define-job.js';
import type { JobLedger } from '../src/jobledger.js';
import { PermanentJobError } from '../src/workers/classify-outcome.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';

const keyed = z.object({ key: z.string() });

/** Sets state, then throws on its first attempt; the second attempt sets it again and completes. */
const setThenFailOnce = defineJob({
  name: 'test.state-fail-once',
  schema: keyed,
  maxAttempts: 3,
  backoff: { type: 'fixed', delayMs: 10 },
  handler(payload, ctx) {
    ctx.state.set('orders', payload.key, { paidBy: 'attempt', attempt: ctx.attempt }, { status: 'paid', reason: 'payment captured' });
    if (ctx.attempt === 1) throw new Error('gateway timeout after the state write');
    return { attempt: ctx.attempt };
  },
});

/** Sets, changes the status of and deletes entries, and looks for its own (not yet applied) write. */
const setAndComplete = defineJob({
  name: 'test.state-complete',
  schema: keyed,
  async handler(payload, ctx) {
    ctx.state.set('inventory', payload.key, { count: 5 });
    ctx.state.updateStatus('inventory', 'existing', 'archived', { reason: 'replaced' });
    ctx.state.delete('inventory', 'obsolete');
    const data = { count: 1 };
    ctx.state.set('inventory', 'copied', data);
    data.count = 999; // the buffer holds a copy taken at the call
    const committed = await ctx.state.get('inventory', 'existing');
    return { sawOwnWrite: (await ctx.state.find('inventory', payload.key)) !== null, existingStatus: committed.status };
  },
});

/** Writes with an expectedVersion: `stale` conflicts on every attempt, `once` only on the first. */
const conflicting = defineJob({
  name: 'test.state-conflict',
  schema: z.object({ key: z.string(), mode: z.enum(['once', 'always']) }),
  maxAttempts: 2,
  backoff: { type: 'fixed', delayMs: 10 },
  async handler(payload, ctx) {
    const current = await ctx.state.get('accounts', payload.key);
    const expectedVersion = payload.mode === 'once' && ctx.attempt > 1 ? current.version : 0;
    ctx.state.set('accounts', payload.key, { balance: 50, by: ctx.attempt }, { expectedVersion });
    return { attempt: ctx.attempt };
  },
});

/** Sets state and then fails for good: nothing is applied. */
const setThenFailForGood = defineJob({
  name: 'test.state-permanent',
  schema: keyed,
  handler(payload, ctx) {
    ctx.state.set('orders', payload.key, { never: true });
    throw new PermanentJobError('refused');
  },
});

/** Sets state, then waits to be cancelled. */
const setThenWait = defineJob({
  name: 'test.state-cancelled',
  schema: keyed,
  async handler(payload, ctx) {
    ctx.state.set('orders', payload.key, { never: true });
    await sleep(30_000, undefined, { signal: ctx.signal });
  },
});

const jobs = [setThenFailOnce, setAndComplete, conflicting, setThenFailForGood, setThenWait];

async function stateEventCount(jl: JobLedger, subjectId: string) {
  return (await jl.ledger.listEvents({ subjectType: 'state', subjectId, limit: 1000 })).length;
}

describe.each(backends)('state written from job handlers on %s', (dialect) => {
  it('applies a retried job\'s state change exactly once: by the attempt that completed', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.state-fail-once', { key: 'o-1' });
    const job = await waitForStatus(jl, id, 'completed');
    expect(job.result).toEqual({ attempt: 2 });
    const { attempts } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);

    const entry = await jl.state.get('orders', 'o-1');
    expect(entry).toMatchObject({ version: 1, status: 'paid', data: { paidBy: 'attempt', attempt: 2 } });
    const history = await jl.state.history('orders', 'o-1');
    expect(history).toHaveLength(1);
    expect(history[0]).toMatchObject({ change: 'created', jobId: id, actor: 'job:test.state-fail-once', reason: 'payment captured' });
    // Written in the outcome's transaction: the same clock reading as the job's completion.
    expect(history[0]!.createdAt).toBe(job.finishedAt);
    expect(await stateEventCount(jl, 'orders/o-1')).toBe(1);
    await jl.close();
  });

  it('applies a completed attempt\'s buffered writes with its outcome, in key order, and none earlier', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.state.set('inventory', 'existing', { count: 1 });
    await jl.state.set('inventory', 'obsolete', { count: 0 });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.state-complete', { key: 'sku-1' });
    const job = await waitForStatus(jl, id, 'completed');
    // The handler read committed state only: its own write was not visible yet.
    expect(job.result).toEqual({ sawOwnWrite: false, existingStatus: 'active' });

    expect(await jl.state.get('inventory', 'sku-1')).toMatchObject({ version: 1, data: { count: 5 } });
    expect(await jl.state.get('inventory', 'existing')).toMatchObject({ version: 2, status: 'archived', data: { count: 1 } });
    await expect(jl.state.get('inventory', 'obsolete')).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(await jl.state.get('inventory', 'copied')).toMatchObject({ data: { count: 1 } });
    const byJob = await jl.ledger.read((sql) => sql.all('SELECT key, change, actor, created_at FROM state_transitions WHERE job_id = ? ORDER BY id', [id]));
    // Applied in (namespace, key) order, the lock order that keeps concurrent writers deadlock-free.
    expect(byJob.map((t) => [t.key, t.change, t.actor, Number(t.created_at)])).toEqual([
      ['copied', 'created', 'job:test.state-complete', job.finishedAt],
      ['existing', 'status_changed', 'job:test.state-complete', job.finishedAt],
      ['obsolete', 'deleted', 'job:test.state-complete', job.finishedAt],
      ['sku-1', 'created', 'job:test.state-complete', job.finishedAt],
    ]);
    await jl.close();
  });

  it('fails and retries the attempt whose buffered write conflicts, applying nothing of it', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.state.set('accounts', 'acc-1', { balance: 100 }, { actor: 'teller' });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.state-conflict', { key: 'acc-1', mode: 'once' });
    const job = await waitForStatus(jl, id, 'completed');
    expect(job.result).toEqual({ attempt: 2 });

    const { attempts, events } = await jl.ledger.getJobDetail(id);
    expect(attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
    expect(attempts[0]!.error).toMatchObject({ name: 'VersionConflictError', code: 'JOBLEDGER_VERSION_CONFLICT' });
    expect(events.map((e) => e.type)).toEqual([
      'job.enqueued',
      'job.started',
      'job.attempt_failed',
      'job.retry_scheduled',
      'job.started',
      'job.completed',
    ]);
    // Only the second attempt's write landed; the first left no transition and no event.
    expect(await jl.state.get('accounts', 'acc-1')).toMatchObject({ version: 2, data: { balance: 50, by: 2 } });
    const history = await jl.state.history('accounts', 'acc-1');
    expect(history.map((t) => [t.versionAfter, t.actor, t.jobId])).toEqual([
      [1, 'teller', null],
      [2, 'job:test.state-conflict', id],
    ]);
    expect(await stateEventCount(jl, 'accounts/acc-1')).toBe(2);
    await jl.close();
  });

  it('fails the job when its write conflicts on every attempt, and leaves the state alone', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.state.set('accounts', 'acc-2', { balance: 100 });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.state-conflict', { key: 'acc-2', mode: 'always' });
    const job = await waitForStatus(jl, id, 'failed');
    expect(job.statusReason).toMatch(/attempts exhausted .*JOBLEDGER_VERSION_CONFLICT/);
    expect((await jl.ledger.getJobDetail(id)).attempts.map((a) => a.status)).toEqual(['failed', 'failed']);
    expect(await jl.state.get('accounts', 'acc-2')).toMatchObject({ version: 1, data: { balance: 100 } });
    expect(await jl.state.history('accounts', 'acc-2')).toHaveLength(1);
    await jl.close();
  });

  it('applies nothing for an attempt that fails for good', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.state-permanent', { key: 'o-2' });
    await waitForStatus(jl, id, 'failed');
    expect(await jl.state.find('orders', 'o-2', { includeDeleted: true })).toBeNull();
    expect(await jl.state.history('orders', 'o-2')).toEqual([]);
    await jl.close();
  });

  it('applies nothing for an attempt cancelled while it runs', async () => {
    const jl = await openTestJobLedger(dialect, { jobs });
    const worker = jl.createWorker();
    await worker.start();
    const { id } = await jl.enqueue('test.state-cancelled', { key: 'o-3' });
    await waitFor(() => Promise.resolve(worker.runningCount === 1 ? true : undefined), 'the handler to be running');
    await jl.cancel({ jobId: id, reason: 'changed my mind', actor: 'alice' });
    await waitFor(async () => {
      const [attempt] = (await jl.ledger.getJobDetail(id)).attempts;
      return attempt?.status === 'cancelled' ? attempt : undefined;
    }, 'the attempt to end cancelled');
    await waitFor(() => Promise.resolve(worker.runningCount === 0 ? true : undefined), 'the worker to let go');
    expect(await jl.state.find('orders', 'o-3', { includeDeleted: true })).toBeNull();
    await jl.close();
  });
});
