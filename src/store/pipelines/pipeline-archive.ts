/**
 * Moves finished pipelines to `pipeline_history`: a plain batched function (the scheduled maintenance
 * only triggers it). Each batch is one transaction that inserts the history rows and deletes the live
 * ones, so a pipeline is in exactly one of the two tables at every instant, even if the process dies
 * mid-archive. Through MikroORM: the batch's rows are loaded (locked on PostgreSQL), their history rows
 * inserted with `ON CONFLICT DO NOTHING` (both dialects) and the live rows deleted only where a
 * history row exists, so a rerun after any failure is safe.
 */
import { InvalidOptionError } from '../../errors.js';
import type { FindOptions } from '@mikro-orm/core';
import { LockMode } from '../orm/mikro-orm.js';
import { PipelineEntity, PipelineHistoryEntity, type PipelineHistoryRow, type PipelineRow } from '../entities/index.js';
import type { Ledger } from '../ledger.js';

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

/** History rows per INSERT statement: 16 parameters each, well below either dialect's limit. */
const insertChunk = 500;

export async function archiveFinishedPipelines(ledger: Ledger, options: ArchivePipelinesOptions): Promise<{ archived: number }> {
  const olderThanMs = wholeNumber('olderThanMs', options.olderThanMs, 0);
  const limit = wholeNumber('limit', options.limit ?? 10_000, 1);
  const batchSize = wholeNumber('batchSize', options.batchSize ?? 100, 1);
  const now = wholeNumber('now', options.now ?? Date.now(), 0);
  const cutoff = now - olderThanMs;
  // FOR UPDATE SKIP LOCKED: two archivers on PostgreSQL take different pipelines instead of waiting.
  const lock: FindOptions<PipelineRow> = ledger.dialect === 'postgresql' ? { lockMode: LockMode.PESSIMISTIC_PARTIAL_WRITE } : {};

  let archived = 0;
  for (let index = 0; archived < limit; index++) {
    const size = Math.min(batchSize, limit - archived);
    const moved = await ledger.unitOfWork(async (em) => {
      const finished = await em.find(
        PipelineEntity,
        { status: { $in: ['succeeded', 'failed'] }, finishedAt: { $lte: cutoff } },
        { ...lock, orderBy: { finishedAt: 'asc', id: 'asc' }, limit: size },
      );
      if (finished.length === 0) return 0;
      const ids = finished.map((p) => p.id);
      for (let start = 0; start < finished.length; start += insertChunk) {
        const rows = finished.slice(start, start + insertChunk).map((p) => historyRowOf(p, now));
        // ON CONFLICT DO NOTHING: a pipeline a failed earlier try already archived keeps its history row.
        await em.createQueryBuilder(PipelineHistoryEntity).insert(rows).onConflict('id').ignore().execute('run');
      }
      await options.onBatchWritten?.({ index, ids });
      // Only pipelines whose history row exists leave `pipelines`.
      const kept = await em.find(PipelineHistoryEntity, { id: { $in: ids } }, { fields: ['id'] });
      return em.nativeDelete(PipelineEntity, { id: { $in: kept.map((h) => h.id) } });
    });
    if (moved === 0) break;
    archived += moved;
  }
  return { archived };
}

function historyRowOf(p: PipelineRow, archivedAt: number): PipelineHistoryRow {
  const completedAt = p.finishedAt ?? archivedAt;
  return {
    id: p.id, name: p.name, runId: p.runId, finalState: p.state, status: p.status as PipelineHistoryRow['status'],
    statusReason: p.statusReason, context: p.context, budgets: p.budgets, retries: p.retries, totalLoops: p.loops,
    feedback: p.feedback, path: p.path, startedAt: p.createdAt, completedAt, durationMs: completedAt - p.createdAt, archivedAt,
  };
}

function wholeNumber(option: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new InvalidOptionError(option, `a whole number >= ${min}`, value);
  }
  return value;
}
