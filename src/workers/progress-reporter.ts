/**
 * `ctx.progress(...)`: keeps the attempt's latest progress on the job and writes `job.progress`
 * events at most once per interval. A value that arrives inside the interval is held and written
 * with the attempt's outcome, so the last progress is never lost and a chatty handler cannot flood
 * the event log.
 */
import type { AttemptRef } from '../store/attempt-writes.js';
import type { Ledger } from '../store/ledger.js';
import { InvalidOptionError } from '../errors.js';

export class ProgressReporter {
  private lastWriteAt = -Infinity;
  private held: { value: unknown } | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly ref: AttemptRef,
    private readonly intervalMs: number,
  ) {}

  async report(value: unknown): Promise<void> {
    if (!(typeof value === 'number' && Number.isFinite(value)) && !(typeof value === 'object' && value !== null && !Array.isArray(value))) {
      throw new InvalidOptionError('progress', 'a finite number or a plain object', value);
    }
    const now = Date.now();
    if (now - this.lastWriteAt < this.intervalMs) {
      this.held = { value };
      return;
    }
    this.lastWriteAt = now;
    this.held = undefined;
    await this.ledger.recordProgress(this.ref, value, true, now);
  }

  /** The progress reported since the last write, to be written with the outcome (or undefined). */
  takeHeld(): unknown {
    const held = this.held;
    this.held = undefined;
    return held?.value;
  }
}
