/**
 * Job types: a name, a zod schema for the payload, a handler, and the retry, timeout and priority
 * defaults that enqueue options may override.
 */
import { isAbsolute } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ZodType } from 'zod';
import type { Logger } from '../logger.js';
import { InvalidOptionError, ThreadHandlerError } from '../errors.js';
import { defaultBackoff, validateBackoff, type BackoffPolicy } from './backoff.js';
import type { JobStateAccess } from './job-state.js';

/** What a handler gets besides its payload. */
export interface JobContext {
  /** The ledger id, `job_<ulid>`. */
  readonly jobId: string;
  readonly name: string;
  /** 1 for the first attempt; counts every attempt ever begun, retries and stalls included. */
  readonly attempt: number;
  readonly runId: string | null;
  /** A child logger carrying the job id, name and attempt number. */
  readonly logger: Logger;
  /** Aborted on timeout, on cancel and on shutdown; `signal.reason` says which. */
  readonly signal: AbortSignal;
  /** Records the latest progress (a number or an object); events are rate-limited. */
  progress(value: number | Record<string, unknown>): Promise<void>;
  /** Keyed state: committed reads, and writes applied with the outcome only if the attempt completes. */
  readonly state: JobStateAccess;
}

export type JobHandler<Payload, Result> = (payload: Payload, ctx: JobContext) => Promise<Result> | Result;

/** A log method of the thread's logger: pino's shapes, `(obj, msg?)` or `(msg)`. */
export type ThreadLogFn = (objOrMsg: unknown, msg?: string) => void;

/** `ctx.logger` in a thread: each line goes to the attempt's logger on the main thread. */
export interface ThreadLogger {
  trace: ThreadLogFn;
  debug: ThreadLogFn;
  info: ThreadLogFn;
  warn: ThreadLogFn;
  error: ThreadLogFn;
  fatal: ThreadLogFn;
  child(bindings: Record<string, unknown>): ThreadLogger;
}

/**
 * What a thread handler (`threadHandler`) gets besides its payload: `JobContext` across a thread
 * boundary. `logger`, `progress` and `state` are messages to the main thread, which does what the
 * same call does there (state writes are still buffered there and applied with the outcome; one it
 * refuses fails the attempt when the handler returns). There is no `signal`: on timeout, cancel,
 * shutdown or a lost lock the thread is terminated at once.
 */
export interface ThreadJobContext {
  readonly jobId: string;
  readonly name: string;
  readonly attempt: number;
  readonly runId: string | null;
  readonly logger: ThreadLogger;
  progress(value: number | Record<string, unknown>): Promise<void>;
  readonly state: JobStateAccess;
}

/** The default export (or the `handler` export) of a `threadHandler` module. */
export type ThreadJobHandler<Payload, Result> = (payload: Payload, ctx: ThreadJobContext) => Promise<Result> | Result;

interface JobTypeCommonOptions<Payload> {
  name: string;
  schema: ZodType<Payload>;
  /** BullMQ queue the jobs travel on. Default `"default"`. */
  queue?: string;
  /** Attempts before the job ends `failed`. Default 3. */
  maxAttempts?: number;
  /** Delay between attempts. Default exponential from 1 s, 20% jitter, capped at 1 h. */
  backoff?: BackoffPolicy;
  /** An attempt running longer is aborted and counts as failed (`timed_out`). Default none. */
  timeoutMs?: number | null;
  /** BullMQ priority: 0 (none) or 1 (highest) to 2,097,152 (lowest). Default 0. */
  priority?: number;
}

/** A job type: its handler runs either on the worker's event loop (`handler`) or in a thread (`threadHandler`). */
export type JobTypeOptions<Payload, Result> = JobTypeCommonOptions<Payload> &
  (
    | { handler: JobHandler<Payload, Result>; threadHandler?: undefined }
    | {
        /**
         * Run the handler off the main event loop, in a worker thread: for handlers that compute for
         * long stretches without awaiting (parsing, image work, crypto, compression), which would
         * otherwise block the event loop and with it BullMQ's lock renewal for every job of the
         * process. The module (a `file:` URL, e.g. `new URL('./resize.handler.js', import.meta.url)`,
         * or an absolute path) exports the handler as its default export or as `handler`; it gets a
         * `ThreadJobContext`. Its payload and result cross the thread by structured clone. Threads are
         * reused from one attempt to the next, and terminated on timeout, cancel and shutdown.
         */
        threadHandler: string | URL;
        handler?: undefined;
      }
  );

export interface JobType<Payload = unknown, Result = unknown> {
  readonly name: string;
  readonly schema: ZodType<Payload>;
  /** A method (not a function property) so that any job type fits `JobType` (bivariant payload). */
  handler(payload: Payload, ctx: JobContext): Promise<Result> | Result;
  readonly queue: string;
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
  readonly timeoutMs: number | null;
  readonly priority: number;
  /** The thread handler's module as a `file:` URL, or null when `handler` runs on the main thread. */
  readonly threadHandler: string | null;
}

/** BullMQ's priority range: 0 means none, 1 is the highest, 2^21 the lowest. */
export const maxPriority = 2_097_152;

export function defineJob<Payload, Result>(options: JobTypeOptions<Payload, Result>): JobType<Payload, Result> {
  if (typeof options.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_.-]{0,199}$/.test(options.name)) {
    throw new InvalidOptionError('name', 'a name of letters, digits, "_", "." or "-" starting with a letter', options.name);
  }
  const threadHandler = options.threadHandler === undefined ? null : validateThreadHandler(options.threadHandler, `${options.name}.threadHandler`);
  if (threadHandler !== null && options.handler !== undefined) {
    throw new InvalidOptionError(`${options.name}.handler`, 'no handler next to threadHandler (the module exports it)', options.handler);
  }
  if (threadHandler === null && typeof options.handler !== 'function') throw new InvalidOptionError(`${options.name}.handler`, 'a function', options.handler);
  if (typeof options.schema?.safeParse !== 'function') throw new InvalidOptionError(`${options.name}.schema`, 'a zod schema', options.schema);
  const queue = options.queue ?? 'default';
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(queue)) throw new InvalidOptionError(`${options.name}.queue`, 'letters, digits, "_", "." or "-"', queue);
  return Object.freeze({
    name: options.name,
    schema: options.schema,
    handler: options.handler ?? threadOnly(options.name),
    queue,
    maxAttempts: validateAttempts(options.maxAttempts ?? 3, `${options.name}.maxAttempts`),
    backoff: validateBackoff(options.backoff ?? defaultBackoff, `${options.name}.backoff`),
    timeoutMs: validateTimeout(options.timeoutMs ?? null, `${options.name}.timeoutMs`),
    priority: validatePriority(options.priority ?? 0, `${options.name}.priority`),
    threadHandler,
  });
}

/** A thread handler's module as a `file:` URL string. */
export function validateThreadHandler(value: unknown, option = 'threadHandler'): string {
  const expected = "a file: URL (new URL('./handler.js', import.meta.url)) or an absolute path";
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw new InvalidOptionError(option, expected, value.href);
    return value.href;
  }
  if (typeof value !== 'string' || value === '') throw new InvalidOptionError(option, expected, value);
  if (value.startsWith('file:')) return new URL(value).href;
  if (!isAbsolute(value)) throw new InvalidOptionError(option, expected, value);
  return pathToFileURL(value).href;
}

/** The main-thread `handler` of a thread job type: only the worker's thread runner runs it. */
function threadOnly(name: string): () => never {
  return () => {
    throw new ThreadHandlerError(name, 'its handler runs in a worker thread (threadHandler); a LedgerWorker runs it, not a direct call');
  };
}

export function validateAttempts(value: unknown, option = 'attempts'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > 10_000) {
    throw new InvalidOptionError(option, 'a whole number from 1 to 10000', value);
  }
  return value;
}

export function validateTimeout(value: unknown, option = 'timeoutMs'): number | null {
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1 || value > 2_147_483_647) {
    throw new InvalidOptionError(option, 'a whole number of milliseconds from 1 to 2147483647, or null', value);
  }
  return value;
}

export function validatePriority(value: unknown, option = 'priority'): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > maxPriority) {
    throw new InvalidOptionError(option, `a whole number from 0 to ${maxPriority}`, value);
  }
  return value;
}
