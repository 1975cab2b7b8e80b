/** Output for the CLI: aligned tables for people, one JSON document for scripts. */

export type Cell = string | number | boolean | null | undefined;

export function printTable(rows: readonly Record<string, Cell>[], columns?: string[], out: NodeJS.WritableStream = process.stdout): void {
  if (rows.length === 0) {
    out.write('(none)\n');
    return;
  }
  const cols = columns ?? Object.keys(rows[0]!);
  const text = rows.map((row) => cols.map((c) => formatCell(row[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...text.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd();
  out.write(`${line(cols.map((c) => c.toUpperCase()))}\n`);
  for (const r of text) out.write(`${line(r)}\n`);
}

export function printJson(value: unknown, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${JSON.stringify(value)}\n`);
}

export function formatTime(epochMs: number | null | undefined): string {
  return epochMs === null || epochMs === undefined ? '' : new Date(epochMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function shorten(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function formatCell(value: Cell): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/\s+/g, ' ');
}
