/**
 * Retry backoff. The formulas are BullMQ's built-in `fixed` and `exponential` strategies (same
 * jitter rule), plus a cap. The worker computes the delay once, records it in the ledger, and hands
 * the same number to BullMQ through a custom backoff strategy, so both always agree.
 */
import { InvalidOptionError } from '../errors.js';

export type BackoffPolicy =
  | { type: 'fixed'; delayMs: number; jitter?: number }
  | { type: 'exponential'; delayMs: number; jitter?: number; maxDelayMs?: number };

/** The default for job types that name none: exponential from 1 s, 20% jitter, capped at 1 hour. */
export const defaultBackoff: BackoffPolicy = { type: 'exponential', delayMs: 1000, jitter: 0.2, maxDelayMs: 3_600_000 };

/**
 * The delay before the next attempt, after `failures` failed attempts (this one included), as
 * BullMQ computes it for `attemptsMade`.
 */
export function computeBackoffDelay(policy: BackoffPolicy, failures: number, random: () => number = Math.random): number {
  const jitter = policy.jitter ?? 0;
  const base = policy.type === 'fixed' ? policy.delayMs : Math.round(2 ** Math.max(0, failures - 1) * policy.delayMs);
  const jittered = jitter > 0 ? Math.floor(random() * base * jitter + base * (1 - jitter)) : base;
  const cap = policy.type === 'exponential' ? (policy.maxDelayMs ?? Infinity) : Infinity;
  return Math.max(0, Math.min(jittered, cap));
}

/** Checks a policy from user input; throws a typed error naming the field. */
export function validateBackoff(value: unknown, option = 'backoff'): BackoffPolicy {
  const v = value as Partial<Record<string, unknown>> | null;
  if (typeof v !== 'object' || v === null) throw new InvalidOptionError(option, '{ type: "fixed" | "exponential", delayMs }', value);
  if (v.type !== 'fixed' && v.type !== 'exponential') throw new InvalidOptionError(`${option}.type`, '"fixed" or "exponential"', v.type);
  if (!isWhole(v.delayMs) || v.delayMs < 0) throw new InvalidOptionError(`${option}.delayMs`, 'a whole number of milliseconds >= 0', v.delayMs);
  if (v.jitter !== undefined && (typeof v.jitter !== 'number' || !(v.jitter >= 0 && v.jitter <= 1))) {
    throw new InvalidOptionError(`${option}.jitter`, 'a fraction from 0 to 1', v.jitter);
  }
  if (v.type === 'exponential' && v.maxDelayMs !== undefined && (!isWhole(v.maxDelayMs) || v.maxDelayMs < 0)) {
    throw new InvalidOptionError(`${option}.maxDelayMs`, 'a whole number of milliseconds >= 0', v.maxDelayMs);
  }
  if (v.type === 'fixed' && v.maxDelayMs !== undefined) throw new InvalidOptionError(`${option}.maxDelayMs`, 'no cap on a fixed backoff', v.maxDelayMs);
  return v as BackoffPolicy;
}

function isWhole(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value);
}
