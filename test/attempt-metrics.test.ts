import { describe, expect, it } from 'vitest';
import { AttemptMetrics, maxJobTypeLabels } from '../src/observability/attempt-metrics.js';

const total = (counts: readonly number[] | undefined) => counts?.reduce((a, b) => a + b, 0);

const finished = (name: string) =>
  ({ type: 'job.completed', jobId: `job_${name}`, name, queue: 'q', attempt: 1, at: 0, durationMs: 20 }) as const;

describe('attempt metrics’ job_type label', () => {
  it('labels each attempt with its job type', () => {
    const metrics = new AttemptMetrics();
    metrics.observe(finished('email.send'));
    metrics.observe(finished('email.send'));
    metrics.observe(finished('report.build'));
    const counts = Object.fromEntries(metrics.durationSamples().map((s) => [s.labels?.job_type, total(s.counts)]));
    expect(counts).toEqual({ 'email.send': 2, 'report.build': 1 });
  });

  it('counts names past the bound as other, so foreign names cannot grow the series without end', () => {
    const metrics = new AttemptMetrics();
    for (let i = 0; i < maxJobTypeLabels + 50; i++) metrics.observe(finished(`type.${i}`));
    metrics.observe(finished('type.0')); // a name seen before the bound keeps its own series
    const samples = metrics.durationSamples();
    expect(samples).toHaveLength(maxJobTypeLabels + 1);
    const other = samples.find((s) => s.labels?.job_type === 'other');
    expect(total(other?.counts)).toBe(50);
    expect(total(samples.find((s) => s.labels?.job_type === 'type.0')?.counts)).toBe(2);
  });
});
