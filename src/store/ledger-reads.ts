/**
 * The ledger's reads: listings, details, the event log, counts and figures, each on a fresh
 * EntityManager fork outside any transaction, retried while the database comes back. `Ledger`
 * (ledger.ts) adds the writes; the two halves share the ORM handle and the retry settings.
 */
import type { DatabaseTarget } from '../config.js';
import type { AuditRow, JobRow, RunRow, RunStatus } from './entities/index.js';
import { listAudit, type AuditFilter } from './audit/audit-queries.js';
import type { LedgerEm, LedgerOrm } from './orm/open-orm.js';
import * as queries from './jobs/job-queries.js';
import { jobRecords } from './jobs/job-records.js';
import { eventLogEnd, eventLogPositionOf, readEventLog, type EventLogPosition, type LoggedEvent } from './jobs/event-log.js';
import * as runs from './runs/runs.js';
import { countAttemptsPastLock, countUndispatched } from './health.js';
import { runFigures, type RunFigures } from './runs/run-summary.js';
import { readLedgerFigures, type LedgerFigures, type LedgerFiguresOptions } from './metrics.js';
import { countActivity, type ActivityBucket } from './jobs/activity-buckets.js';
import { retryTransient } from './engine/retry-transient.js';
import type { Sql } from './engine/sql.js';
import { countRowsSchema, listEventsSchema, parseQuery } from './query-schemas.js';
import { assertId } from './ids.js';
import { JobLedgerClosedError, NotFoundError } from '../errors.js';
import { ormEntityRead, ormRead } from './orm/orm-transaction.js';
import { appliedMigrations, pendingMigrations } from './orm/migrator.js';

export abstract class LedgerReads {
  protected readonly retrying: { databaseRetryMs: number };
  /** Set by `close()` once its writes are drained: from then on every call fails with `JobLedgerClosedError`. */
  protected closed = false;

  protected constructor(
    /** @internal The ORM handle: for the store's own modules, not part of the published API. */
    readonly orm: LedgerOrm,
    readonly target: DatabaseTarget,
    /** How long a call waits for a database that went away (`OpenLedgerOptions.databaseRetryMs`). */
    readonly databaseRetryMs: number,
  ) {
    this.retrying = { databaseRetryMs };
  }

  /**
   * Resolves once the writes a read must see have landed: the hand-over marks `enqueue` queued
   * behind its return, so a read right after an enqueue finds the job `queued`, as reported.
   */
  protected abstract writesSettled(): Promise<void>;

  /** Throws `JobLedgerClosedError` once the ledger is closed: the pools are gone, and their own errors say nothing of why. */
  protected assertOpen(action: string): void {
    if (this.closed) throw new JobLedgerClosedError(action);
  }

  get dialect(): DatabaseTarget['dialect'] {
    return this.target.dialect;
  }

  /** The migrations applied to this database, oldest first: the last names its schema version. */
  appliedMigrations(): Promise<string[]> {
    return appliedMigrations(this.orm);
  }

  pendingMigrations(): Promise<string[]> {
    return pendingMigrations(this.orm);
  }

  /**
   * @internal
   * `read` through the ORM: `work` gets a fresh EntityManager fork, outside any transaction.
   */
  async readEntities<T>(work: (em: LedgerEm) => Promise<T>): Promise<T> {
    this.assertOpen('reading the ledger');
    await this.writesSettled();
    return retryTransient(() => ormEntityRead(this.orm, work), this.retrying);
  }

  /**
   * @internal
   * Runs reads on a fresh fork, outside any transaction, after the dispatched marks queued so far.
   * Reads change nothing, so one whose connection ended runs again while the database comes back.
   */
  async read<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    this.assertOpen('reading the ledger');
    await this.writesSettled();
    return retryTransient(() => ormRead(this.orm, work), this.retrying);
  }

  /** The audit log, newest first (audit/audit-queries.ts). */
  listAudit(filter?: AuditFilter): Promise<AuditRow[]> {
    return this.readEntities((em) => listAudit(em, filter));
  }

  getRun(runId: string): Promise<RunRow> {
    return this.readEntities((em) => runs.getRun(em, runId));
  }

  listRuns(options: { limit?: number; status?: RunStatus } = {}): Promise<RunRow[]> {
    return this.readEntities((em) => runs.listRuns(em, options));
  }

  existingRunIds(runIds: readonly string[]): Promise<Set<string>> {
    return this.readEntities((em) => runs.existingRunIds(em, runIds));
  }

  // --- queries ---

  getJob(jobId: string): Promise<JobRow> {
    return this.read((sql) => queries.getJob(sql, jobId));
  }

  getJobDetail(jobId: string): Promise<queries.JobDetail> {
    return this.read((sql) => queries.getJobDetail(sql, jobId));
  }

  /** The attempts and events of each of `jobs` (a page of a listing), in two reads. */
  jobRecords(jobs: readonly JobRow[]): Promise<queries.JobDetail[]> {
    return this.read((sql) => jobRecords(sql, jobs));
  }

  listJobs(filter?: queries.JobFilter): Promise<JobRow[]> {
    return this.read((sql) => queries.listJobs(sql, filter));
  }

  /** `listJobs` reading at most `scanLimit` jobs (job-queries.ts `searchJobs`). */
  searchJobs(filter: Omit<queries.JobFilter, 'offset'> & { scanLimit: number }): Promise<queries.JobSearch> {
    return this.read((sql) => queries.searchJobs(sql, filter));
  }

  countJobsByStatus(filter?: Omit<queries.JobFilter, 'limit' | 'offset' | 'before'>): ReturnType<typeof queries.countJobsByStatus> {
    return this.read((sql) => queries.countJobsByStatus(sql, filter));
  }

  listEvents(filter?: queries.EventFilter): ReturnType<typeof queries.listEvents> {
    return this.read((sql) => queries.listEvents(sql, filter));
  }

  /**
   * The event log's position now (where a follower that wants only what comes next starts), or the
   * position of event `afterId` (a follower resuming after the last event it handled). Throws
   * `NotFoundError` if the log holds no such event (pruned, or never written).
   */
  async eventLogPosition(afterId?: string): Promise<EventLogPosition> {
    if (afterId === undefined) return this.read((sql) => eventLogEnd(sql));
    assertId('evt', afterId);
    const position = await this.read((sql) => eventLogPositionOf(sql, afterId));
    if (!position) throw new NotFoundError('event', afterId);
    return position;
  }

  /** Up to `limit` events after `position`, in commit order (event-log.ts); only of `types`, if given. */
  readEventLog(position: EventLogPosition, options: { types?: readonly string[]; limit?: number } = {}): Promise<LoggedEvent[]> {
    const { type } = parseQuery(listEventsSchema, options.types?.length ? { type: [...options.types] } : {});
    const types = type === undefined ? [] : Array.isArray(type) ? type : [type];
    return this.read((sql) => readEventLog(sql, position, { types, limit: options.limit ?? 500 }));
  }

  listAttempts(filter: Parameters<typeof queries.listAttempts>[1]): ReturnType<typeof queries.listAttempts> {
    return this.read((sql) => queries.listAttempts(sql, filter));
  }

  /** Number of rows in a ledger table (for summaries and the doctor). */
  async countRows(table: 'jobs' | 'attempts' | 'events' | 'runs'): Promise<number> {
    // The table name becomes SQL text: only these four, whatever a JavaScript caller passes.
    parseQuery(countRowsSchema, table, 'table');
    const [row] = await this.read((sql) => sql.all(`SELECT COUNT(*) AS n FROM ${table}`));
    return Number(row?.n ?? 0);
  }

  // --- health and summaries ---

  countUndispatched(olderThanMs: number, now = Date.now()): Promise<number> {
    return this.read((sql) => countUndispatched(sql, now, olderThanMs));
  }

  countAttemptsPastLock(lockDurationMs: number): Promise<number> {
    return this.read((sql) => countAttemptsPastLock(sql, lockDurationMs));
  }

  /** Completions, attempt failures and retries per time bucket (store/jobs/activity-buckets.ts). */
  countActivity(window: { from: number; until: number; bucketMs: number }): Promise<ActivityBucket[]> {
    return this.read((sql) => countActivity(sql, window));
  }

  /** Jobs by queue and status and attempts by status, for metrics (store/metrics.ts: each table read once). */
  ledgerFigures(options: LedgerFiguresOptions): Promise<LedgerFigures> {
    return readLedgerFigures((work) => this.read(work), this.dialect, options);
  }

  runFigures(runId: string): Promise<RunFigures> {
    return this.read((sql) => runFigures(sql, runId));
  }
}
