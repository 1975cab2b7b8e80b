/**
 * The export formats: NDJSON (one job record per line), one JSON array, or CSV (one row per job,
 * the record's main fields; attempts and events as counts). Each writer takes records one at a time.
 */
import type { JobDetail } from '../../store/index.js';

export const exportFormats = ['ndjson', 'json', 'csv'] as const;
export type ExportFormat = (typeof exportFormats)[number];

export interface RecordWriter {
  /** Text before the first record. */
  start(): string;
  /** One record's text. */
  record(record: JobDetail, index: number): string;
  /** Text after the last record. */
  end(count: number): string;
}

const csvColumns = [
  'id', 'queue', 'name', 'status', 'status_reason', 'run_id', 'pipeline_id', 'stage', 'attempts_started', 'max_attempts',
  'created_at', 'started_at', 'finished_at', 'last_error', 'payload', 'result', 'attempts', 'events',
] as const;

export function recordWriter(format: ExportFormat): RecordWriter {
  switch (format) {
    case 'ndjson':
      return { start: () => '', record: (r) => `${JSON.stringify(r)}\n`, end: () => '' };
    case 'json':
      return { start: () => '[', record: (r, i) => `${i === 0 ? '' : ',\n'}${JSON.stringify(r)}`, end: () => ']\n' };
    case 'csv':
      return { start: () => `${csvColumns.join(',')}\r\n`, record: (r) => `${csvRow(r).map(csvCell).join(',')}\r\n`, end: () => '' };
  }
}

function csvRow({ job, attempts, events }: JobDetail): (string | number | null)[] {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const lastError = job.lastError as { message?: unknown } | null;
  return [
    job.id, job.queue, job.name, job.status, job.statusReason, job.runId, job.pipelineId, job.stage, job.attemptsStarted, job.maxAttempts,
    iso(job.createdAt), iso(job.startedAt), iso(job.finishedAt),
    lastError && typeof lastError.message === 'string' ? lastError.message : null,
    JSON.stringify(job.payload), job.result === null ? null : JSON.stringify(job.result), attempts.length, events.length,
  ];
}

/**
 * RFC 4180 quoting. A text starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
 * `'`, so that a spreadsheet opening the file shows a payload's text instead of running it as a
 * formula (CSV injection); numbers are written as they are.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
