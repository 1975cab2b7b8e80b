/**
 * The ledger's figures behind the Prometheus metrics (observability/ledger-metrics.ts): two grouped
 * counts, one over jobs and one over attempts. `status` on jobs and attempts is deliberately not
 * indexed (migrations HotJobUpdates and RunningAttempts: every start and finish would pay an index
 * write), so each count reads its table once; callers cache the figures and read them at most once
 * per interval, however many scrapes come.
 */
import { toNullableNumber, toNumber, type Sql } from './engine/sql.js';
import type { AttemptStatus, JobStatus } from './lifecycle.js';

export interface JobGroupFigure {
  queue: string;
  status: JobStatus;
  count: number;
  /** Earliest `run_at` (epoch ms) of the group: when its longest-waiting job became due. */
  oldestDueAt: number | null;
}

export interface LedgerFigures {
  jobs: JobGroupFigure[];
  /** Attempts ever recorded (and not pruned), by status. */
  attempts: Partial<Record<AttemptStatus, number>>;
}

export async function readLedgerFigures(sql: Sql): Promise<LedgerFigures> {
  const jobRows = await sql.all('SELECT queue, status, COUNT(*) AS n, MIN(run_at) AS oldest FROM jobs GROUP BY queue, status');
  const attemptRows = await sql.all('SELECT status, COUNT(*) AS n FROM attempts GROUP BY status');
  return {
    jobs: jobRows.map((r) => ({
      queue: String(r.queue),
      status: r.status as JobStatus,
      count: toNumber(r.n),
      oldestDueAt: toNullableNumber(r.oldest),
    })),
    attempts: Object.fromEntries(attemptRows.map((r) => [String(r.status), toNumber(r.n)])),
  };
}
