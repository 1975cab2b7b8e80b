/**
 * The ledger's counts behind `/metrics`, read at most once per `cacheMs` however many scrapes come
 * (scrapes that arrive while a read is under way share it). Attempt totals are exposed as counters:
 * the ledger's totals fall when retention prunes finished jobs, so the amount a total fell by is
 * carried forward and what is exposed never decreases while this process lives.
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

  /** The cached figures if younger than `cacheMs`, else a fresh read (shared by concurrent callers). Rejects if the read fails. */
  get(now = Date.now()): Promise<LedgerCountsSnapshot> {
    if (this.last && now - this.last.readAt < this.cacheMs) return Promise.resolve(this.last);
    this.reading ??= this.refresh().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
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
