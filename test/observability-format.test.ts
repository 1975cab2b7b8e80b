/**
 * The parts of the metrics that need no process around them: the exposition format's escaping and
 * histogram series, and the cache and counter semantics of the ledger's counts.
 */
import { describe, expect, it } from 'vitest';
import { renderExposition } from '../src/observability/exposition.js';
import { LedgerCounts, readCostFactor } from '../src/observability/ledger-counts.js';
import { LabelledCounter, LabelledHistogram } from '../src/observability/series.js';
import type { LedgerFigures } from '../src/store/index.js';

describe('the exposition format', () => {
  it('escapes label values and HELP text, and writes histograms as cumulative buckets', () => {
    const text = renderExposition([
      { name: 'x_jobs', help: 'a\\b\nc', type: 'gauge', samples: [{ labels: { queue: 'q"1\\\n' }, value: 3 }] },
      { name: 'x_seconds', help: 'h', type: 'histogram', samples: [{ labels: { queue: 'q' }, bounds: [0.1, 1], counts: [2, 1, 4], sum: 9.5 }] },
      { name: 'x_total', help: 'c', type: 'counter', samples: [{ value: Infinity }] },
    ]);
    expect(text).toBe(
      [
        '# HELP x_jobs a\\\\b\\nc',
        '# TYPE x_jobs gauge',
        'x_jobs{queue="q\\"1\\\\\\n"} 3',
        '# HELP x_seconds h',
        '# TYPE x_seconds histogram',
        'x_seconds_bucket{queue="q",le="0.1"} 2',
        'x_seconds_bucket{queue="q",le="1"} 3',
        'x_seconds_bucket{queue="q",le="+Inf"} 7',
        'x_seconds_sum{queue="q"} 9.5',
        'x_seconds_count{queue="q"} 7',
        '# HELP x_total c',
        '# TYPE x_total counter',
        'x_total +Inf',
        '',
      ].join('\n'),
    );
  });

  it('refuses a metric or label name Prometheus would not accept', () => {
    expect(() => renderExposition([{ name: 'bad-name', help: '', type: 'gauge', samples: [] }])).toThrow(/metric name/);
    expect(() => renderExposition([{ name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'bad-label': 'x' }, value: 1 }] }])).toThrow(/label name/);
  });
});

describe('the ledger counts behind /metrics', () => {
  const figures = (attempts: LedgerFigures['attempts']): LedgerFigures => ({ jobs: [], attempts, attemptsPastLock: 0 });

  it('reads at most once per interval, and concurrent scrapes share one read', async () => {
    let reads = 0;
    let release: () => void = () => undefined;
    const counts = new LedgerCounts(async () => {
      reads += 1;
      await new Promise<void>((resolve) => (release = resolve));
      return figures({ succeeded: reads });
    }, 60_000);
    const a = counts.get();
    const b = counts.get();
    release();
    expect((await a).attemptTotals).toEqual({ succeeded: 1 });
    expect(await b).toBe(await a);
    expect(await counts.get()).toBe(await a);
    expect(reads).toBe(1);
  });

  /** Counts whose every read takes at least `readMs`; `reads()` says how many were made. */
  function slowCounts(readMs: number, cacheMs: number): { counts: LedgerCounts; reads: () => number } {
    let reads = 0;
    const counts = new LedgerCounts(async () => {
      reads += 1;
      await new Promise((resolve) => setTimeout(resolve, readMs));
      return figures({ succeeded: reads });
    }, cacheMs);
    return { counts, reads: () => reads };
  }

  it('waits a hundred times as long as a read took before the next, beyond the interval, so a large ledger is not counted ever more often', async () => {
    // A read of at least 30 ms: the next may come no sooner than 3 s after it, the 10 ms interval notwithstanding.
    const { counts, reads } = slowCounts(30, 10);
    const first = await counts.get();
    expect(first.readSeconds).toBeGreaterThanOrEqual(0.025);
    const stretched = first.readSeconds * 1000 * readCostFactor;
    expect(await counts.get(first.readAt + 1000)).toBe(first);
    expect(await counts.get(first.readAt + Math.floor(stretched) - 1)).toBe(first);
    expect(reads()).toBe(1);
    const second = await counts.get(first.readAt + Math.ceil(stretched) + 1);
    expect(second.attemptTotals).toEqual({ succeeded: 2 });
    expect(reads()).toBe(2);
  });

  it('reads at every call with an interval of 0, however long a read took', async () => {
    const { counts, reads } = slowCounts(20, 0);
    const first = await counts.get();
    await counts.get(first.readAt);
    expect(reads()).toBe(2);
  });

  it('never lets an attempt total decrease when retention prunes attempts', async () => {
    const reads: LedgerFigures[] = [figures({ succeeded: 10, failed: 2 }), figures({ succeeded: 4, failed: 2 }), figures({ succeeded: 6 })];
    const counts = new LedgerCounts(() => Promise.resolve(reads.shift()!), 0);
    expect((await counts.get()).attemptTotals).toEqual({ succeeded: 10, failed: 2 });
    // 6 pruned: the total stays 10.
    expect((await counts.get()).attemptTotals).toEqual({ succeeded: 10, failed: 2 });
    // 2 more succeeded; every failed attempt pruned.
    expect((await counts.get()).attemptTotals).toEqual({ succeeded: 12, failed: 2 });
  });
});

describe('the series a process keeps', () => {
  it('puts an observation on a bound in that bound’s bucket, and renders cumulative buckets', () => {
    const histogram = new LabelledHistogram(['queue'], [0.01, 0.1]);
    for (const seconds of [0.01, 0.05, 0.1, 0.2]) histogram.observe(['default'], seconds);
    expect(renderExposition([{ name: 'x_seconds', help: 'h', type: 'histogram', samples: histogram.samples() }]).split('\n').slice(2, 7)).toEqual([
      'x_seconds_bucket{queue="default",le="0.01"} 1',
      'x_seconds_bucket{queue="default",le="0.1"} 3',
      'x_seconds_bucket{queue="default",le="+Inf"} 4',
      'x_seconds_sum{queue="default"} 0.36',
      'x_seconds_count{queue="default"} 4',
    ]);
  });

  it('counts by label values, and a zero add makes a series exist', () => {
    const counter = new LabelledCounter(['task', 'outcome']);
    counter.add(['prune', 'succeeded']);
    counter.add(['prune', 'succeeded'], 2);
    counter.add(['reconcile', 'missed'], 0);
    expect(counter.samples()).toEqual([
      { labels: { task: 'prune', outcome: 'succeeded' }, value: 3 },
      { labels: { task: 'reconcile', outcome: 'missed' }, value: 0 },
    ]);
  });
});
