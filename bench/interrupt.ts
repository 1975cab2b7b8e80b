/**
 * Stopping the benchmark part-way (Ctrl-C, or a failure): the phases' loops and sleeps watch one
 * signal, so that a run being torn down stops adding jobs and polling at once, instead of racing
 * the cleanup that removes its Redis keys and drops its database.
 */
import { setTimeout as sleepFor } from 'node:timers/promises';

const controller = new AbortController();

export function interrupt(reason: string): void {
  controller.abort(new Error(reason));
}

/** Throws once the benchmark is being stopped. */
export function throwIfInterrupted(): void {
  controller.signal.throwIfAborted();
}

/** Sleeps `ms`, or rejects as soon as the benchmark is being stopped. */
export function sleep(ms: number): Promise<void> {
  return sleepFor(ms, undefined, { signal: controller.signal });
}
