/**
 * What an attempt ended with, as the ledger records it. The worker decides the outcome (one pure
 * function, workers/classify-outcome.ts); the store only applies it (attempt-writes.ts).
 */

/** An error made safe to store: plain strings, size-capped, no live references. */
export interface SerializedError {
  name: string;
  message: string;
  code?: string;
  stack?: string;
  /** What was thrown, when it was not an Error (a string, undefined, an object). */
  thrown?: string;
}

export type AttemptFailureStatus = 'failed' | 'timed_out';

export type Outcome =
  /**
   * `resultJson`: `result` as JSON text, when whoever decided the outcome has encoded it already
   * (the classifier does, to check its size), so that it is stored without encoding it again.
   */
  | { type: 'completed'; result: unknown; resultJson?: string }
  | { type: 'retry'; attemptStatus: AttemptFailureStatus; error: SerializedError; delayMs: number }
  | { type: 'failed'; attemptStatus: AttemptFailureStatus; error: SerializedError; reason: string }
  /** An operator cancelled the job while this attempt ran. */
  | { type: 'cancelled'; reason: string }
  /** Shutdown aborted the attempt; the job is queued again without spending its retry budget. */
  | { type: 'interrupted'; reason: string };

export type OutcomeType = Outcome['type'];
