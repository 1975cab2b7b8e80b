/**
 * The overview's counts of jobs and attempts, served from memory and refreshed behind the request.
 * Counting reads every row of `jobs` and `attempts` (their status is deliberately not indexed: every
 * attempt would pay for it), seconds at a million jobs; a page that refreshes every few seconds
 * cannot wait for that. The first request waits for the first count; later ones get the latest
 * count at once, and one older than `minAgeMs`, or ten times as long as the last count took,
 * starts a new count in the background (one at a time): on SQLite a count shares this process's
 * event loop with every other request, so a slow count runs at most a tenth of the time. The
 * answer says when its counts were read.
 */
import type { LedgerFigures } from '../store/index.js';

export interface CountedFigures {
  figures: LedgerFigures;
  /** Epoch ms the count started. */
  countedAt: number;
  /** How long it took (ms). */
  tookMs: number;
}

export class OverviewFigures {
  private latest: CountedFigures | undefined;
  private counting: Promise<CountedFigures> | undefined;

  constructor(
    private readonly count: () => Promise<LedgerFigures>,
    private readonly minAgeMs: number,
  ) {}

  async get(now = Date.now()): Promise<CountedFigures> {
    if (!this.latest) return this.refresh();
    if (now - this.latest.countedAt >= Math.max(this.minAgeMs, 10 * this.latest.tookMs)) {
      // A failed background count leaves the previous figures; the next request tries again.
      this.refresh().catch(() => undefined);
    }
    return this.latest;
  }

  private refresh(): Promise<CountedFigures> {
    this.counting ??= (async () => {
      const countedAt = Date.now();
      const figures = await this.count();
      this.latest = { figures, countedAt, tookMs: Date.now() - countedAt };
      return this.latest;
    })().finally(() => {
      this.counting = undefined;
    });
    return this.counting;
  }
}
