/**
 * How a running attempt is stopped early: a timeout, an operator's cancel, shutdown, a lost lock.
 * The first reason wins. `settled` resolves with what the attempt then counts as, for the race
 * against the handler; `signal` is what the handler sees.
 *
 * The AbortController behind `signal` is made only when the handler first reads it. Most handlers
 * never do, and per attempt the controller, its signal and the listener that settled the race were
 * about 1.5% of the worker's CPU in the SQLite bench profile as self time (making the signal and
 * adding the listener), before their share of garbage collection.
 */
import type { AbortReason, AttemptResult } from './classify-outcome.js';

export class AttemptAbort {
  /** Resolves once, when the attempt is stopped early; never rejects. */
  readonly settled: Promise<AttemptResult>;
  /** Why it was stopped, if it was stopped for one of these reasons (not a timeout). */
  reason: AbortReason | undefined;
  private settle!: (result: AttemptResult) => void;
  private stoppedWith: { signalReason: unknown } | undefined;
  private controller: AbortController | undefined;

  constructor() {
    this.settled = new Promise<AttemptResult>((resolve) => (this.settle = resolve));
  }

  get stopped(): boolean {
    return this.stoppedWith !== undefined;
  }

  /** The handler's signal, aborted already if the attempt was stopped before it asked. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.stoppedWith) this.controller.abort(this.stoppedWith.signalReason);
    }
    return this.controller.signal;
  }

  /** Stops the attempt for `reason`; the signal's reason is the same string. */
  abort(reason: AbortReason): void {
    if (this.stop(reason, { kind: 'aborted', reason })) this.reason = reason;
  }

  /** Stops the attempt as timed out; the signal's reason is an Error('timeout'). */
  timeOut(timeoutMs: number): void {
    this.stop(new Error('timeout'), { kind: 'timed_out', timeoutMs });
  }

  private stop(signalReason: unknown, result: AttemptResult): boolean {
    if (this.stoppedWith) return false;
    this.stoppedWith = { signalReason };
    this.controller?.abort(signalReason);
    this.settle(result);
    return true;
  }
}
