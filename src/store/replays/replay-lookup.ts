/**
 * Replays by id, for pages that show where jobs came from (the console's lineage): one read for the
 * distinct replays a job's links name, instead of one `getReplay` per link.
 */
import { InvalidOptionError } from '../../errors.js';
import { ReplayEntity, type ReplayRow } from '../entities/index.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { plainRows } from '../orm/entity-rows.js';

/** Most ids one call looks up. */
export const maxReplayLookup = 1000;

/** The replays among `replayIds` that exist, in the order asked (missing ids left out). */
export async function findReplays(em: LedgerEm, replayIds: readonly string[]): Promise<ReplayRow[]> {
  if (!Array.isArray(replayIds) || replayIds.length > maxReplayLookup || replayIds.some((id) => typeof id !== 'string')) {
    throw new InvalidOptionError('replayIds', `a list of at most ${maxReplayLookup} replay ids`, replayIds);
  }
  const unique: string[] = [...new Set<string>(replayIds)];
  if (unique.length === 0) return [];
  const rows = plainRows(ReplayEntity, await em.find(ReplayEntity, { id: { $in: unique } }));
  const found = new Map<string, ReplayRow>(rows.map((r) => [r.id, r]));
  return unique.flatMap((id) => found.get(id) ?? []);
}
