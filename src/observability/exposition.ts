/**
 * The Prometheus text exposition format (version 0.0.4), written by hand: metric families with
 * their HELP and TYPE lines, escaped label values, and histograms as cumulative `_bucket` series
 * with `_sum` and `_count`.
 */

export const expositionContentType = 'text/plain; version=0.0.4; charset=utf-8';

export type Labels = Readonly<Record<string, string>>;

export interface Sample {
  labels?: Labels;
  value: number;
}

export interface HistogramSample {
  labels?: Labels;
  /** Upper bounds, ascending, without +Inf. */
  bounds: readonly number[];
  /** Observations per bucket, not cumulative: `counts[i]` fell at or below `bounds[i]` and above the bound before; the last entry is above every bound. */
  counts: readonly number[];
  sum: number;
}

export type MetricFamily =
  | { name: string; help: string; type: 'gauge' | 'counter'; samples: readonly Sample[] }
  | { name: string; help: string; type: 'histogram'; samples: readonly HistogramSample[] };

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Renders families in the order given; a family without samples still gets its HELP and TYPE. */
export function renderExposition(families: readonly MetricFamily[]): string {
  const lines: string[] = [];
  for (const family of families) {
    if (!metricName.test(family.name)) throw new Error(`not a Prometheus metric name: ${JSON.stringify(family.name)}`);
    lines.push(`# HELP ${family.name} ${escapeHelp(family.help)}`, `# TYPE ${family.name} ${family.type}`);
    if (family.type === 'histogram') {
      for (const sample of family.samples) {
        let cumulative = 0;
        sample.bounds.forEach((bound, i) => {
          cumulative += sample.counts[i] ?? 0;
          lines.push(`${family.name}_bucket${labelText({ ...sample.labels, le: formatNumber(bound) })} ${cumulative}`);
        });
        const total = sample.counts.reduce((a, b) => a + b, 0);
        lines.push(`${family.name}_bucket${labelText({ ...sample.labels, le: '+Inf' })} ${total}`);
        lines.push(`${family.name}_sum${labelText(sample.labels)} ${formatNumber(sample.sum)}`);
        lines.push(`${family.name}_count${labelText(sample.labels)} ${total}`);
      }
    } else {
      for (const sample of family.samples) lines.push(`${family.name}${labelText(sample.labels)} ${formatNumber(sample.value)}`);
    }
  }
  return lines.length ? `${lines.join('\n')}\n` : '';
}

export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

function labelText(labels: Labels | undefined): string {
  const entries = Object.entries(labels ?? {});
  if (entries.length === 0) return '';
  return `{${entries
    .map(([name, value]) => {
      if (!labelName.test(name) || name.startsWith('__')) throw new Error(`not a Prometheus label name: ${JSON.stringify(name)}`);
      return `${name}="${escapeLabelValue(value)}"`;
    })
    .join(',')}}`;
}

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}
