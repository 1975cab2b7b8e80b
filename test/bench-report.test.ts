/**
 * The bench's report: medians per backend, ratios to bare BullMQ, and the round-by-round ratios
 * (each against the bare runs on both sides) that show how far a single round can stray on a
 * drifting machine.
 */
import { describe, expect, it, vi } from 'vitest';
import type { RunFigures } from '../bench/backend-run.js';
import { parseOptions } from '../bench/options.js';
import { formatObservability, observabilityJson, summariseObservability } from '../bench/observability-report.js';
import { formatRoundRatios, formatTable, jsonReport, summarise } from '../bench/report.js';
import { median } from '../bench/stats.js';

function run(jobsPerS: number, enqueuePerS: number): RunFigures {
  return { jobsPerS, enqueuePerS, enqueueSinglePerS: 1, p50PickupMs: 1, p99PickupMs: 2, peakRssMiB: 100, latencyAddLagMs: 0 };
}

describe('the bench report', () => {
  // Round 2 is the machine's bad minute: everything slower, bare BullMQ most. The fourth bare run
  // is the closing one, after the last round.
  const results = new Map([
    ['bare', [run(14_000, 20_000), run(8_000, 14_000), run(15_000, 21_000), run(13_000, 19_000)]],
    ['sqlite', [run(6_300, 13_000), run(4_400, 10_000), run(7_500, 13_500)]],
  ] as const);

  it('compares each round with the mean of the bare runs around it, and takes the median of those', () => {
    const summary = summarise(results as unknown as Map<'bare' | 'sqlite', RunFigures[]>);
    // 6,300 / mean(14,000, 8,000); 4,400 / mean(8,000, 15,000); 7,500 / mean(15,000, 13,000).
    expect(summary.sqlite!.roundRatios!.jobsPerS.map((r) => r.toFixed(3))).toEqual(['0.573', '0.383', '0.536']);
    expect(summary.sqlite!.roundRatios!.enqueuePerS.map((r) => r.toFixed(3))).toEqual(['0.765', '0.571', '0.675']);
    expect(summary.sqlite!.ratio).toBeCloseTo(7_500 / 14_000, 6);
    expect(summary.sqlite!.ratios!.jobsPerS).toBe(summary.sqlite!.ratio);
    expect(summary.sqlite!.enqueueRatio).toBeCloseTo(13_500 / 20_000, 6);
    // Other figures: the ratio of the medians (bare's over its four runs).
    expect(summary.bare!.jobsPerS).toBe(13_500);
    expect(summary.sqlite!.ratios!.peakRssMiB).toBe(1);
    expect(summary.bare!.roundRatios).toBeUndefined();
    expect(formatRoundRatios(summary, ['bare', 'sqlite'])).toBe(
      'end-to-end × bare BullMQ around it, round by round: sqlite 0.573 0.383 0.536 (median 0.536)\n' +
        'bulk enqueue × bare BullMQ around it, round by round: sqlite 0.765 0.571 0.675 (median 0.675)',
    );
    const json = jsonReport(summary, parseOptions(['--node-flags=--single-threaded-gc'], {}), {}, 1) as {
      sqlite: { roundRatios: unknown; ratio: unknown };
      settings: { nodeFlags: unknown };
    };
    expect(json.sqlite.roundRatios).toEqual({ jobsPerS: [0.5727, 0.3826, 0.5357], enqueuePerS: [0.7647, 0.5714, 0.675] });
    expect(json.sqlite.ratio).toBe(0.5357);
    expect(json.settings.nodeFlags).toEqual(['--single-threaded-gc']);
  });

  it('falls back to the opening bare run when no bare run follows', () => {
    const summary = summarise(
      new Map([
        ['bare', [run(14_000, 20_000)]],
        ['sqlite', [run(7_000, 12_000)]],
      ]) as unknown as Map<'bare' | 'sqlite', RunFigures[]>,
    );
    expect(summary.sqlite!.roundRatios).toEqual({ jobsPerS: [0.5], enqueuePerS: [0.6] });
  });

  it('compares jobledger on PostgreSQL with pg-boss round by round, and names pg-boss in the table', () => {
    const summary = summarise(
      new Map([
        ['bare', [run(14_000, 20_000), run(12_000, 18_000), run(13_000, 19_000)]],
        ['postgres', [{ ...run(4_800, 10_000), enqueueSingle50PerS: 1_500 }, { ...run(3_900, 9_000), enqueueSingle50PerS: 1_700 }]],
        ['pgboss', [{ ...run(4_000, 60_000), enqueueSingle50PerS: 800 }, { ...run(4_200, 62_000), enqueueSingle50PerS: 800 }]],
      ]) as unknown as Map<'bare' | 'postgres' | 'pgboss', RunFigures[]>,
    );
    // Single enqueue against pg-boss send: the median of each over its runs.
    expect(summary.postgres!.pgbossEnqueueRatios).toEqual({ enqueueSinglePerS: 1, enqueueSingle50PerS: 2 });
    expect(summary.postgres!.pgbossRatios!.rounds.map((r) => r.toFixed(3))).toEqual(['1.200', '0.929']);
    expect(summary.postgres!.pgbossRatios!.median).toBeCloseTo((1.2 + 3_900 / 4_200) / 2, 6);
    expect(summary.pgboss!.ratio).toBeCloseTo(median([4_000 / 13_000, 4_200 / 12_500]), 6);
    expect(summary.pgboss!.pgbossRatios).toBeUndefined();
    expect(formatRoundRatios(summary, ['bare', 'postgres', 'pgboss']).split('\n').slice(-2)).toEqual([
      'end-to-end, jobledger postgres × pg-boss in the same round: 1.200 0.929 (median 1.064)',
      'single enqueue, jobledger postgres × pg-boss send (medians): 1 caller 1.00, 50 callers 2.00',
    ]);
    expect(formatTable(summary, ['bare', 'postgres', 'pgboss']).split('\n')[0]).toMatch(/bare BullMQ +jobledger postgres +× bare +pg-boss +× bare$/);
    const json = jsonReport(summary, parseOptions(['--backends', 'bare,postgres,pgboss'], {}), {}, 1) as {
      postgres: { pgbossRatio: unknown; pgbossRoundRatios: unknown; pgbossEnqueueRatios: unknown };
      settings: { pgboss: unknown };
    };
    expect(json.postgres).toMatchObject({ pgbossRatio: 1.064, pgbossRoundRatios: [1.2, 0.9286], pgbossEnqueueRatios: { enqueueSingle50PerS: 2 } });
    expect(json.settings.pgboss).toEqual({ workers: 3, batchSize: 700 });
  });

  it('has no round-by-round line without bare BullMQ to compare with', () => {
    const summary = summarise(new Map([['sqlite', [run(6_300, 13_000)]]]) as unknown as Map<'sqlite', RunFigures[]>);
    expect(summary.sqlite!.roundRatios).toBeUndefined();
    expect(formatRoundRatios(summary, ['sqlite'])).toBe('');
  });

  it('--profile-end-to-end: profiles only the end-to-end phase, into the --profile-dir given', () => {
    expect(parseOptions(['--profile-dir', '/tmp/p', '--profile-end-to-end'], {})).toMatchObject({ profileDir: '/tmp/p', profileEndToEnd: true });
    expect(parseOptions(['--profile-dir', '/tmp/p'], {})).toMatchObject({ profileDir: '/tmp/p', profileEndToEnd: false });
  });

  it('--metrics: pairs each jobledger backend’s runs with metrics and tracing off and on, round by round', () => {
    const options = parseOptions(['--metrics', '--backends', 'sqlite,postgres'], {});
    expect(options.metrics).toBe(true);
    expect(parseOptions([], {}).metrics).toBe(false);
    // The observed worker's SDK exports through a BatchSpanProcessor unless asked for the debugging one.
    expect(options).toMatchObject({ metricsSpanProcessor: 'batch', metricsContextManager: 'als' });
    expect(parseOptions(['--metrics', '--metrics-span-processor', 'simple'], {}).metricsSpanProcessor).toBe('simple');
    // Every trace sampled unless a ratio is given; a ratio outside 0..1 is refused.
    expect(options.metricsSampleRatio).toBe(1);
    expect(parseOptions(['--metrics', '--metrics-sample-ratio', '0.1'], {}).metricsSampleRatio).toBe(0.1);
    const written: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (written.push(String(chunk)), true));
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`exit ${String(code)}`);
    });
    try {
      for (const bad of ['1.5', '-0.1', 'half', '']) expect(() => parseOptions(['--metrics', `--metrics-sample-ratio=${bad}`], {})).toThrow('exit 2');
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
    expect(written.filter((w) => w.includes('--metrics-sample-ratio: expected a number from 0 to 1'))).toHaveLength(4);
    const off = new Map([
      ['sqlite', [run(6_000, 1), run(5_000, 1), run(7_000, 1)]],
      ['postgres', [run(4_000, 1)]],
    ] as const);
    const on = new Map([
      ['sqlite', [{ ...run(5_700, 1), scrapes: 4, spans: 100 }, { ...run(5_000, 1), scrapes: 6, spans: 120 }, { ...run(6_300, 1), scrapes: 5, spans: 90 }]],
      ['postgres', [run(3_800, 1)]],
    ] as const);
    const summary = summariseObservability(off, on);
    // 5,700 / 6,000; 5,000 / 5,000; 6,300 / 7,000: the median of the rounds, not the ratio of the medians.
    expect(summary.sqlite!.roundRatios.map((r) => r.toFixed(3))).toEqual(['0.950', '1.000', '0.900']);
    expect(summary.sqlite!.ratio).toBeCloseTo(0.95, 6);
    expect(summary.sqlite).toMatchObject({ offJobsPerS: 6_000, onJobsPerS: 5_700, scrapes: 5, spans: 100 });
    expect(summary.postgres).toMatchObject({ ratio: 0.95, roundRatios: [0.95] });
    expect(summary.postgres!.scrapes).toBeUndefined();
    const table = formatObservability(summary).split('\n');
    expect(table[0]).toMatch(/^metrics \+ tracing +off jobs\/s +on jobs\/s +on\/off +round by round +scrapes +spans$/);
    expect(table[1]).toMatch(/^jobledger sqlite +6,000 +5,700 +0\.950 +0\.950 1\.000 0\.900 +5 +100$/);
    expect(table[2]).toMatch(/^jobledger postgres +4,000 +3,800 +0\.950 +0\.950 +– +–$/);
    expect(observabilityJson(summary)).toEqual({
      sqlite: { offJobsPerS: 6_000, onJobsPerS: 5_700, ratio: 0.95, roundRatios: [0.95, 1, 0.9], scrapes: 5, spans: 100 },
      postgres: { offJobsPerS: 4_000, onJobsPerS: 3_800, ratio: 0.95, roundRatios: [0.95] },
    });
    expect(formatObservability({})).toBe('');
  });
});
