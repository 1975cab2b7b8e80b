/**
 * Promise helpers for the worker's hot path and its shutdown. A leaf module: the worker's wrappers
 * and the ledger's begin both use it.
 */
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * `try { return await run(); } finally { done(); }` for the wrappers around every delivery, with
 * one promise where an async function makes two (its own and the await's). With an application's
 * OpenTelemetry SDK and its AsyncLocalStorage context manager, Node runs hooks for every promise, so
 * each one a delivery makes costs it again. Same outcome as the async function: `run`'s value or
 * error, or the error `done` throws; `done` runs once, also when `run` throws synchronously.
 */
export function afterSettled<T>(run: () => Promise<T>, done: () => void): Promise<T> {
  let running: Promise<T>;
  try {
    running = run();
  } catch (error) {
    running = rejection(error);
  }
  return running.then(
    (value) => {
      done();
      return value;
    },
    (error: unknown) => {
      done();
      throw error;
    },
  );
}

/** A promise rejected with `error`: what a synchronous throw in an async function becomes. */
export function rejection(error: unknown): Promise<never> {
  return new Promise<never>(() => {
    throw error;
  });
}

/** True if `promise` settles (either way) within `ms`; the timer keeps no process alive. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  const settled = promise.then(
    () => true,
    () => true,
  );
  return Promise.race([settled, sleep(ms, false, { ref: false })]);
}
