/**
 * How a running attempt is stopped early: a timeout, an operator's cancel, shutdown, a lost lock.
 * The first reason wins. `race` gives the handler's result, or what the attempt counts as once
 * stopped, whichever comes first; `signal` is what the handler sees.
 *
 * Nothing is made per attempt that the attempt does not use: the AbortController behind `signal`
 * only when the handler first reads it (most never do; the controller, its signal and the listener
 * that settled the race were about 1.5% of the SQLite bench worker's CPU as self time), and the
 * promise the handler's result races against only when the handler returned a promise. A handler
 * that returns a value at once costs no promise at all (execute-attempt.ts takes its value as is).
 */
import type { AbortReason, AttemptResult } from './classify-outcome.js';

export class AttemptAbort {
  /** Why it was stopped, if it was stopped for one of these reasons (not a timeout). */
  reason: AbortReason | undefined;
  /** What the attempt counts as once stopped (set by the first stop). */
  private stoppedAs: AttemptResult | undefined;
  private signalReason: unknown;
  private controller: AbortController | undefined;
  /** Told once, at the stop: the race in flight, and `onStop` listeners (a thread to terminate). */
  private listeners: ((result: AttemptResult) => void)[] | undefined;

  get stopped(): boolean {
    return this.stoppedAs !== undefined;
  }

  /** The handler's signal, aborted already if the attempt was stopped before it asked. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stoppedAs) this.controller.abort(this.signalReason);
    }
    return this.controller.signal;
  }

  /** Stops the attempt for `reason`; the signal's reason is the same string. */
  abort(reason: AbortReason): void {
    this.stop(reason, { kind: 'aborted', reason }, reason);
  }

  /** Stops the attempt as timed out; the signal's reason is an Error('timeout'). */
  timeOut(timeoutMs: number): void {
    this.stop(new Error('timeout'), { kind: 'timed_out', timeoutMs });
  }

  /** Calls `listener` once, when the attempt is stopped (at once, in a microtask, if it is already). */
  onStop(listener: (result: AttemptResult) => void): void {
    const stoppedAs = this.stoppedAs;
    if (stoppedAs) queueMicrotask(() => listener(stoppedAs));
    else (this.listeners ??= []).push(listener);
  }

  /**
   * What the handler's `pending` result (a promise or any thenable) settles as, or what the attempt
   * counts as if it is stopped first. Never rejects: a rejection is `threw`, as is a `then` that
   * cannot be read (`Promise.resolve` reads it once, as `await` did).
   */
  race(pending: unknown): Promise<AttemptResult> {
    return this.first((settle) => {
      Promise.resolve(pending).then(
        (value: unknown) => settle({ kind: 'returned', value }),
        (error: unknown) => settle({ kind: 'threw', error }),
      );
    });
  }

  /** `result` (an attempt run elsewhere: a thread), or what the attempt counts as if it is stopped first. */
  raceResult(result: Promise<AttemptResult>): Promise<AttemptResult> {
    return this.first((settle) => {
      result.then(settle, (error: unknown) => settle({ kind: 'threw', error }));
    });
  }

  private first(start: (settle: (result: AttemptResult) => void) => void): Promise<AttemptResult> {
    return new Promise<AttemptResult>((resolve) => {
      if (this.stoppedAs) return resolve(this.stoppedAs);
      this.onStop(resolve);
      start(resolve);
    });
  }

  private stop(signalReason: unknown, result: AttemptResult, reason?: AbortReason): void {
    if (this.stoppedAs) return;
    this.stoppedAs = result;
    this.reason = reason;
    this.signalReason = signalReason;
    this.controller?.abort(signalReason);
    const listeners = this.listeners;
    this.listeners = undefined;
    if (listeners) for (const listener of listeners) listener(result);
  }
}
