/**
 * The bench's report: medians per backend, ratios to bare BullMQ, and the round-by-round ratios
 * that show how far a single round can stray on a drifting machine.
 */
import { describe, expect, it } from 'vitest';
import type { RunFigures } from '../bench/backend-run.js';
import { parseOptions } from '../bench/options.js';
import { formatRoundRatios, jsonReport, summarise } from '../bench/report.js';

function run(jobsPerS: number, enqueuePerS: number): RunFigures {
  return { jobsPerS, enqueuePerS, enqueueSinglePerS: 1, p50PickupMs: 1, p99PickupMs: 2, peakRssMiB: 100, latencyAddLagMs: 0 };
}

describe('the bench report', () => {
  // Round 2 is the machine's bad minute: everything slower, bare BullMQ most.
  const results = new Map([
    ['bare', [run(14_000, 20_000), run(8_000, 14_000), run(15_000, 21_000)]],
    ['sqlite', [run(6_300, 13_000), run(4_400, 10_000), run(7_500, 13_500)]],
  ] as const);

  it('gives the ratio of the medians and each round against its own bare round', () => {
    const summary = summarise(results as unknown as Map<'bare' | 'sqlite', RunFigures[]>);
    expect(summary.sqlite!.ratio).toBeCloseTo(6_300 / 14_000, 6);
    expect(summary.sqlite!.roundRatios!.jobsPerS.map((r) => r.toFixed(3))).toEqual(['0.450', '0.550', '0.500']);
    expect(summary.sqlite!.roundRatios!.enqueuePerS.map((r) => r.toFixed(3))).toEqual(['0.650', '0.714', '0.643']);
    expect(summary.bare!.roundRatios).toBeUndefined();
    expect(formatRoundRatios(summary, ['bare', 'sqlite'])).toBe(
      'end-to-end × bare BullMQ, round by round: sqlite 0.450 0.550 0.500 (median 0.500)\n' +
        'bulk enqueue × bare BullMQ, round by round: sqlite 0.650 0.714 0.643 (median 0.650)',
    );
    const json = jsonReport(summary, parseOptions(['--node-flags=--single-threaded-gc'], {}), {}, 1) as {
      sqlite: { roundRatios: unknown };
      settings: { nodeFlags: unknown };
    };
    expect(json.sqlite.roundRatios).toEqual({ jobsPerS: [0.45, 0.55, 0.5], enqueuePerS: [0.65, 0.7143, 0.6429] });
    expect(json.settings.nodeFlags).toEqual(['--single-threaded-gc']);
  });

  it('has no round-by-round line without bare BullMQ to compare with', () => {
    const summary = summarise(new Map([['sqlite', [run(6_300, 13_000)]]]) as unknown as Map<'sqlite', RunFigures[]>);
    expect(summary.sqlite!.roundRatios).toBeUndefined();
    expect(formatRoundRatios(summary, ['sqlite'])).toBe('');
  });
});
