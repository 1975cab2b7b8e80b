/**
 * `afterSettled`, the one-promise `try { return await run(); } finally { done(); }` of the wrappers
 * around every delivery: the same outcomes as the async function it replaces.
 */
import { describe, expect, it } from 'vitest';
import { afterSettled, rejection } from '../src/promises.js';

describe('afterSettled', () => {
  it('resolves with what run resolves with, after done', async () => {
    const calls: string[] = [];
    const value = await afterSettled(
      () => Promise.resolve('value'),
      () => calls.push('done'),
    );
    expect(value).toBe('value');
    expect(calls).toEqual(['done']);
  });

  it('rejects with what run rejects with, after done', async () => {
    let done = 0;
    const error = new Error('run failed');
    await expect(afterSettled(() => Promise.reject(error), () => done++)).rejects.toBe(error);
    expect(done).toBe(1);
  });

  it('turns a synchronous throw of run into a rejection, and still calls done once', async () => {
    let done = 0;
    const error = new Error('thrown at once');
    const settled = afterSettled(
      () => {
        throw error;
      },
      () => done++,
    );
    await expect(settled).rejects.toBe(error);
    expect(done).toBe(1);
  });

  it('rejects with what done throws, as a finally block would', async () => {
    const thrown = new Error('done failed');
    const fail = (): void => {
      throw thrown;
    };
    await expect(afterSettled(() => Promise.resolve(1), fail)).rejects.toBe(thrown);
    await expect(afterSettled(() => Promise.reject(new Error('run failed')), fail)).rejects.toBe(thrown);
  });

  it('calls done only once run settled', async () => {
    let release!: () => void;
    const calls: string[] = [];
    const settled = afterSettled(
      () => new Promise<void>((resolve) => (release = resolve)),
      () => calls.push('done'),
    );
    await Promise.resolve();
    expect(calls).toEqual([]);
    release();
    await settled;
    expect(calls).toEqual(['done']);
  });
});

describe('rejection', () => {
  it('is a promise rejected with the very value given', async () => {
    const reason = { not: 'an error' };
    await expect(rejection(reason)).rejects.toBe(reason);
  });
});
