/**
 * The CLI's one table renderer. Every table fits `maxWidth` columns (default 120): when the natural
 * widths are too wide, the widest columns are cut (each cut cell ends in `…`), never below
 * `minColumnWidth` nor the header; a `keep` column (an id, say) is never cut. When even that cannot
 * fit, or a single record (or a table that must not be cut) would be cut, the rows are printed
 * vertically instead: one `key: value`
 * line per column, long values wrapped onto indented lines, records separated by a blank line.
 */

export type Cell = string | number | boolean | null | undefined;

export interface TableOptions {
  /** Column keys in order; default the keys of the first row. */
  columns?: readonly string[];
  /** Columns never cut (ids that a reader copies). Default `id`. */
  keep?: readonly string[];
  /** Widest line. Default 120. */
  maxWidth?: number;
  /**
   * False: never cut a cell; a table too wide is printed vertically, its values wrapped (for
   * reports whose every word counts, like doctor's). Default true.
   */
  cut?: boolean;
}

export const defaultMaxWidth = 120;
/** A cut column keeps at least this many characters (or its header's, or its whole width if less). */
const minColumnWidth = 12;
const gap = '  ';

export function renderTable(rows: readonly Record<string, Cell>[], options: TableOptions = {}): string[] {
  if (rows.length === 0) return ['(none)'];
  const maxWidth = options.maxWidth ?? defaultMaxWidth;
  const columns = options.columns ?? Object.keys(rows[0]!);
  const keep = new Set(options.keep ?? ['id']);
  const headers = columns.map((c) => c.toUpperCase());
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  const natural = columns.map((_, i) => Math.max(headers[i]!.length, ...cells.map((r) => r[i]!.length)));
  const widths = fitWidths(natural, headers, columns.map((c) => keep.has(c)), maxWidth - gap.length * (columns.length - 1));
  const cutsSomething = widths !== null && widths.some((w, i) => w < natural[i]!);
  if (!widths || (cutsSomething && (rows.length === 1 || options.cut === false))) return renderVertical(columns, cells, maxWidth);
  const line = (texts: readonly string[]): string => texts.map((t, i) => cut(t, widths[i]!).padEnd(widths[i]!)).join(gap).trimEnd();
  return [line(headers), ...cells.map(line)];
}

/**
 * Column widths summing to at most `budget`: the natural ones if they fit, else the narrow columns
 * keep theirs and the wide ones share what is left evenly (water-filling). Null when the minimums
 * alone do not fit.
 */
function fitWidths(natural: readonly number[], headers: readonly string[], kept: readonly boolean[], budget: number): number[] | null {
  if (sum(natural) <= budget) return [...natural];
  const minimum = natural.map((n, i) => (kept[i] ? n : Math.min(n, Math.max(minColumnWidth, headers[i]!.length))));
  if (sum(minimum) > budget) return null;
  const widths = [...minimum];
  // Columns that may still grow, narrowest natural width first.
  let open = natural.map((_, i) => i).filter((i) => widths[i]! < natural[i]!).sort((a, b) => natural[a]! - natural[b]!);
  let left = budget - sum(widths);
  while (open.length > 0 && left > 0) {
    const share = Math.floor(left / open.length);
    if (share === 0) break;
    const next: number[] = [];
    for (const i of open) {
      const grow = Math.min(share, natural[i]! - widths[i]!);
      widths[i]! += grow;
      left -= grow;
      if (widths[i]! < natural[i]!) next.push(i);
    }
    open = next;
  }
  return widths;
}

function renderVertical(columns: readonly string[], cells: readonly string[][], maxWidth: number): string[] {
  const keyWidth = Math.max(...columns.map((c) => c.length)) + 1;
  const valueWidth = Math.max(1, maxWidth - keyWidth - 1);
  const lines: string[] = [];
  cells.forEach((row, r) => {
    if (r > 0) lines.push('');
    columns.forEach((column, i) => {
      const chunks = wrap(row[i]!, valueWidth);
      lines.push(`${`${column}:`.padEnd(keyWidth)} ${chunks[0]}`.trimEnd());
      for (const chunk of chunks.slice(1)) lines.push(`${' '.repeat(keyWidth)} ${chunk}`);
    });
  });
  return lines;
}

function wrap(text: string, width: number): string[] {
  if (text.length <= width) return [text];
  const chunks: string[] = [];
  for (let at = 0; at < text.length; at += width) chunks.push(text.slice(at, at + width));
  return chunks;
}

function cut(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, width - 1)}…`;
}

function cellText(value: Cell): string {
  if (value === null || value === undefined) return '';
  return String(value).replace(/\s+/g, ' ');
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
