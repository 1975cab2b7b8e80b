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

/** One series of a histogram, kept by a caller that observes it often: no key is built per observation. */
export class HistogramSeries {
  readonly counts: number[];
  sum = 0;

  constructor(
    readonly values: readonly string[],
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    this.counts[bucket]! += 1;
    this.sum += value;
  }
}

export class LabelledHistogram {
  private readonly series = new Map<string, HistogramSeries>();

  /** `bounds`: upper bounds in the metric's unit, ascending, without +Inf. */
  constructor(
    private readonly labelNames: readonly string[],
    readonly bounds: readonly number[],
  ) {}

  /** The series of these label values, in `labelNames`' order (made, empty, if it did not exist). */
  seriesOf(values: readonly string[]): HistogramSeries {
    const key = keyOf(values);
    let series = this.series.get(key);
    if (!series) {
      series = new HistogramSeries([...values], this.bounds);
      this.series.set(key, series);
    }
    return series;
  }

  observe(values: readonly string[], value: number): void {
    this.seriesOf(values).observe(value);
  }

  samples(): HistogramSample[] {
    return [...this.series.values()].map((s) => ({ labels: labelsOf(this.labelNames, s.values), bounds: this.bounds, counts: [...s.counts], sum: s.sum }));
  }
}
