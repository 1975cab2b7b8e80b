/**
 * Histograms of the attempts this process's workers ran, fed with each start and outcome once the
 * ledger committed it: how long each attempt ran (the duration the ledger records), by queue, job
 * type and outcome, and how long each job waited from when it became due to its attempt's start
 * (pickup latency), by queue and job type. Like every Prometheus histogram they count from the
 * process's start; Prometheus sums them across workers.
 *
 * Job types are the registered ones, a bounded set; a worker that meets more than
 * `maxJobTypeLabels` distinct names (foreign jobs named by another producer) counts the rest under
 * `job_type="other"`, so no input can grow the series without bound.
 */
import type { HistogramSample } from './exposition.js';
import type { JobEvent, JobEventType } from './job-events.js';
import { LabelledHistogram, type HistogramSeries } from './series.js';

/** Upper bounds in seconds of attempt durations: from 5 ms to 10 minutes. */
export const durationBoundsSeconds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600] as const;

/** Upper bounds in seconds of pickup latencies: from 1 ms to 10 minutes. */
export const pickupBoundsSeconds = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600] as const;

/** Distinct `job_type` label values a process reports before it counts further ones as `other`. */
export const maxJobTypeLabels = 200;

export class AttemptMetrics {
  private readonly durations = new LabelledHistogram(['queue', 'job_type', 'outcome'], durationBoundsSeconds);
  private readonly pickups = new LabelledHistogram(['queue', 'job_type'], pickupBoundsSeconds);
  private readonly jobTypes = new Set<string>();
  /**
   * The series each (queue, job type[, event type]) observes into, found without building a key
   * string per attempt. Only names within the bound are kept here; the rest look `other` up.
   */
  private readonly durationSeries = new Map<string, Map<string, Map<JobEventType, HistogramSeries>>>();
  private readonly pickupSeries = new Map<string, Map<string, HistogramSeries>>();

  /** Counts an attempt's start (its pickup latency) or end (its duration). */
  observe(event: JobEvent): void {
    if (event.type === 'job.started') {
      if (event.pickupMs !== undefined) this.pickupSeriesOf(event.queue, event.name).observe(event.pickupMs / 1000);
      return;
    }
    if (event.durationMs === undefined) return;
    this.durationSeriesOf(event.queue, event.name, event.type).observe(event.durationMs / 1000);
  }

  private pickupSeriesOf(queue: string, name: string): HistogramSeries {
    let byName = this.pickupSeries.get(queue);
    if (!byName) this.pickupSeries.set(queue, (byName = new Map<string, HistogramSeries>()));
    const known = byName.get(name);
    if (known) return known;
    const jobType = this.jobTypeLabel(name);
    const series = this.pickups.seriesOf([queue, jobType]);
    if (jobType === name) byName.set(name, series);
    return series;
  }

  private durationSeriesOf(queue: string, name: string, type: JobEventType): HistogramSeries {
    let byName = this.durationSeries.get(queue);
    if (!byName) this.durationSeries.set(queue, (byName = new Map<string, Map<JobEventType, HistogramSeries>>()));
    let byType = byName.get(name);
    const known = byType?.get(type);
    if (known) return known;
    const jobType = this.jobTypeLabel(name);
    const series = this.durations.seriesOf([queue, jobType, type.slice('job.'.length)]);
    if (jobType === name) {
      if (!byType) byName.set(name, (byType = new Map<JobEventType, HistogramSeries>()));
      byType.set(type, series);
    }
    return series;
  }

  private jobTypeLabel(name: string): string {
    if (this.jobTypes.has(name)) return name;
    if (this.jobTypes.size >= maxJobTypeLabels) return 'other';
    this.jobTypes.add(name);
    return name;
  }

  durationSamples(): HistogramSample[] {
    return this.durations.samples();
  }

  pickupSamples(): HistogramSample[] {
    return this.pickups.samples();
  }
}
