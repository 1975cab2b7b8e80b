/**
 * `computeBackoffDelay` must give the same number BullMQ's built-in strategies give (the worker
 * records it and hands it to BullMQ as a custom strategy, so the two must never disagree), plus a cap.
 */
import { Backoffs, type MinimalJob } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { computeBackoffDelay, type BackoffPolicy } from '../src/jobs/backoff.js';

const attempts = Array.from({ length: 10 }, (_, i) => i + 1);
const randoms = [0, 0.123456789, 0.5, 0.987654321, 0.999999999];

/** BullMQ's own number for `attemptsMade` failures, with Math.random pinned to `random`. */
function bullmqDelay(policy: BackoffPolicy, attemptsMade: number, random = 0.5): number {
  vi.spyOn(Math, 'random').mockReturnValue(random);
  const options = { type: policy.type, delay: policy.delayMs, ...(policy.jitter === undefined ? {} : { jitter: policy.jitter }) };
  const delay = Backoffs.calculate(options, attemptsMade, new Error('boom'), {} as MinimalJob);
  if (typeof delay !== 'number') throw new Error(`BullMQ returned a ${typeof delay}, not a number, for a built-in strategy`);
  return delay;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('computeBackoffDelay agrees with BullMQ 6.7', () => {
  const policies: BackoffPolicy[] = [
    { type: 'fixed', delayMs: 0 },
    { type: 'fixed', delayMs: 250 },
    { type: 'fixed', delayMs: 1000, jitter: 0.3 },
    { type: 'fixed', delayMs: 777, jitter: 1 },
    { type: 'exponential', delayMs: 1 },
    { type: 'exponential', delayMs: 100 },
    { type: 'exponential', delayMs: 333 },
    { type: 'exponential', delayMs: 1000, jitter: 0.2 },
    { type: 'exponential', delayMs: 1500, jitter: 0.5 },
    { type: 'exponential', delayMs: 10, jitter: 1 },
  ];

  it.each(policies)('%o, attempts 1..10, across the jitter range', (policy) => {
    for (const failures of attempts) {
      for (const random of policy.jitter ? randoms : [0.5]) {
        const ours = computeBackoffDelay(policy, failures, () => random);
        expect(ours, `${failures} failures, random ${random}`).toBe(bullmqDelay(policy, failures, random));
      }
    }
  });

  it('uses Math.random, like BullMQ, when no random source is given', () => {
    const policy: BackoffPolicy = { type: 'exponential', delayMs: 1000, jitter: 0.5 };
    vi.spyOn(Math, 'random').mockReturnValue(0.75);
    expect(computeBackoffDelay(policy, 3)).toBe(bullmqDelay(policy, 3, 0.75));
  });

  it('never goes below delay × (1 − jitter) nor above the un-jittered delay', () => {
    const policy: BackoffPolicy = { type: 'exponential', delayMs: 1000, jitter: 0.2 };
    for (const failures of attempts) {
      const base = 2 ** (failures - 1) * 1000;
      expect(computeBackoffDelay(policy, failures, () => 0)).toBe(base * 0.8);
      expect(computeBackoffDelay(policy, failures, () => 0.999999999)).toBeLessThanOrEqual(base);
    }
  });
});

describe('the cap on exponential backoff', () => {
  it('is BullMQ’s number clamped to maxDelayMs', () => {
    for (const jitter of [undefined, 0.2]) {
      const policy: BackoffPolicy = { type: 'exponential', delayMs: 1000, maxDelayMs: 30_000, ...(jitter ? { jitter } : {}) };
      for (const failures of attempts) {
        for (const random of randoms) {
          const expected = Math.min(bullmqDelay(policy, failures, random), 30_000);
          expect(computeBackoffDelay(policy, failures, () => random), `${failures} failures`).toBe(expected);
        }
      }
    }
  });

  it('leaves delays under the cap alone and holds the cap once reached', () => {
    const policy: BackoffPolicy = { type: 'exponential', delayMs: 1000, maxDelayMs: 10_000 };
    expect(attempts.map((n) => computeBackoffDelay(policy, n))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000, 10_000, 10_000]);
  });

  it('applies to the default policy: exponential from 1 s, capped at an hour', async () => {
    const { defaultBackoff } = await import('../src/jobs/backoff.js');
    expect(computeBackoffDelay(defaultBackoff, 30, () => 0.5)).toBe(3_600_000);
  });
});
