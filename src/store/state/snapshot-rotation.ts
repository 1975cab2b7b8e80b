/**
 * Snapshot rotation, a plain batched maintenance task: deletes expired snapshots, then, per subject,
 * every snapshot but the newest `keepPerSubject` of those not expired. Scheduling (and running each
 * tick once across processes) is the maintenance runner's job; this only does the work and counts.
 *
 * Expired snapshots never count towards the ones kept: a subject whose newest snapshot has expired
 * keeps its newest `keepPerSubject` unexpired ones, so rotation never leaves fewer than that. Ties on
 * `created_at` are broken by id (ULIDs grow with creation), so the choice is deterministic.
 */
import { InvalidOptionError } from '../../errors.js';
import type { EntityManager } from '@mikro-orm/core';
import { SnapshotEntity } from '../entities/index.js';
import type { Ledger } from '../ledger.js';
import { sqlFor } from '../orm/em-sql.js';
import { stateTransaction } from './state-em.js';

export interface RotateSnapshotsOptions {
  /** Unexpired snapshots kept per subject (the newest ones). At least 1. */
  keepPerSubject: number;
  /** The time expiry is judged against (epoch ms); snapshots with `expires_at <= now` are expired. */
  now: number;
  /** Most snapshots deleted by one call, expired and rotated together; the next call goes on. */
  limit: number;
}

export interface RotateSnapshotsResult {
  /** Deleted because they had expired. */
  expired: number;
  /** Deleted because newer unexpired snapshots of the same subject outnumbered `keepPerSubject`. */
  rotated: number;
}

const deleteChunk = 500;

export async function rotateSnapshots(ledger: Ledger, options: RotateSnapshotsOptions): Promise<RotateSnapshotsResult> {
  const { keepPerSubject, now, limit } = options;
  if (!Number.isSafeInteger(keepPerSubject) || keepPerSubject < 1) {
    throw new InvalidOptionError('keepPerSubject', 'a whole number >= 1', keepPerSubject);
  }
  if (!Number.isSafeInteger(now) || now < 0) throw new InvalidOptionError('now', 'a time in epoch milliseconds', now);
  if (!Number.isSafeInteger(limit) || limit < 1) throw new InvalidOptionError('limit', 'a whole number >= 1', limit);

  const expired = await stateTransaction(ledger, async (em) => {
    const oldest = await em.find(
      SnapshotEntity,
      { expiresAt: { $ne: null, $lte: now } },
      { fields: ['id'], orderBy: [{ expiresAt: 'asc' }, { id: 'asc' }], limit, disableIdentityMap: true },
    );
    return deleteByIds(em, oldest.map((s) => s.id), now);
  });
  if (expired >= limit) return { expired, rotated: 0 };

  const rotated = await stateTransaction(ledger, async (em) => {
    // Raw, through the fork's connection and transaction with bound values: the ORM's queries have
    // no window function, and "all but the newest N per subject" needs ROW_NUMBER.
    const ranked = await sqlFor(em).all(
      `SELECT id FROM (
         SELECT id, created_at,
                ROW_NUMBER() OVER (PARTITION BY subject_type, subject_id ORDER BY created_at DESC, id DESC) AS newest
         FROM snapshots WHERE expires_at IS NULL OR expires_at > ?
       ) ranked
       WHERE newest > ? ORDER BY created_at, id LIMIT ?`,
      [now, keepPerSubject, limit - expired],
    );
    return deleteByIds(em, ranked.map((r) => r.id as string));
  });
  return { expired, rotated };
}

/** Deletes the snapshots `ids` (set-based, in chunks); with `expiredBy`, only those still expired then. */
async function deleteByIds(em: EntityManager, ids: readonly string[], expiredBy?: number): Promise<number> {
  let deleted = 0;
  for (let start = 0; start < ids.length; start += deleteChunk) {
    const chunk = ids.slice(start, start + deleteChunk);
    deleted += await em.nativeDelete(SnapshotEntity, { id: { $in: chunk }, ...(expiredBy !== undefined ? { expiresAt: { $lte: expiredBy } } : {}) });
  }
  return deleted;
}
