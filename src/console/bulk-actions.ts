/**
 * Retry or cancel many jobs at once: a list of ids, or every job matching a filter. Each job goes
 * through the same operator action as a single retry or cancel (its own event, with the token's name
 * as actor and the reason), so a bulk action leaves the same history as one click per job. A filter
 * is narrowed to the statuses the action applies to (retry: failed, cancelled; cancel: the
 * unfinished ones), read newest first by keyset pages, and capped at `maxBulkJobs` per request.
 *
 * The audit log gets one row per job changed (`job.retry`, `job.cancel`, in that job's transaction)
 * and, once the request is done, one row for the bulk action itself (`jobs.bulk_retry`,
 * `jobs.bulk_cancel`) with its filter or ids and how many jobs it changed; the per-job rows name it
 * by its id (`bulkId`). Each job is its own transaction, so the summary is written after them.
 */
import type { JobLedger } from '../jobledger.js';
import { JobLedgerError } from '../errors.js';
import { jobTransitions, newId, type AuditSource, type JobFilter, type JobStatus } from '../store/index.js';

export type BulkAction = 'retry' | 'cancel';

/** Most jobs one request acts on; `truncated` says when more matched. */
export const maxBulkJobs = 10_000;
const pageSize = 500;

export interface BulkOutcome {
  action: BulkAction;
  /** Jobs the request named or its filter matched (in a status the action applies to). */
  matched: number;
  /** Jobs the action changed. */
  affected: number;
  /** Jobs it did not change (already moved on, or unknown), with the first few reasons. */
  skipped: number;
  errors: { id: string; code: string; message: string }[];
  /** More jobs matched the filter than one request acts on: send it again for the rest. */
  truncated: boolean;
}

export function sourcesOf(action: BulkAction): readonly JobStatus[] {
  return jobTransitions[action].from;
}

/** The ids of the jobs `filter` matches in a status `action` applies to, newest first, at most `maxBulkJobs`. */
export async function matchingJobIds(jl: JobLedger, action: BulkAction, filter: Omit<JobFilter, 'limit' | 'offset' | 'before'>): Promise<{ ids: string[]; truncated: boolean }> {
  const wanted = filter.status === undefined ? [] : Array.isArray(filter.status) ? filter.status : [filter.status];
  const sources = sourcesOf(action);
  const statuses = wanted.length ? wanted.filter((s) => sources.includes(s)) : [...sources];
  if (statuses.length === 0) return { ids: [], truncated: false };
  const ids: string[] = [];
  let before: { createdAt: number; id: string } | undefined;
  for (;;) {
    const want = Math.min(pageSize, maxBulkJobs + 1 - ids.length);
    const page = await jl.ledger.listJobs({ ...filter, status: statuses, limit: want, ...(before ? { before } : {}) });
    ids.push(...page.map((j) => j.id));
    const last = page.at(-1);
    if (page.length < want || !last || ids.length > maxBulkJobs) break;
    before = { createdAt: last.createdAt, id: last.id };
  }
  const truncated = ids.length > maxBulkJobs;
  return { ids: truncated ? ids.slice(0, maxBulkJobs) : ids, truncated };
}

/** Who asked for a bulk action, from where, and what it named: a filter, or else its list of ids. */
export interface BulkRequest {
  reason: string;
  actor: string;
  source: AuditSource;
  filter?: object;
  truncated?: boolean;
}

export async function applyBulkAction(jl: JobLedger, action: BulkAction, ids: readonly string[], request: BulkRequest): Promise<BulkOutcome> {
  const { reason, actor, source } = request;
  const outcome: BulkOutcome = { action, matched: ids.length, affected: 0, skipped: 0, errors: [], truncated: request.truncated ?? false };
  const bulkId = newId('aud');
  for (const jobId of ids) {
    try {
      if (action === 'retry') await jl.retry({ jobId, reason, actor, source, bulkId });
      else await jl.cancel({ jobId, reason, actor, source, bulkId });
      outcome.affected += 1;
    } catch (error) {
      // A job that moved on meanwhile, or an unknown id: reported, not fatal to the rest.
      if (!(error instanceof JobLedgerError) || !['JOBLEDGER_ILLEGAL_TRANSITION', 'JOBLEDGER_NOT_FOUND'].includes(error.code)) throw error;
      outcome.skipped += 1;
      if (outcome.errors.length < 20) outcome.errors.push({ id: jobId, code: error.code, message: error.message });
    }
  }
  await jl.ledger.recordAudit(
    { actor, source },
    {
      id: bulkId,
      action: `jobs.bulk_${action}`,
      subjectType: 'jobs',
      subjectId: null,
      reason: reason.trim(),
      changes: null,
      filter: request.filter ?? { ids },
      count: outcome.affected,
      createdAt: Date.now(),
    },
  );
  return outcome;
}
