/**
 * The one place that decides what an attempt's result means: completed, retry after N ms, failed,
 * cancelled or interrupted. Pure: same input, same outcome (the random source for jitter is passed
 * in). Nobody else decides whether a job retries.
 */
import { computeBackoffDelay, type BackoffPolicy } from '../jobs/backoff.js';
import { UnstorableValueError } from '../errors.js';
import { defaultMaxJsonBytes, defaultMaxJsonDepth, toStorableJson, type AttemptFailureStatus, type Outcome } from '../store/index.js';
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
  /** Largest storable result, as UTF-8 JSON (Config.maxResultBytes). Default 1 MiB. */
  maxResultBytes?: number;
  /** Deepest storable result nesting (Config.maxJsonDepth). Default 64. */
  maxJsonDepth?: number;
  random?: () => number;
}

/**
 * Total: whatever the handler returned or threw (a revoked proxy, a getter that throws, null, a
 * symbol), an outcome comes back, so that the attempt is always recorded. A result that cannot be
 * stored (json-value.ts) fails the attempt like a thrown error, counted against `maxAttempts`, with
 * the reason; the result is returned as a plain copy.
 */
export function classifyOutcome(result: AttemptResult, policy: RetryPolicy, options: ClassifyOptions): Outcome {
  try {
    return classify(result, policy, options);
  } catch {
    // Not expected (every step below is total); still an outcome rather than a throw.
    const error = { name: 'ClassificationError', message: 'the attempt\'s outcome could not be classified' };
    return { type: 'failed', attemptStatus: 'failed', error, reason: error.message };
  }
}

function classify(result: AttemptResult, policy: RetryPolicy, options: ClassifyOptions): Outcome {
  switch (result.kind) {
    case 'returned': {
      // Most handlers return nothing: stored as null, with nothing to check.
      if (result.value === undefined || result.value === null) return { type: 'completed', result: null };
      const limits = { maxDepth: options.maxJsonDepth ?? defaultMaxJsonDepth, maxBytes: options.maxResultBytes ?? defaultMaxJsonBytes };
      const stored = toStorableJson(result.value, { path: 'result', name: 'result' }, limits);
      // The text the size check made is the one stored: the result is not encoded twice.
      if (stored.ok) return { type: 'completed', result: stored.value, resultJson: stored.text };
      const { path, expected, got } = stored.problem;
      return failure(new UnstorableValueError(path, expected, got), 'failed', policy, options);
    }
    case 'aborted':
      return result.reason === 'cancelled'
        ? { type: 'cancelled', reason: 'cancelled by an operator' }
        : { type: 'interrupted', reason: result.reason === 'shutdown' ? 'worker shutting down' : 'worker lost its lock' };
    case 'timed_out':
      return failure(timeoutError(result.timeoutMs), 'timed_out', policy, options);
    case 'threw':
      return failure(result.error, 'failed', policy, options);
  }
}

function failure(thrown: unknown, attemptStatus: AttemptFailureStatus, policy: RetryPolicy, options: ClassifyOptions): Outcome {
  const error = serializeError(thrown, options.maxErrorChars);
  if (isPermanent(thrown)) return { type: 'failed', attemptStatus, error, reason: `permanent failure: ${error.message}` };
  const failures = policy.attemptsFailed + 1;
  if (failures >= policy.maxAttempts) {
    return { type: 'failed', attemptStatus, error, reason: `attempts exhausted (${failures} of ${policy.maxAttempts}): ${error.message}` };
  }
  return { type: 'retry', attemptStatus, error, delayMs: computeBackoffDelay(policy.backoff, failures, options.random) };
}

/** Whether the handler asked to fail now. Reading `name` may throw (a getter, a revoked proxy). */
function isPermanent(thrown: unknown): boolean {
  try {
    if (typeof thrown !== 'object' || thrown === null) return false;
    const name = (thrown as { name?: unknown }).name;
    return name === 'PermanentJobError' || name === 'UnrecoverableError';
  } catch {
    return false;
  }
}

function timeoutError(timeoutMs: number): Error {
  const error = new Error(`the attempt ran longer than its timeout of ${timeoutMs} ms and was aborted`);
  error.name = 'TimeoutError';
  return error;
}
