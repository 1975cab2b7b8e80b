/**
 * `--metrics`: what metrics and tracing cost. Every jobledger backend runs twice in each round, once
 * with both off and once with both on (backend-run.ts, `observed`), in alternating order; each
 * round's on/off ratio of end-to-end jobs/s compares two runs minutes apart on the same machine, and
 * the headline is the median of those ratios (the machine drifts between rounds more than within one).
 */
import type { RunFigures } from './backend-run.js';
import type { BackendName } from './options.js';
import { median } from './stats.js';

export interface ObservabilitySummary {
  /** Median end-to-end jobs/s with metrics and tracing off, and on. */
  offJobsPerS: number;
  onJobsPerS: number;
  /** Each round's on/off ratio of end-to-end jobs/s, and their median: 1 is no cost, 0.95 a 5 % cost. */
  roundRatios: number[];
  ratio: number;
  /** Medians over the observed runs: /metrics scrapes that answered, spans exported. */
  scrapes?: number;
  spans?: number;
}

/** Pairs each backend's off runs with its on runs, round by round. */
export function summariseObservability(
  off: ReadonlyMap<BackendName, readonly RunFigures[]>,
  on: ReadonlyMap<BackendName, readonly RunFigures[]>,
): Partial<Record<BackendName, ObservabilitySummary>> {
  const out: Partial<Record<BackendName, ObservabilitySummary>> = {};
  for (const [backend, onRuns] of on) {
    const offRuns = off.get(backend) ?? [];
    const rounds = Math.min(offRuns.length, onRuns.length);
    if (rounds === 0) continue;
    const roundRatios = Array.from({ length: rounds }, (_, i) => onRuns[i]!.jobsPerS / offRuns[i]!.jobsPerS);
    const optional = (key: 'scrapes' | 'spans'): number[] => onRuns.map((r) => r[key]).filter((v): v is number => v !== undefined);
    const scrapes = optional('scrapes');
    const spans = optional('spans');
    out[backend] = {
      offJobsPerS: median(offRuns.slice(0, rounds).map((r) => r.jobsPerS)),
      onJobsPerS: median(onRuns.slice(0, rounds).map((r) => r.jobsPerS)),
      roundRatios,
      ratio: median(roundRatios),
      ...(scrapes.length ? { scrapes: median(scrapes) } : {}),
      ...(spans.length ? { spans: median(spans) } : {}),
    };
  }
  return out;
}

/** The table under the main one: per backend, jobs/s off and on, the ratio and its rounds. */
export function formatObservability(summary: Partial<Record<BackendName, ObservabilitySummary>>): string {
  const rows = [['metrics + tracing', 'off jobs/s', 'on jobs/s', 'on/off', 'round by round', 'scrapes', 'spans']];
  for (const [backend, s] of Object.entries(summary)) {
    rows.push([
      `jobledger ${backend}`,
      whole(s.offJobsPerS),
      whole(s.onJobsPerS),
      s.ratio.toFixed(3),
      s.roundRatios.map((r) => r.toFixed(3)).join(' '),
      s.scrapes === undefined ? '–' : whole(s.scrapes),
      s.spans === undefined ? '–' : whole(s.spans),
    ]);
  }
  if (rows.length === 1) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')).join('\n');
  return (
    `${table}\n` +
    `(end-to-end, medians; "on": the worker serves /metrics, scraped every second, and runs an OpenTelemetry SDK with an\n` +
    ` in-memory exporter; on/off is the median of each round's ratio, the two runs of a round in alternating order)`
  );
}

/** The JSON report's `observability` entry. */
export function observabilityJson(summary: Partial<Record<BackendName, ObservabilitySummary>>): Record<string, unknown> {
  const round = (v: number): number => Number(v.toPrecision(v >= 1000 ? 7 : 4));
  return Object.fromEntries(
    Object.entries(summary).map(([backend, s]) => [
      backend,
      {
        offJobsPerS: round(s.offJobsPerS),
        onJobsPerS: round(s.onJobsPerS),
        ratio: round(s.ratio),
        roundRatios: s.roundRatios.map(round),
        ...(s.scrapes !== undefined ? { scrapes: s.scrapes } : {}),
        ...(s.spans !== undefined ? { spans: s.spans } : {}),
      },
    ]),
  );
}

function whole(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}
