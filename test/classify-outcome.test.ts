/** The one function that decides what an attempt's result means (src/workers/classify-outcome.ts). */
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import type { BackoffPolicy } from '../src/jobs/backoff.js';
import { classifyOutcome, PermanentJobError, type AttemptResult, type RetryPolicy } from '../src/workers/classify-outcome.js';

const backoff: BackoffPolicy = { type: 'exponential', delayMs: 1000, jitter: 0.5 };
const firstOfThree: RetryPolicy = { maxAttempts: 3, attemptsFailed: 0, backoff };
const lastOfThree: RetryPolicy = { maxAttempts: 3, attemptsFailed: 2, backoff };
/** Jitter made deterministic: 0.25 of the jitter window above its floor. */
const options = { maxErrorChars: 8192, random: () => 0.25 };

const threw = (error: unknown): AttemptResult => ({ kind: 'threw', error });

describe('classifyOutcome', () => {
  describe('a handler that returned', () => {
    it('completes with the returned value', () => {
      expect(classifyOutcome({ kind: 'returned', value: { sent: 3 } }, firstOfThree, options)).toEqual({ type: 'completed', result: { sent: 3 }, resultJson: '{"sent":3}' });
    });

    it('stores undefined as null', () => {
      expect(classifyOutcome({ kind: 'returned', value: undefined }, firstOfThree, options)).toEqual({ type: 'completed', result: null });
    });

    it.each([
      ['a BigInt', { total: 10n }],
      ['a circular object', (() => { const o: Record<string, unknown> = {}; o.self = o; return o; })()], // prettier-ignore
    ])('fails the attempt like a thrown error, counted against maxAttempts, when the result cannot be stored (%s)', (_what, value) => {
      const retried = classifyOutcome({ kind: 'returned', value }, firstOfThree, options);
      expect(retried).toMatchObject({ type: 'retry', attemptStatus: 'failed', error: { name: 'UnstorableValueError', code: 'JOBLEDGER_UNSTORABLE_VALUE' } });
      const last = classifyOutcome({ kind: 'returned', value }, lastOfThree, options);
      expect(last.type === 'failed' && last.reason).toMatch(/^attempts exhausted \(3 of 3\): JOBLEDGER_UNSTORABLE_VALUE: result\./);
    });
  });

  describe('a handler that threw', () => {
    it('retries with the backoff delay while attempts remain', () => {
      // exponential 1000 ms, first failure: base 1000, jitter 0.5 → floor(0.25 * 1000 * 0.5 + 500) = 625
      const outcome = classifyOutcome(threw(new Error('boom')), firstOfThree, options);
      expect(outcome).toMatchObject({ type: 'retry', attemptStatus: 'failed', delayMs: 625, error: { name: 'Error', message: 'boom' } });
    });

    it('grows the delay with the failures already spent', () => {
      // second failure: base 2000 → floor(0.25 * 2000 * 0.5 + 1000) = 1250
      const outcome = classifyOutcome(threw(new Error('boom')), { ...firstOfThree, attemptsFailed: 1 }, options);
      expect(outcome).toMatchObject({ type: 'retry', delayMs: 1250 });
    });

    it('uses the fixed delay as is without jitter', () => {
      const policy: RetryPolicy = { maxAttempts: 5, attemptsFailed: 3, backoff: { type: 'fixed', delayMs: 40 } };
      expect(classifyOutcome(threw(new Error('boom')), policy, { maxErrorChars: 8192 })).toMatchObject({ type: 'retry', delayMs: 40 });
    });

    it('fails the job with "attempts exhausted" on its last attempt', () => {
      const outcome = classifyOutcome(threw(new Error('boom')), lastOfThree, options);
      expect(outcome).toEqual({
        type: 'failed',
        attemptStatus: 'failed',
        error: expect.objectContaining({ name: 'Error', message: 'boom' }),
        reason: 'attempts exhausted (3 of 3): boom',
      });
    });

    it('fails a single-attempt job at once', () => {
      const outcome = classifyOutcome(threw(new Error('boom')), { maxAttempts: 1, attemptsFailed: 0, backoff }, options);
      expect(outcome).toMatchObject({ type: 'failed', reason: 'attempts exhausted (1 of 1): boom' });
    });

    it.each([
      ['PermanentJobError', new PermanentJobError('bad input')],
      ["BullMQ's UnrecoverableError", new UnrecoverableError('bad input')],
    ])('fails at once on %s, attempts left or not', (name, error) => {
      const outcome = classifyOutcome(threw(error), firstOfThree, options);
      expect(outcome).toMatchObject({
        type: 'failed',
        attemptStatus: 'failed',
        error: { name: name.replace("BullMQ's ", ''), message: 'bad input' },
        reason: 'permanent failure: bad input',
      });
    });

    it('retries what is not an Error, described safely', () => {
      const outcome = classifyOutcome(threw('a plain string'), firstOfThree, options);
      expect(outcome).toMatchObject({ type: 'retry', attemptStatus: 'failed', error: { name: 'NonErrorThrown', thrown: '"a plain string"' } });
    });
  });

  describe('an attempt that timed out', () => {
    it('retries with attempt status timed_out while attempts remain', () => {
      const outcome = classifyOutcome({ kind: 'timed_out', timeoutMs: 250 }, firstOfThree, options);
      expect(outcome).toMatchObject({ type: 'retry', attemptStatus: 'timed_out', delayMs: 625, error: { name: 'TimeoutError' } });
      expect(outcome.type === 'retry' && outcome.error.message).toContain('250 ms');
    });

    it('fails with attempt status timed_out on the last attempt', () => {
      const outcome = classifyOutcome({ kind: 'timed_out', timeoutMs: 250 }, lastOfThree, options);
      expect(outcome).toMatchObject({ type: 'failed', attemptStatus: 'timed_out', error: { name: 'TimeoutError' } });
      expect(outcome.type === 'failed' && outcome.reason).toMatch(/^attempts exhausted \(3 of 3\): /);
    });
  });

  describe('an aborted attempt', () => {
    it.each([
      ['cancelled', { type: 'cancelled', reason: 'cancelled by an operator' }],
      ['shutdown', { type: 'interrupted', reason: 'worker shutting down' }],
      ['lock_lost', { type: 'interrupted', reason: 'worker lost its lock' }],
    ] as const)('%s → %o, whatever the budget', (reason, expected) => {
      expect(classifyOutcome({ kind: 'aborted', reason }, firstOfThree, options)).toEqual(expected);
      expect(classifyOutcome({ kind: 'aborted', reason }, lastOfThree, options)).toEqual(expected);
    });
  });

  it('caps the recorded error at maxErrorChars', () => {
    const outcome = classifyOutcome(threw(new Error('x'.repeat(10_000))), firstOfThree, { ...options, maxErrorChars: 100 });
    expect(outcome.type === 'retry' && outcome.error.message.length).toBeLessThanOrEqual(100);
  });
});
