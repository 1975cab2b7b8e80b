/**
 * `ctx.progress(...)`: keeps the attempt's latest progress on the job and writes `job.progress`
 * events at most once per interval. A value that arrives inside the interval is held and written
 * with the attempt's outcome, so the last progress is never lost and a chatty handler cannot flood
 * the event log.
 *
 * Every value is checked when it is reported, on the held path as on the written one: what the
 * ledger cannot store (json-value.ts) is refused at once with a coded error to the handler and
 * nothing is kept, so a held value can never make the outcome's write fail. What is held is a plain
 * copy, so the handler changing its object afterwards changes nothing.
 */
import { toStorableJson, type AttemptRef, type JsonLimits, type Ledger } from '../store/index.js';
import { InvalidOptionError, UnstorableValueError } from '../errors.js';

export class ProgressReporter {
  private lastWriteAt = -Infinity;
  private held: { value: unknown } | undefined;

  constructor(
    private readonly ledger: Ledger,
    private readonly ref: AttemptRef,
    private readonly intervalMs: number,
    private readonly limits: JsonLimits,
    /** Told of each value once the ledger wrote it (the Bull Board mirror). */
    private readonly onWritten?: (value: unknown) => void,
  ) {}

  async report(value: unknown): Promise<void> {
    const checked = this.check(value);
    const now = Date.now();
    if (now - this.lastWriteAt < this.intervalMs) {
      this.held = { value: checked };
      return;
    }
    this.lastWriteAt = now;
    this.held = undefined;
    await this.ledger.recordProgress(this.ref, checked, true, now);
    this.onWritten?.(checked);
  }

  /** The progress reported since the last write, to be written with the outcome (or undefined). */
  takeHeld(): unknown {
    const held = this.held;
    this.held = undefined;
    return held?.value;
  }

  /** The storable copy of `value`, or a coded error. */
  private check(value: unknown): unknown {
    if (!(typeof value === 'number' && Number.isFinite(value)) && !(typeof value === 'object' && value !== null)) {
      throw new InvalidOptionError('progress', 'a finite number or a plain object', value);
    }
    const stored = toStorableJson(value, { path: 'progress', name: 'progress' }, this.limits);
    if (!stored.ok) throw new UnstorableValueError(stored.problem.path, stored.problem.expected, stored.problem.got);
    if (Array.isArray(stored.value)) throw new InvalidOptionError('progress', 'a finite number or a plain object', stored.value);
    return stored.value;
  }
}
