/** Output for the CLI: tables for people that fit 120 columns (table.ts), one JSON document for scripts. */
import { renderTable, type Cell, type TableOptions } from './table.js';

export type { Cell } from './table.js';

export function printTable(rows: readonly Record<string, Cell>[], options: TableOptions = {}, out: NodeJS.WritableStream = process.stdout): void {
  out.write(`${renderTable(rows, options).join('\n')}\n`);
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
