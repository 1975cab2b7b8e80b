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
import type { JobEvent } from './job-events.js';
import { LabelledHistogram } from './series.js';

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

  /** Counts an attempt's start (its pickup latency) or end (its duration). */
  observe(event: JobEvent): void {
    const jobType = this.jobTypeLabel(event.name);
    if (event.type === 'job.started') {
      if (event.pickupMs !== undefined) this.pickups.observe([event.queue, jobType], event.pickupMs / 1000);
      return;
    }
    if (event.durationMs === undefined) return;
    this.durations.observe([event.queue, jobType, event.type.slice('job.'.length)], event.durationMs / 1000);
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
