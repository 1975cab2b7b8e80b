/**
 * The ledger's figures behind the Prometheus metrics (observability/ledger-counts.ts): jobs grouped
 * by queue and status (with the outbox's backlog: committed jobs not handed to Redis yet), attempts
 * by status, and running attempts whose heartbeat is older than the lock. `status` on jobs and attempts is deliberately not
 * indexed (migrations HotJobUpdates and RunningAttempts: every start and finish would pay an index
 * write), so each count reads its table; callers cache the figures and read them at most once per
 * interval, however many scrapes come.
 *
 * PostgreSQL counts on the server, one statement per table. SQLite runs in this process and blocks
 * its event loop while a statement runs (200,000 jobs and their attempts: 580-1,270 ms in one
 * statement per table), so there the tables are read in rowid ranges of `sqliteChunkRows`, each a cheap
 * range of the table's own b-tree, with the event loop free between ranges. Each job is counted once,
 * in the status it had when its range was read.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { DatabaseDialect } from '../config.js';
import { toNullableNumber, toNumber, type Sql } from './engine/sql.js';
import { countAttemptsPastLock } from './health.js';
import { jobFrom, type AttemptStatus, type JobStatus } from './lifecycle.js';

export interface JobGroupFigure {
  queue: string;
  status: JobStatus;
  count: number;
  /** Earliest `run_at` (epoch ms) of the group: when its longest-waiting job became due. */
  oldestDueAt: number | null;
  /** Of the group, jobs committed but not handed to Redis yet (the relay's backlog; `pending` only). */
  undispatched: number;
  /** Earliest `updated_at` (epoch ms) of those: since when the longest-waiting one has waited for the relay. */
  oldestUndispatchedAt: number | null;
}

export interface LedgerFigures {
  jobs: JobGroupFigure[];
  /** Attempts ever recorded (and not pruned), by status. */
  attempts: Partial<Record<AttemptStatus, number>>;
  /** Running attempts whose last heartbeat is older than the lock, by the database's clock. */
  attemptsPastLock: number;
}

export interface LedgerFiguresOptions {
  /** The lock duration attempts' heartbeats are measured against (Config.lockDurationMs). */
  lockDurationMs: number;
}

/** Rows per SQLite statement: 20-60 ms of a held event loop each. */
export const sqliteChunkRows = 20_000;

type Read = <T>(work: (sql: Sql) => Promise<T>) => Promise<T>;

export async function readLedgerFigures(read: Read, dialect: DatabaseDialect, options: LedgerFiguresOptions, chunkRows = sqliteChunkRows): Promise<LedgerFigures> {
  // The outbox's backlog rides on the same scan: the relay's own condition (job-writes.ts).
  const undispatched = `${jobFrom('dispatch')} AND dispatched_at IS NULL`;
  const jobsSql = `SELECT queue, status, COUNT(*) AS n, MIN(run_at) AS oldest,
     SUM(CASE WHEN ${undispatched} THEN 1 ELSE 0 END) AS undispatched, MIN(CASE WHEN ${undispatched} THEN updated_at END) AS oldest_undispatched
     FROM jobs`;
  const attemptsSql = 'SELECT status, COUNT(*) AS n FROM attempts';
  const jobRows = dialect === 'sqlite' ? await inRowidRanges(read, 'jobs', jobsSql, 'queue, status', chunkRows) : await read((sql) => sql.all(`${jobsSql} GROUP BY queue, status`));
  const attemptRows = dialect === 'sqlite' ? await inRowidRanges(read, 'attempts', attemptsSql, 'status', chunkRows) : await read((sql) => sql.all(`${attemptsSql} GROUP BY status`));

  const jobs = new Map<string, JobGroupFigure>();
  for (const r of jobRows) {
    const queue = String(r.queue);
    const status = r.status as JobStatus;
    const oldest = toNullableNumber(r.oldest);
    const undispatchedCount = toNumber(r.undispatched ?? 0);
    const oldestUndispatched = toNullableNumber(r.oldest_undispatched);
    const group = jobs.get(`${queue}\u0000${status}`);
    if (!group) {
      jobs.set(`${queue}\u0000${status}`, {
        queue,
        status,
        count: toNumber(r.n),
        oldestDueAt: oldest,
        undispatched: undispatchedCount,
        oldestUndispatchedAt: oldestUndispatched,
      });
    } else {
      group.count += toNumber(r.n);
      group.undispatched += undispatchedCount;
      group.oldestDueAt = earliest(group.oldestDueAt, oldest);
      group.oldestUndispatchedAt = earliest(group.oldestUndispatchedAt, oldestUndispatched);
    }
  }
  const attempts: Partial<Record<AttemptStatus, number>> = {};
  for (const r of attemptRows) {
    const status = r.status as AttemptStatus;
    attempts[status] = (attempts[status] ?? 0) + toNumber(r.n);
  }
  // Running attempts are few and indexed by heartbeat (attempts_running_heartbeat_at_index).
  const attemptsPastLock = await read((sql) => countAttemptsPastLock(sql, options.lockDurationMs));
  return { jobs: [...jobs.values()], attempts, attemptsPastLock };
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  return b === null ? a : Math.min(a, b);
}

/** `select` (a `SELECT ... FROM table`) grouped by `groupBy`, once per rowid range, up to the highest rowid at the start. */
async function inRowidRanges(read: Read, table: 'jobs' | 'attempts', select: string, groupBy: string, chunkRows: number): Promise<Record<string, unknown>[]> {
  const [top] = await read((sql) => sql.all(`SELECT MAX(rowid) AS top FROM ${table}`));
  const last = toNullableNumber(top?.top) ?? 0;
  const rows: Record<string, unknown>[] = [];
  for (let from = 0; from < last; from += chunkRows) {
    if (from > 0) await yieldToLoop();
    rows.push(...(await read((sql) => sql.all(`${select} WHERE rowid > ? AND rowid <= ? GROUP BY ${groupBy}`, [from, from + chunkRows]))));
  }
  return rows;
}
