/**
 * Load for the database fault scenarios: the test process enqueues in bulk and through
 * transactions of its own (transactional enqueue through an EntityManager of the ledger's ORM), as
 * an application would, while the faults land. A call that throws a retryable coded error wrote
 * nothing and is made again, as an application would; one whose outcome is unknown leaves its jobs
 * "in flight" for the checker (they may or may not exist). Any other error is unexpected.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EnqueueRequest } from '../../../src/jobs/validate-enqueue.js';
import type { Script } from '../fixtures/scripted-job.js';
import { between, type FaultBackend } from './scenario.js';

/** Maintenance every few seconds (the test process runs it); prune off, so no finished job goes away. */
export const chaosMaintenance = {
  JOBLEDGER_CRON_RECONCILE: '*/2 * * * * *',
  JOBLEDGER_CRON_ARCHIVE_PIPELINES: '*/3 * * * * *',
  JOBLEDGER_CRON_ROTATE_SNAPSHOTS: '*/5 * * * * *',
  JOBLEDGER_CRON_PRUNE: 'off',
  JOBLEDGER_CRON_SQLITE_UPKEEP: 'off',
} as const;

export interface LoopResults {
  /** Jobs whose enqueue returned (also added to the backend's `acknowledged`). */
  acknowledged: number;
  /** Errors met, by code (each was retried or, if unknown, left in flight). */
  errors: Record<string, number>;
  /** Errors that were neither retryable nor an unknown outcome. */
  unexpectedErrors: string[];
  /** Tags of jobs whose enqueue's outcome stayed unknown. */
  inFlightTags: Set<string>;
}

export interface LoopOptions {
  bulks: number;
  bulkSize: number;
  transactions: number;
  transactionSize: number;
  /** Pause between two calls of a loop (ms range). */
  pauseMs: readonly [number, number];
}

/** Runs the bulk loop and the transactional loop side by side until both made all their calls. */
export async function enqueueLoops(b: FaultBackend, options: LoopOptions): Promise<LoopResults> {
  const results: LoopResults = { acknowledged: 0, errors: {}, unexpectedErrors: [], inFlightTags: new Set() };
  const script = (tag: string): Script => ({ action: 'sleep', ms: between(10, 150), tag });
  const requests = (prefix: string, size: number): EnqueueRequest[] =>
    Array.from({ length: size }, (_, k) => ({ name: 'test.scripted', payload: script(`${prefix}-${k}`) }));

  /** Makes one call until it returns or its outcome is unknown. */
  const call = async (prefix: string, size: number, enqueue: (reqs: EnqueueRequest[]) => Promise<{ id: string }[]>): Promise<void> => {
    for (let attempt = 0; ; attempt++) {
      const reqs = requests(`${prefix}-${attempt}`, size);
      try {
        for (const job of await enqueue(reqs)) b.acknowledged.add(job.id);
        results.acknowledged += size;
        return;
      } catch (error) {
        const e = error as { code?: string; retryable?: boolean; message?: string };
        const code = e.code ?? 'uncoded';
        results.errors[code] = (results.errors[code] ?? 0) + 1;
        if (code === 'JOBLEDGER_COMMIT_OUTCOME_UNKNOWN') {
          for (const r of reqs) results.inFlightTags.add((r.payload as Script).tag!);
          return;
        }
        if (e.retryable !== true) {
          results.unexpectedErrors.push(`${code}: ${e.message ?? String(error)}`);
          return;
        }
      }
    }
  };

  const bulkLoop = async (): Promise<void> => {
    for (let i = 0; i < options.bulks; i++) {
      await call(`bulk-${i}`, options.bulkSize, (reqs) => b.jl.enqueueBulk(reqs));
      await sleep(between(...options.pauseMs));
    }
  };
  const transactionLoop = async (): Promise<void> => {
    for (let i = 0; i < options.transactions; i++) {
      await call(`tx-${i}`, options.transactionSize, (reqs) => b.jl.transaction(b.jl.ledger.orm.em.fork(), (tx) => tx.enqueueBulk(reqs)));
      await sleep(between(...options.pauseMs));
    }
  };
  await Promise.all([bulkLoop(), transactionLoop()]);
  return results;
}
