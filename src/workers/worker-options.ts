/**
 * The options an application gives `createWorker`, checked before a worker exists: a bad value is a
 * coded `InvalidOptionError` at the call, not BullMQ's uncoded error at `start()` (concurrency 0) or
 * a worker that starts on the wrong queues (a string where a list belongs, a queue no job type of
 * this process uses, an empty list) or ignores a misspelt option.
 */
import { InvalidOptionError } from '../errors.js';
import type { LedgerWorkerOptions } from './ledger-worker.js';

/** What an application chooses of a worker; the rest comes from its `JobLedger`. */
export type CreateWorkerOptions = Pick<LedgerWorkerOptions, 'concurrency' | 'queues' | 'allowEvictingRedis' | 'bullBoardMirror'>;

const known: readonly (keyof CreateWorkerOptions)[] = ['concurrency', 'queues', 'allowEvictingRedis', 'bullBoardMirror'];
/** The most jobs one worker runs at once per queue (`createWorker`, `jobledger worker --concurrency`). */
export const maxConcurrency = 10_000;

/** Throws `InvalidOptionError` naming the first bad option; `registryQueues` are the queues of the process's job types. */
export function checkWorkerOptions(options: unknown, registryQueues: readonly string[]): CreateWorkerOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidOptionError('createWorker', 'an options object', options);
  }
  const given = options as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new InvalidOptionError(`createWorker.${key}`, `one of the worker options (${known.join(', ')})`, key);
    }
  }
  const { concurrency, queues, allowEvictingRedis, bullBoardMirror } = given;
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && (concurrency as number) >= 1 && (concurrency as number) <= maxConcurrency)) {
    throw new InvalidOptionError('createWorker.concurrency', `a whole number from 1 to ${maxConcurrency}`, concurrency);
  }
  if (queues !== undefined) {
    if (!Array.isArray(queues) || queues.length === 0) {
      throw new InvalidOptionError('createWorker.queues', 'a non-empty list of queue names', queues);
    }
    for (const queue of queues) {
      if (typeof queue !== 'string' || !registryQueues.includes(queue)) {
        throw new InvalidOptionError('createWorker.queues', `queues of this process's job types (${registryQueues.join(', ') || 'none'})`, queue);
      }
    }
  }
  for (const [name, value] of [
    ['allowEvictingRedis', allowEvictingRedis],
    ['bullBoardMirror', bullBoardMirror],
  ] as const) {
    if (value !== undefined && typeof value !== 'boolean') {
      throw new InvalidOptionError(`createWorker.${name}`, 'true or false', value);
    }
  }
  return given;
}
