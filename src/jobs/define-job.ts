/**
 * Job types: a name, a zod schema for the payload, a handler, and the retry, timeout and priority
 * defaults that enqueue options may override.
 */
import type { ZodType } from 'zod';
import type { Logger } from '../logger.js';
import { InvalidOptionError } from '../errors.js';
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

export interface JobTypeOptions<Payload, Result> {
  name: string;
  schema: ZodType<Payload>;
  handler: JobHandler<Payload, Result>;
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
}

/** BullMQ's priority range: 0 means none, 1 is the highest, 2^21 the lowest. */
export const maxPriority = 2_097_152;

export function defineJob<Payload, Result>(options: JobTypeOptions<Payload, Result>): JobType<Payload, Result> {
  if (typeof options.name !== 'string' || !/^[A-Za-z][A-Za-z0-9_.-]{0,199}$/.test(options.name)) {
    throw new InvalidOptionError('name', 'a name of letters, digits, "_", "." or "-" starting with a letter', options.name);
  }
  if (typeof options.handler !== 'function') throw new InvalidOptionError(`${options.name}.handler`, 'a function', options.handler);
  if (typeof options.schema?.safeParse !== 'function') throw new InvalidOptionError(`${options.name}.schema`, 'a zod schema', options.schema);
  const queue = options.queue ?? 'default';
  if (!/^[A-Za-z0-9_.-]{1,200}$/.test(queue)) throw new InvalidOptionError(`${options.name}.queue`, 'letters, digits, "_", "." or "-"', queue);
  return Object.freeze({
    name: options.name,
    schema: options.schema,
    handler: options.handler,
    queue,
    maxAttempts: validateAttempts(options.maxAttempts ?? 3, `${options.name}.maxAttempts`),
    backoff: validateBackoff(options.backoff ?? defaultBackoff, `${options.name}.backoff`),
    timeoutMs: validateTimeout(options.timeoutMs ?? null, `${options.name}.timeoutMs`),
    priority: validatePriority(options.priority ?? 0, `${options.name}.priority`),
  });
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
