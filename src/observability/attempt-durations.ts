/**
 * A histogram of the attempts this process's workers finished, by queue and outcome, fed with each
 * outcome once the ledger committed it (the duration is the one the ledger records). Like every
 * Prometheus histogram it counts from the process's start; Prometheus sums it across workers.
 */
import type { HistogramSample } from './exposition.js';
import type { JobEvent } from './job-events.js';

/** Upper bounds in seconds: from 5 ms to 10 minutes. */
export const durationBoundsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600] as const;

interface Series {
  queue: string;
  outcome: string;
  counts: number[];
  sum: number;
}

export class AttemptDurations {
  private readonly series = new Map<string, Series>();

  /** Counts an attempt's end; other events are ignored. */
  observe(event: JobEvent): void {
    if (event.durationMs === undefined || event.type === 'job.started') return;
    const outcome = event.type.slice('job.'.length);
    const key = `${event.queue}\u0000${outcome}`;
    let series = this.series.get(key);
    if (!series) {
      series = { queue: event.queue, outcome, counts: new Array<number>(durationBoundsSeconds.length + 1).fill(0), sum: 0 };
      this.series.set(key, series);
    }
    const seconds = event.durationMs / 1000;
    const bucket = durationBoundsSeconds.findIndex((bound) => seconds <= bound);
    series.counts[bucket === -1 ? durationBoundsSeconds.length : bucket]! += 1;
    series.sum += seconds;
  }

  samples(): HistogramSample[] {
    return [...this.series.values()].map((s) => ({ labels: { queue: s.queue, outcome: s.outcome }, bounds: durationBoundsSeconds, counts: [...s.counts], sum: s.sum }));
  }
}
