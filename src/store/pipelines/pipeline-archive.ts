/**
 * Moves finished pipelines to `pipeline_history`: a plain batched function (the scheduled maintenance
 * only triggers it). Each batch is one transaction that inserts the history rows and deletes the live
 * ones, so a pipeline is in exactly one of the two tables at every instant, even if the process dies
 * mid-archive. The insert is an `INSERT ... SELECT ... ON CONFLICT DO NOTHING` (both dialects) and the
 * delete only removes rows whose history row exists, so a rerun after any failure is safe.
 */
import { InvalidOptionError } from '../../errors.js';
import type { Ledger } from '../ledger.js';
import { placeholders } from '../engine/sql.js';

export interface ArchivePipelinesOptions {
  /** Archive pipelines whose `finished_at` is at least this many ms before `now` (0: every finished one). */
  olderThanMs: number;
  /** At most this many pipelines per call. Default 10,000. */
  limit?: number;
  /** The reference time (epoch ms). Default `Date.now()`. */
  now?: number;
  /** Pipelines moved per transaction. Default 100. */
  batchSize?: number;
  /**
   * Test hook: runs inside each batch's transaction after the history insert and before the delete
   * (crash tests kill the process here). Default none.
   */
  onBatchWritten?: (batch: { index: number; ids: readonly string[] }) => Promise<void> | void;
}

const historyColumns =
  'id, name, run_id, final_state, status, status_reason, context, budgets, retries, total_loops, feedback, path, ' +
  'started_at, completed_at, duration_ms, archived_at';
const fromLiveColumns =
  'id, name, run_id, state, status, status_reason, context, budgets, retries, loops, feedback, path, ' +
  'created_at, finished_at, finished_at - created_at, CAST(? AS BIGINT)';

export async function archiveFinishedPipelines(ledger: Ledger, options: ArchivePipelinesOptions): Promise<{ archived: number }> {
  const olderThanMs = wholeNumber('olderThanMs', options.olderThanMs, 0);
  const limit = wholeNumber('limit', options.limit ?? 10_000, 1);
  const batchSize = wholeNumber('batchSize', options.batchSize ?? 100, 1);
  const now = wholeNumber('now', options.now ?? Date.now(), 0);
  const cutoff = now - olderThanMs;
  // FOR UPDATE SKIP LOCKED: two archivers on PostgreSQL take different pipelines instead of waiting.
  const lock = ledger.dialect === 'postgresql' ? ' FOR UPDATE SKIP LOCKED' : '';

  let archived = 0;
  for (let index = 0; archived < limit; index++) {
    const size = Math.min(batchSize, limit - archived);
    const moved = await ledger.transaction(async (tx) => {
      const rows = await tx.all(
        `SELECT id FROM pipelines WHERE status IN ('succeeded', 'failed') AND finished_at <= ? ORDER BY finished_at, id LIMIT ?${lock}`,
        [cutoff, size],
      );
      if (rows.length === 0) return 0;
      const ids = rows.map((r) => r.id as string);
      const inList = placeholders(ids.length);
      await tx.run(
        `INSERT INTO pipeline_history (${historyColumns})
         SELECT ${fromLiveColumns} FROM pipelines WHERE id IN (${inList}) ON CONFLICT DO NOTHING`,
        [now, ...ids],
      );
      await options.onBatchWritten?.({ index, ids });
      return tx.run(
        `DELETE FROM pipelines WHERE id IN (${inList}) AND EXISTS (SELECT 1 FROM pipeline_history h WHERE h.id = pipelines.id)`,
        ids,
      );
    });
    if (moved === 0) break;
    archived += moved;
  }
  return { archived };
}

function wholeNumber(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(option, `a whole number >= ${min}`, value);
  }
  return value;
}
