/**
 * The replays' facade over the Ledger: each call one unit of work or one read on its own fork.
 * The batch write (`recordReplayBatch`) is not here: it runs inside the transaction that inserts
 * the batch's jobs (jobs/replay.ts).
 */
import type { EntityManager } from '@mikro-orm/core';
import type { AuditSource, JobReplayRow, ReplayRow, ReplayStatus } from '../entities/index.js';
import type { Ledger } from '../ledger.js';
import type { LedgerEm } from '../orm/open-orm.js';
import * as replays from './replays.js';

export class ReplayStore {
  constructor(private readonly ledger: Ledger) {}

  start(input: { name: string; reason: string; actor: string; source: AuditSource; filter: unknown; jobLimit: number | null }): Promise<ReplayRow> {
    return this.ledger.unitOfWork((em) => replays.startReplay(em, { ...input, now: Date.now() }));
  }

  finish(input: { replayId: string; status: Exclude<ReplayStatus, 'running'>; reason: string | null; actor: string; source?: AuditSource }): Promise<ReplayRow> {
    return this.ledger.unitOfWork((em) => replays.finishReplay(em, { ...input, now: Date.now() }));
  }

  get(replayId: string): Promise<ReplayRow> {
    return this.ledger.readEntities((em) => replays.getReplay(em, replayId));
  }

  list(options: { limit?: number; status?: ReplayStatus } = {}): Promise<ReplayRow[]> {
    return this.ledger.readEntities((em) => replays.listReplays(em, options));
  }

  lineage(jobId: string): Promise<replays.JobLineage> {
    return this.ledger.readEntities((em) => replays.jobLineage(em, jobId));
  }

  /** In the transaction of a batch's jobs (the caller's EntityManager, on the ledger's database). */
  recordBatch(em: EntityManager, input: { replayId: string; links: readonly JobReplayRow[]; matched: number; created: number }): Promise<void> {
    return replays.recordReplayBatch(em as LedgerEm, { ...input, now: Date.now() });
  }
}
