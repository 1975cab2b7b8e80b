/**
 * docs/grafana-dashboard.json queries only what a real worker exports: every metric name in its
 * queries appears in a /metrics scrape of a worker after a workload, and every label it filters or
 * groups by is a label that metric carries. Both backends.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';

interface Panel {
  id: number;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { expr: string }[];
}

const dashboard = JSON.parse(readFileSync(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {
  panels: Panel[];
  templating: { list: { name: string; query: unknown }[] };
};

/** PromQL words that are not metric names. */
const promqlWords = new Set(['sum', 'max', 'min', 'by', 'rate', 'increase', 'histogram_quantile', 'label_values', 'le', 'without']);

/** Metric names and, per name, the label names a query's selectors use on it. */
function referenced(exprs: readonly string[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const expr of exprs) {
    for (const match of expr.matchAll(/\b([a-z_][a-z0-9_]*)(\{[^}]*\})?/g)) {
      const [, name, selector] = match;
      if (!name || promqlWords.has(name) || !/^(jobledger|process|nodejs)_/.test(name)) continue;
      const labels = out.get(name) ?? new Set<string>();
      for (const label of selector?.matchAll(/([a-z_]+)\s*=~?/g) ?? []) labels.add(label[1]!);
      out.set(name, labels);
    }
  }
  return out;
}

/** `name{a="x",b="y"} 1` lines: each sample's name and label names. */
function exported(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? \S+$/.exec(line);
    if (!match) continue;
    const labels = out.get(match[1]!) ?? new Set<string>();
    for (const label of match[2]?.matchAll(/([a-zA-Z_]+)="/g) ?? []) labels.add(label[1]!);
    out.set(match[1]!, labels);
  }
  return out;
}

describe('the Grafana dashboard', () => {
  it('is well-formed: unique panel ids, a query per panel, balanced parentheses', () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      for (const { expr } of panel.targets) {
        let depth = 0;
        for (const ch of expr) {
          depth += ch === '(' ? 1 : ch === ')' ? -1 : 0;
          expect(depth, expr).toBeGreaterThanOrEqual(0);
        }
        expect(depth, expr).toBe(0);
      }
    }
  });

  describe.each(backends)('on %s', (dialect) => {
    it('queries only metrics and labels a real worker exports', async () => {
      const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], env: { JOBLEDGER_METRICS_CACHE_MS: '0' } });
      const worker = jl.createWorker({ concurrency: 2 });
      await worker.start();
      const server = await jl.serveMetrics({ port: 0 });
      const jobs = await Promise.all([
        jl.enqueue('test.scripted', { action: 'succeed' }),
        jl.enqueue('test.scripted', { action: 'throw-permanent' }),
      ]);
      for (const job of jobs) await waitForStatus(jl, job.id, ['completed', 'failed']);
      // A maintenance run, so that its tick counter has a sample.
      await jl.maintenance.run('archive-pipelines');
      const body = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      const metrics = exported(body);

      const exprs = [
        ...dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)),
        ...dashboard.templating.list.map((v) => v.query).filter((q): q is string => typeof q === 'string'),
      ];
      const wanted = referenced(exprs);
      expect(wanted.size).toBeGreaterThan(8);
      for (const [name, labels] of wanted) {
        expect(metrics.has(name), `${name} is not exported`).toBe(true);
        // `instance` and `job` are the labels Prometheus adds to every scraped sample.
        for (const label of labels) if (label !== 'instance' && label !== 'job') expect(metrics.get(name), `${name} has no label ${label}`).toContain(label);
      }
      await jl.close();
    });
  });
});
