/**
 * The one place that decides what an attempt's result means: completed, retry after N ms, failed,
 * cancelled or interrupted. Pure: same input, same outcome (the random source for jitter is passed
 * in). Nobody else decides whether a job retries.
 */
import { computeBackoffDelay, type BackoffPolicy } from '../jobs/backoff.js';
import type { Outcome } from '../store/outcome.js';
import { serializeError } from './serialize-error.js';

export type AttemptResult =
  | { kind: 'returned'; value: unknown }
  | { kind: 'threw'; error: unknown }
  | { kind: 'timed_out'; timeoutMs: number }
  | { kind: 'aborted'; reason: AbortReason };

/** Why jobledger aborted a running handler. */
export type AbortReason = 'cancelled' | 'shutdown' | 'lock_lost';

export interface RetryPolicy {
  maxAttempts: number;
  /** Failed attempts before this one, in the current retry budget. */
  attemptsFailed: number;
  backoff: BackoffPolicy;
}

/** Thrown by a handler to fail the job now, whatever attempts remain. */
export class PermanentJobError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PermanentJobError';
  }
}

export interface ClassifyOptions {
  maxErrorChars: number;
  random?: () => number;
}

export function classifyOutcome(result: AttemptResult, policy: RetryPolicy, options: ClassifyOptions): Outcome {
  switch (result.kind) {
    case 'returned': {
      const problem = unserialisable(result.value);
      if (problem) {
        const error = serializeError(new PermanentJobError(`the handler's result is not JSON-serialisable: ${problem}`), options.maxErrorChars);
        return { type: 'failed', attemptStatus: 'failed', error, reason: error.message };
      }
      return { type: 'completed', result: result.value === undefined ? null : result.value };
    }
    case 'aborted':
      return result.reason === 'cancelled'
        ? { type: 'cancelled', reason: 'cancelled by an operator' }
        : { type: 'interrupted', reason: result.reason === 'shutdown' ? 'worker shutting down' : 'worker lost its lock' };
    case 'timed_out':
    case 'threw': {
      const attemptStatus = result.kind === 'timed_out' ? 'timed_out' : 'failed';
      const thrown = result.kind === 'timed_out' ? timeoutError(result.timeoutMs) : result.error;
      const error = serializeError(thrown, options.maxErrorChars);
      if (isPermanent(thrown)) return { type: 'failed', attemptStatus, error, reason: `permanent failure: ${error.message}` };
      const failures = policy.attemptsFailed + 1;
      if (failures >= policy.maxAttempts) {
        return { type: 'failed', attemptStatus, error, reason: `attempts exhausted (${failures} of ${policy.maxAttempts}): ${error.message}` };
      }
      return { type: 'retry', attemptStatus, error, delayMs: computeBackoffDelay(policy.backoff, failures, options.random) };
    }
  }
}

function isPermanent(thrown: unknown): boolean {
  const name = (thrown as { name?: unknown } | null)?.name;
  return name === 'PermanentJobError' || name === 'UnrecoverableError';
}

function timeoutError(timeoutMs: number): Error {
  const error = new Error(`the attempt ran longer than its timeout of ${timeoutMs} ms and was aborted`);
  error.name = 'TimeoutError';
  return error;
}

function unserialisable(value: unknown): string | null {
  try {
    const text = JSON.stringify(value);
    // JSON escapes NUL as \u0000, which PostgreSQL's jsonb refuses: fail it here, typed and recorded.
    return text?.includes('\\u0000') ? 'it contains a NUL character (\\u0000), which the ledger cannot store' : null;
  } catch (error) {
    return (error as Error).message;
  }
}
