/**
 * Hostile values from handlers (issue 21, items 3 and 4): whatever a handler throws, returns or
 * reports as progress, the attempt ends with a recorded outcome that counts against maxAttempts,
 * never `running`, never `stalled`, never a poison job; what cannot be stored is refused where it is
 * produced (a coded error to the handler for progress, a failed attempt with the reason for a
 * result). Both backends: PostgreSQL refuses NUL and lone surrogates that SQLite would keep.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineJob } from '../src/jobs/define-job.js';
import type { JobLedger } from '../src/jobledger.js';
import type { SerializedError } from '../src/store/attempts/outcome.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

/** Throws on every trap: `typeof` is the only thing that works on it. */
function trapEverything(): object {
  const boom = (): never => {
    throw new Error('trap');
  };
  return new Proxy({}, { get: boom, getPrototypeOf: boom, ownKeys: boom, has: boom, getOwnPropertyDescriptor: boom });
}

function errorWithThrowingGetters(...fields: string[]): Error {
  const error = new Error('hostile');
  for (const field of fields) {
    Object.defineProperty(error, field, {
      get() {
        throw new Error(`no ${field}`);
      },
    });
  }
  return error;
}

const hostileThrows: Record<string, () => unknown> = {
  'an Error whose name getter throws': () => errorWithThrowingGetters('name'),
  'an Error whose every field throws': () => errorWithThrowingGetters('name', 'message', 'stack', 'code', 'cause'),
  'a revoked proxy': revokedProxy,
  'a proxy whose every trap throws': trapEverything,
  null: () => null,
  undefined: () => undefined,
  'a symbol': () => Symbol('boom'),
  'an object with a hostile toString and toJSON': () => ({
    toString() {
      throw new Error('no string');
    },
    toJSON() {
      throw new Error('no JSON');
    },
  }),
  'an Error whose message holds NUL and a lone surrogate': () => new Error('bad\u0000\uD800message'),
  'a string cut mid surrogate pair by the cap': () => new Error(`${'x'.repeat(8171)}\u{1F600}${'y'.repeat(100)}`),
};

const throwingJob = defineJob({
  name: 'test.hostile-throw',
  schema: z.object({ kind: z.string() }),
  maxAttempts: 1,
  backoff: { type: 'fixed', delayMs: 10 },
  handler(payload) {
    throw hostileThrows[payload.kind]!();
  },
});

function deep(levels: number): unknown {
  let value: unknown = 'leaf';
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

class Money {
  constructor(readonly cents: number) {}
}

const cycle = (): unknown => {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  return o;
};

/** Values the ledger cannot store, each with what the refusal must name. */
const unstorable: Record<string, { make: () => unknown; says: string }> = {
  'a BigInt': { make: () => ({ total: 10n }), says: '.total: expected a JSON value (send a BigInt as a string), got 10n' },
  'a cycle': { make: cycle, says: '.self: expected a JSON value without circular references' },
  'a NUL in a string': { make: () => ({ text: 'a\u0000b' }), says: '.text: expected a string without NUL' },
  'a lone surrogate in a string': { make: () => ({ text: 'hunter2\uD800' }), says: 'got a string with a lone UTF-16 surrogate' },
  'a lone surrogate in a key': { make: () => ({ ['k\uDBFF']: 1 }), says: 'got a key with a lone UTF-16 surrogate' },
  'a Date': { make: () => ({ at: new Date(0) }), says: '.at: expected a plain object (convert it to JSON first), got a Date' },
  'a class instance': { make: () => ({ price: new Money(5) }), says: 'got a Money' },
  'a function': { make: () => ({ f: () => 1 }), says: '.f: expected a JSON value, got a function' },
  'nesting past the depth limit': { make: () => ({ d: deep(64) }), says: 'expected at most 64 levels of nested arrays and objects' },
  'a getter that throws': {
    make: () =>
      Object.defineProperty({}, 'secret', {
        enumerable: true,
        get() {
          throw new Error('no');
        },
      }),
    says: '.secret: expected plain data that can be read without error, got reading it threw a Error',
  },
  'a revoked proxy': { make: () => ({ p: revokedProxy() }), says: '.p: expected plain data that can be read without error' },
};

const resultJob = defineJob({
  name: 'test.hostile-result',
  schema: z.object({ kind: z.string() }),
  maxAttempts: 1,
  handler: (payload) => unstorable[payload.kind]!.make(),
});

/** Reports a valid value (written), then each unstorable one inside the rate-limit interval (held). */
const progressJob = defineJob({
  name: 'test.hostile-progress',
  schema: z.object({ kind: z.string(), first: z.boolean() }),
  maxAttempts: 1,
  async handler(payload, ctx) {
    if (!payload.first) await ctx.progress({ step: 1 }); // the next call falls inside the interval: held
    const value = unstorable[payload.kind]!.make() as Record<string, unknown>;
    try {
      await ctx.progress(value);
    } catch (error) {
      return { refused: (error as { code?: string }).code ?? 'uncoded', message: (error as Error).message };
    }
    return { refused: null };
  },
});

/** Reports a value that will be held, then changes its own object: what is stored is what was reported. */
const mutatingProgressJob = defineJob({
  name: 'test.mutating-progress',
  schema: z.object({}),
  maxAttempts: 1,
  async handler(_payload, ctx) {
    await ctx.progress({ step: 1 });
    const reported: Record<string, unknown> = { step: 2 };
    await ctx.progress(reported);
    reported.self = reported;
    reported.big = 1n;
    return { done: true };
  },
});

async function expectOneFailedAttempt(jl: JobLedger, id: string): Promise<{ reason: string; error: SerializedError }> {
  const job = await waitForStatus(jl, id, ['failed', 'completed']);
  const detail = await jl.ledger.getJobDetail(id);
  expect(job.status).toBe('failed');
  expect(detail.attempts.map((a) => a.status)).toEqual(['failed']);
  expect(detail.events.map((e) => e.type)).not.toContain('job.stalled');
  return { reason: job.statusReason ?? '', error: detail.attempts[0]!.error as SerializedError };
}

describe.each(backends)('hostile values from handlers on %s', (dialect) => {
  it('records any thrown value as a failed attempt with a safe description, counted against maxAttempts 1', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [throwingJob] });
    await jl.createWorker({ concurrency: 4 }).start();
    const kinds = Object.keys(hostileThrows);
    const jobs = await jl.enqueueBulk(kinds.map((kind) => ({ name: 'test.hostile-throw', payload: { kind } })));
    for (const [i, { id }] of jobs.entries()) {
      const { reason, error } = await expectOneFailedAttempt(jl, id);
      expect(reason, kinds[i]).toMatch(/^attempts exhausted \(1 of 1\): /);
      expect(typeof error.name).toBe('string');
      expect(typeof error.message).toBe('string');
      // What was stored is storable on both dialects.
      expect(JSON.stringify(error)).not.toMatch(/\\u0000|\\ud[89ab]/i);
    }
    await jl.close();
  });

  it('counts a hostile throw like any failure: retried while attempts remain, then failed', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [throwingJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.hostile-throw', { kind: 'a revoked proxy' }, { maxAttempts: 2 });
    await waitForStatus(jl, id, 'failed');
    const detail = await jl.ledger.getJobDetail(id);
    expect(detail.attempts.map((a) => a.status)).toEqual(['failed', 'failed']);
    expect(detail.job.statusReason).toMatch(/^attempts exhausted \(2 of 2\): a non-Error was thrown: an unreadable object/);
    await jl.close();
  });

  it('fails an attempt whose result cannot be stored, with the reason, counted and never stalled', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [resultJob] });
    await jl.createWorker({ concurrency: 4 }).start();
    const kinds = Object.keys(unstorable);
    const jobs = await jl.enqueueBulk(kinds.map((kind) => ({ name: 'test.hostile-result', payload: { kind } })));
    for (const [i, { id }] of jobs.entries()) {
      const { reason, error } = await expectOneFailedAttempt(jl, id);
      expect(error.code, kinds[i]).toBe('JOBLEDGER_UNSTORABLE_VALUE');
      expect(reason).toMatch(/^attempts exhausted \(1 of 1\): JOBLEDGER_UNSTORABLE_VALUE: result/);
      expect(reason).toContain(unstorable[kinds[i]!]!.says);
      expect(reason).not.toContain('hunter2');
    }
    await jl.close();
  });

  it('refuses a result over JOBLEDGER_MAX_RESULT_BYTES and retries it while attempts remain', async () => {
    const big = defineJob({ name: 'test.big-result', schema: z.object({}), maxAttempts: 2, backoff: { type: 'fixed', delayMs: 10 }, handler: () => ({ blob: 'x'.repeat(5000) }) });
    const jl = await openTestJobLedger(dialect, { jobs: [big], env: { JOBLEDGER_MAX_RESULT_BYTES: '4096' } });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.big-result', {});
    const job = await waitForStatus(jl, id, 'failed');
    expect(job.statusReason).toMatch(/^attempts exhausted \(2 of 2\): JOBLEDGER_UNSTORABLE_VALUE: result: expected at most 4096 bytes of JSON, got 50\d\d bytes/);
    expect((await jl.ledger.getJobDetail(id)).attempts.map((a) => a.status)).toEqual(['failed', 'failed']);
    await jl.close();
  });

  it.each([true, false])('refuses unstorable progress at once with a coded error, held or written (first call: %s)', async (first) => {
    const jl = await openTestJobLedger(dialect, { jobs: [progressJob] });
    await jl.createWorker({ concurrency: 4 }).start();
    const kinds = Object.keys(unstorable);
    const jobs = await jl.enqueueBulk(kinds.map((kind) => ({ name: 'test.hostile-progress', payload: { kind, first } })));
    for (const [i, { id }] of jobs.entries()) {
      const job = await waitForStatus(jl, id, ['completed', 'failed']);
      expect(job.status, kinds[i]).toBe('completed');
      const result = job.result as { refused: string; message: string };
      expect(result.refused, kinds[i]).toBe('JOBLEDGER_UNSTORABLE_VALUE');
      expect(result.message).toMatch(/^JOBLEDGER_UNSTORABLE_VALUE: progress/);
      expect(result.message).toContain(unstorable[kinds[i]!]!.says);
      // Nothing of the refused value was kept: the progress is the valid one reported before, or none.
      expect(job.progress).toEqual(first ? null : { step: 1 });
      const detail = await jl.ledger.getJobDetail(id);
      expect(detail.attempts.map((a) => a.status)).toEqual(['succeeded']);
    }
    await jl.close();
  });

  it('refuses a Date as progress instead of storing it as a string, and progress over JOBLEDGER_MAX_PROGRESS_BYTES', async () => {
    const job = defineJob({
      name: 'test.progress-kinds',
      schema: z.object({}),
      async handler(_payload, ctx) {
        const codes: string[] = [];
        for (const value of [new Date(0), { blob: 'x'.repeat(3000) }]) {
          await ctx.progress(value as never).catch((error: { code: string }) => codes.push(error.code));
        }
        return codes;
      },
    });
    const jl = await openTestJobLedger(dialect, { jobs: [job], env: { JOBLEDGER_MAX_PROGRESS_BYTES: '2048' } });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.progress-kinds', {});
    const done = await waitForStatus(jl, id, 'completed');
    expect(done.result).toEqual(['JOBLEDGER_UNSTORABLE_VALUE', 'JOBLEDGER_UNSTORABLE_VALUE']);
    expect(done.progress).toBeNull();
    await jl.close();
  });

  it('stores held progress as it was reported, whatever the handler does to its object afterwards', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [mutatingProgressJob] });
    await jl.createWorker().start();
    const { id } = await jl.enqueue('test.mutating-progress', {});
    const job = await waitForStatus(jl, id, ['completed', 'failed']);
    expect(job.status).toBe('completed');
    expect(job.progress).toEqual({ step: 2 });
    expect((await jl.ledger.getJobDetail(id)).attempts.map((a) => a.status)).toEqual(['succeeded']);
    await jl.close();
  });
});
