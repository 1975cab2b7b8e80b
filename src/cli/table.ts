/**
 * The CLI's one table renderer. Every table fits `maxWidth` columns (default 120): when the natural
 * widths are too wide, the widest columns are cut (each cut cell ends in `…`), never below
 * `minColumnWidth` nor the header; a `keep` column (an id, say) and a column of times are never cut.
 * When even that cannot fit, or a single record (or a table that must not be cut) would be cut, the
 * rows are printed vertically instead: one `key: value` line per column, long values wrapped onto
 * indented lines, records separated by a blank line.
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
/** A time as output.ts's `formatTime` writes it. */
const timePattern = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/;

export function renderTable(rows: readonly Record<string, Cell>[], options: TableOptions = {}): string[] {
  if (rows.length === 0) return ['(none)'];
  const maxWidth = options.maxWidth ?? defaultMaxWidth;
  const columns = options.columns ?? Object.keys(rows[0]!);
  const keep = new Set(options.keep ?? ['id']);
  const headers = columns.map((c) => c.toUpperCase());
  const cells = rows.map((row) => columns.map((c) => cellText(row[c])));
  const natural = columns.map((_, i) => Math.max(headers[i]!.length, ...cells.map((r) => r[i]!.length)));
  const kept = columns.map((c, i) => keep.has(c) || cells.every((r) => r[i] === '' || timePattern.test(r[i]!)));
  const widths = fitWidths(natural, headers, kept, maxWidth - gap.length * (columns.length - 1));
  const cutsSomething = widths !== null && widths.some((w, i) => w < natural[i]!);
  if (!widths || (cutsSomething && (rows.length === 1 || options.cut === false))) return renderVertical(columns, cells, maxWidth);
  const line = (texts: readonly string[]): string => texts.map((t, i) => cut(t, widths[i]!).padEnd(widths[i]!)).join(gap).trimEnd();
  return [line(headers), ...cells.map(line)];
}

/**
 * Column widths summing to at most `budget`: the natural ones if they fit, else the widest columns
 * are cut first, all to the same width, as little as fits (narrow columns such as times and
 * statuses stay whole while a wider one can give way). Null when the minimums alone do not fit.
 */
function fitWidths(natural: readonly number[], headers: readonly string[], kept: readonly boolean[], budget: number): number[] | null {
  if (sum(natural) <= budget) return [...natural];
  const minimum = natural.map((n, i) => (kept[i] ? n : Math.min(n, Math.max(minColumnWidth, headers[i]!.length))));
  if (sum(minimum) > budget) return null;
  const widthsUnder = (cap: number): number[] => natural.map((n, i) => (kept[i] ? n : Math.max(minimum[i]!, Math.min(n, cap))));
  // The widest cap that fits: the cap is between 0 and the widest natural width.
  let low = 0;
  let high = Math.max(...natural);
  while (low < high) {
    const cap = Math.ceil((low + high) / 2);
    if (sum(widthsUnder(cap)) <= budget) low = cap;
    else high = cap - 1;
  }
  const widths = widthsUnder(low);
  // What the cap's rounding left over goes to the cut columns, one character each.
  let left = budget - sum(widths);
  for (let i = 0; i < widths.length && left > 0; i++) {
    if (widths[i]! < natural[i]!) {
      widths[i]! += 1;
      left -= 1;
    }
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

/** Lines of at most `width` characters, broken after a word where one ends in the line's second half. */
function wrap(text: string, width: number): string[] {
  const chunks: string[] = [];
  let rest = text;
  while (rest.length > width) {
    const space = rest.lastIndexOf(' ', width);
    const at = space > width / 2 ? space : width;
    chunks.push(rest.slice(0, at));
    rest = rest.slice(at).replace(/^ /, '');
  }
  chunks.push(rest);
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
