/**
 * Counters and histograms this process keeps, by a fixed list of label names. Label values come from
 * bounded sets (queues, job types, outcomes, task names, kinds), never job ids. Like every
 * Prometheus counter they start at zero with the process; Prometheus sums them across processes.
 */
import type { HistogramSample, Labels, Sample } from './exposition.js';

/** Joins label values into one map key (a NUL cannot appear in a queue or task name). */
function keyOf(values: readonly string[]): string {
  return values.join('\u0000');
}

function labelsOf(names: readonly string[], values: readonly string[]): Labels {
  return Object.fromEntries(names.map((name, i) => [name, values[i] ?? '']));
}

export class LabelledCounter {
  private readonly series = new Map<string, { values: readonly string[]; total: number }>();

  constructor(private readonly labelNames: readonly string[]) {}

  /** Adds `by` (default 1; 0 makes the series exist at zero) to the series of these label values, in `labelNames`' order. */
  add(values: readonly string[], by = 1): void {
    if (!(by >= 0)) return;
    const key = keyOf(values);
    const series = this.series.get(key);
    if (series) series.total += by;
    else this.series.set(key, { values: [...values], total: by });
  }

  /** The current total of one series (0 if it never moved). */
  get(values: readonly string[]): number {
    return this.series.get(keyOf(values))?.total ?? 0;
  }

  samples(): Sample[] {
    return [...this.series.values()].map((s) => ({ labels: labelsOf(this.labelNames, s.values), value: s.total }));
  }
}

export class LabelledHistogram {
  private readonly series = new Map<string, { values: readonly string[]; counts: number[]; sum: number }>();

  /** `bounds`: upper bounds in the metric's unit, ascending, without +Inf. */
  constructor(
    private readonly labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {}

  observe(values: readonly string[], value: number): void {
    const key = keyOf(values);
    let series = this.series.get(key);
    if (!series) {
      series = { values: [...values], counts: new Array<number>(this.bounds.length + 1).fill(0), sum: 0 };
      this.series.set(key, series);
    }
    let bucket = 0;
    while (bucket < this.bounds.length && value > this.bounds[bucket]!) bucket++;
    series.counts[bucket]! += 1;
    series.sum += value;
  }

  samples(): HistogramSample[] {
    return [...this.series.values()].map((s) => ({ labels: labelsOf(this.labelNames, s.values), bounds: this.bounds, counts: [...s.counts], sum: s.sum }));
  }
}
