/**
 * The ledger's counts behind `/metrics`, read at most once per `cacheMs` however many scrapes come
 * (scrapes that arrive while a read is under way share it), and, unless `cacheMs` is 0, no sooner
 * after a read than `readCostFactor` times as long as that read took: the counts scan `jobs` and
 * `attempts` (status is not indexed), so a read grows with the ledger (SQLite, 500,000 jobs with
 * their attempts: 0.6-0.7 s of the worker's own CPU), and a fixed interval would let a large ledger
 * spend a growing share of every worker's time on counting. With the factor, reads take at most
 * about 1 % of the time, whatever the ledger's size; the counts' age gauge shows how old they are.
 *
 * Attempt totals are exposed as counters: the ledger's totals fall when retention prunes finished
 * jobs, so the amount a total fell by is carried forward and what is exposed never decreases while
 * this process lives.
 */
import type { LedgerFigures } from '../store/index.js';

export interface LedgerCountsSnapshot {
  figures: LedgerFigures;
  /** Attempt totals by status, monotonic while this process lives. */
  attemptTotals: Record<string, number>;
  /** Epoch ms the figures were read at. */
  readAt: number;
  /** How long the read took, in seconds. */
  readSeconds: number;
}

/** A read of the counts is followed by at least this many times its duration without one (unless `cacheMs` is 0). */
export const readCostFactor = 100;

export class LedgerCounts {
  private last: LedgerCountsSnapshot | undefined;
  private reading: Promise<LedgerCountsSnapshot> | undefined;
  /** Per status: what the ledger's total fell by, summed (pruned attempts). */
  private readonly carried = new Map<string, number>();
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly read: () => Promise<LedgerFigures>,
    private readonly cacheMs: number,
  ) {}

  /**
   * The cached figures while they are fresh enough (`cacheMs`, stretched for a slow read), else a
   * fresh read (shared by concurrent callers). Rejects if the read fails.
   */
  get(now = Date.now()): Promise<LedgerCountsSnapshot> {
    const last = this.last;
    if (last && now - last.readAt < this.freshForMs(last)) return Promise.resolve(last);
    this.reading ??= this.refresh().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  /** How long `last` is served: `cacheMs`, or `readCostFactor` times its read's duration if longer; 0 stays 0 (every scrape reads). */
  private freshForMs(last: LedgerCountsSnapshot): number {
    if (this.cacheMs === 0) return 0;
    return Math.max(this.cacheMs, last.readSeconds * 1000 * readCostFactor);
  }

  private async refresh(): Promise<LedgerCountsSnapshot> {
    const started = performance.now();
    const figures = await this.read();
    const attemptTotals: Record<string, number> = {};
    for (const [status, total] of Object.entries(figures.attempts)) {
      const before = this.seen.get(status) ?? 0;
      if (total < before) this.carried.set(status, (this.carried.get(status) ?? 0) + before - total);
      this.seen.set(status, total);
      attemptTotals[status] = total + (this.carried.get(status) ?? 0);
    }
    // A status whose rows were all pruned is absent from the read: its total is 0 now.
    for (const [status, before] of this.seen) {
      if (status in figures.attempts) continue;
      if (before > 0) this.carried.set(status, (this.carried.get(status) ?? 0) + before);
      this.seen.set(status, 0);
      attemptTotals[status] = this.carried.get(status) ?? 0;
    }
    this.last = { figures, attemptTotals, readAt: Date.now(), readSeconds: (performance.now() - started) / 1000 };
    return this.last;
  }
}
