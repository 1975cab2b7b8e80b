/**
 * The listing filters the archive's index cannot serve, checked on an archived job's record: payload
 * fields compared as text (as the live listing compares them) and text in the last error's message,
 * ignoring ASCII case.
 */
import type { JobDetail, JobFilter } from '../../store/index.js';

export function matchesUnindexedFilter(record: JobDetail, filter: Pick<JobFilter, 'where' | 'errorContains'>): boolean {
  for (const [path, expected] of Object.entries(filter.where ?? {})) {
    let value: unknown = record.job.payload;
    for (const key of path.split('.')) value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return false;
    if (String(value) !== String(expected)) return false;
  }
  if (filter.errorContains !== undefined) {
    const message = (record.job.lastError as { message?: unknown } | null)?.message;
    if (typeof message !== 'string' || !message.toLowerCase().includes(filter.errorContains.toLowerCase())) return false;
  }
  return true;
}
