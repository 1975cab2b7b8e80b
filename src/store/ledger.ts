/**
 * The ledger: the narrow contract through which workers, producers and the CLI reach the database.
 * It owns the ORM and the hot path below it (the engine, group commit, the dispatched marks), opens
 * and closes both, and delegates each operation to the module that holds its SQL. The writes
 * through the ORM are in ledger-orm-writes.ts and the reads in ledger-reads.ts, which this class
 * extends in turn.
 */
import { InvalidOptionError } from '../errors.js';
import { rejection } from '../promises.js';
import type { EntityManager } from '@mikro-orm/core';
import { LedgerOrmWrites } from './ledger-orm-writes.js';
import type { DatabaseTarget } from '../config.js';
import * as attempts from './attempts/attempt-writes.js';
import * as signals from './attempts/attempt-signals.js';
import type { AttemptRef, BeginResult, OutcomeHook, RecordedOutcome, WorkerIdentity } from './attempts/attempt-writes.js';
import type { JobRow } from './entities/index.js';
import * as jobWrites from './jobs/job-writes.js';
import type { InsertedJob, NewJob } from './jobs/job-writes.js';
import { ensureSchema, migrate } from './orm/migrator.js';
import { ensureLedgerIdentity, readLedgerIdentity } from './identity/ledger-identity.js';
import { inMemorySqliteConnection, openOrm, type LedgerOrm } from './orm/open-orm.js';
import type { Outcome } from './attempts/outcome.js';
import { probeWithin, type ProbeResult } from './health.js';
import { recordLostAttempt, type LostAttempt, type RecordedLoss } from './attempts/lost-attempts.js';
import type { FastExecutor } from './engine/executor.js';
import { openEngine } from './engine/open-engine.js';
import type { LedgerEngine } from './engine/engine.js';
import { DispatchedMarks, type MarkFailureHandler } from './jobs/dispatched-marks.js';
import { GroupCommitter, type GroupCommitStats } from './engine/group-commit.js';
import { dialectOf } from './engine/sql.js';
import { sqlFor } from './orm/em-sql.js';
import { asUnavailable, defaultDatabaseRetryMs } from './engine/connection-loss.js';
import { describeDatabase } from '../config.js';
import { WriteTurns } from './engine/sqlite/write-turns.js';

/** A begin that lost a race with a concurrent change of its job is `raced` (the processor tries once more). */
function recoverRacedBegin(error: unknown): BeginResult {
  if (error instanceof attempts.RacedError) return { kind: 'raced' };
  throw error;
}

export interface OpenLedgerOptions {
  /** Apply pending migrations instead of refusing an older schema. Default false. */
  migrate?: boolean;
  /** Skip the schema check entirely (the `migrate` command itself). Default false. */
  skipSchemaCheck?: boolean;
  /**
   * Create the SQLite file or PostgreSQL database when it does not exist. Default true; with false,
   * a missing one is a `DatabaseMissingError` and nothing is created (the CLI's read-only commands).
   */
  create?: boolean;
  /**
   * How long a call waits for the database to come back when its connection failed or ended, before
   * it fails with `JOBLEDGER_DATABASE_UNAVAILABLE` (`Config.databaseRetryMs`). Default 20000.
   */
  databaseRetryMs?: number;
}

export class Ledger extends LedgerOrmWrites {
  /** The hot path below MikroORM, batch first, one engine per dialect (engine/engine.ts). */
  private readonly engine: LedgerEngine;
  /** The engine's connections: prepared statements (SQLite) or bound parameters (PostgreSQL). */
  private readonly fast: FastExecutor;
  /** Attempt starts and outcomes of the same event-loop turn share one transaction. */
  private readonly committer: GroupCommitter;
  /** Single enqueues gathered by the producer share one transaction (`insertJobsTogether`). */
  private readonly enqueues: GroupCommitter;
  /** Hand-over marks written behind `enqueue`'s return. */
  private readonly marks = new DispatchedMarks((ids) => this.markDispatched(ids));
  /** The ledger's identity, read once. */
  private identityRead: Promise<string> | undefined;

  private constructor(orm: LedgerOrm, target: DatabaseTarget, databaseRetryMs: number, engine: LedgerEngine, turns: WriteTurns | undefined) {
    super(orm, target, databaseRetryMs, turns);
    this.engine = engine;
    this.fast = this.engine.executor;
    // On PostgreSQL, a batch of starts or outcomes is one statement that commits alone where it can.
    this.committer = new GroupCommitter((work) => this.fast.transaction(work), { runAlone: this.fast.autocommit?.bind(this.fast) });
    // Its own committer, not the attempts': its batches are gathered by the producer already, so one
    // starts at once when none is committing, and enqueues never wait behind a batch of outcomes.
    this.enqueues = new GroupCommitter((work) => this.fast.transaction(work), { startAtOnce: true });
  }

  /** How group commit has batched single enqueues so far (`insertJobsTogether`): batches are commits. */
  get enqueueCommitStats(): GroupCommitStats {
    return this.enqueues.snapshot();
  }

  /** How group commit has batched the hot-path writes so far (for the benchmark and the doctor). */
  get groupCommitStats(): GroupCommitStats {
    return this.committer.snapshot();
  }

  static async open(target: DatabaseTarget, options: OpenLedgerOptions = {}): Promise<Ledger> {
    const what = `opening the ledger at ${describeDatabase(target)}`;
    const orm = await openOrm(target, { create: options.create ?? true }).catch((error: unknown) => {
      throw asUnavailable(what, error);
    });
    const databaseRetryMs = options.databaseRetryMs ?? defaultDatabaseRetryMs;
    const turns = target.dialect === 'sqlite' ? new WriteTurns() : undefined;
    let engine: LedgerEngine;
    try {
      if (!options.skipSchemaCheck) await ensureSchema(orm, { migrate: options.migrate ?? false });
      // Only this dialect's engine is loaded (open-engine.ts); it connects on first use.
      engine = await openEngine(target, { sharedSqliteConnection: inMemorySqliteConnection(orm), databaseRetryMs, writeTurns: turns });
    } catch (error) {
      await orm.close(true);
      throw asUnavailable(what, error);
    }
    return new Ledger(orm, target, databaseRetryMs, engine, turns);
  }

  protected writesSettled(): Promise<void> {
    return this.marks.settled();
  }

  migrate(): Promise<string[]> {
    return migrate(this.orm);
  }

  async close(): Promise<void> {
    await this.marks.settled();
    await this.enqueues.drain();
    await this.committer.drain();
    this.closed = true;
    await this.fast.close();
    await this.orm.close(true);
  }

  /**
   * Whether the database answers a trivial query within `timeoutMs`, through the hot path's own
   * connections (for health checks: a failed probe is not retried).
   */
  probe(timeoutMs: number): Promise<ProbeResult> {
    return probeWithin(() => this.fast.probe(), timeoutMs);
  }

  /**
   * The ledger's identity (`ldg_<ulid>`), written when its database was first migrated: what a
   * worker or producer claims its Redis prefix under. Read once per Ledger.
   */
  identity(): Promise<string> {
    // Read first: a write here would be this process's first ORM flush, and MikroORM's flush runs
    // inside an AsyncLocalStorage (see orm-transaction.ts on what that costs the hot path).
    this.identityRead ??= this.readEntities((em) => readLedgerIdentity(em))
      .then((found) => found ?? this.unitOfWork((em) => ensureLedgerIdentity(em, Date.now())))
      .then(
      (row) => row.id,
      (error: unknown) => {
        this.identityRead = undefined;
        throw error;
      },
    );
    return this.identityRead;
  }

  // --- enqueue ---

  /** Inserts jobs (and their events) all or none; idempotency keys return existing jobs. */
  async insertJobs(jobs: readonly NewJob[]): Promise<InsertedJob[]> {
    if (jobs.some((j) => j.idempotencyKey !== null)) {
      // A repeated idempotency key returns the existing job as the ledger holds it: first let this
      // process's marks land, or a job its earlier enqueue reported `queued` could read `pending`
      // (the enqueue test met it). Bulks without keys read nothing back and do not wait.
      await this.marks.settled();
    } else {
      // On PostgreSQL, one statement that commits by itself (postgres/engine.ts).
      const alone = await this.engine.insertJobs.commitAlone?.(jobs);
      if (alone) return alone;
    }
    // A concurrent producer's insert of the same key is met inside the insert (job-writes.ts).
    return this.fast.transaction((sql) => this.engine.insertJobs.runAll(sql, jobs));
  }

  /**
   * Inserts jobs that separate callers enqueued one each (jobs/enqueue-batcher.ts): together in one
   * transaction (on PostgreSQL, without keys, one statement), each settled on its own. Idempotency
   * keys are met as in `insertJobs` (a later job of a key the batch already holds gets the first
   * one's). If the batch fails, each job is inserted alone (group-commit.ts),
   * so one job's error reaches only its own caller; a database that stays unreachable fails them
   * all alike.
   */
  async insertJobsTogether(jobs: readonly NewJob[]): Promise<PromiseSettledResult<InsertedJob>[]> {
    // As in `insertJobs`: a repeated key reports its job as the ledger holds it, after this process's marks.
    if (jobs.some((j) => j.idempotencyKey !== null)) await this.marks.settled();
    return Promise.allSettled(this.enqueues.submitAllBatched(this.engine.insertJobs, jobs));
  }

  /**
   * @internal
   * Inserts jobs through the caller's EntityManager, inside the caller's transaction: the jobs exist
   * if and only if that transaction commits. The caller's database must hold the ledger's tables.
   */
  async insertJobsWith(em: EntityManager, jobs: readonly NewJob[]): Promise<InsertedJob[]> {
    if (dialectOf(em) !== this.dialect) {
      throw new InvalidOptionError('transaction', `an EntityManager on the ledger's own ${this.dialect} database`, `an EntityManager on ${dialectOf(em)}`);
    }
    return this.engine.insertJobs.runAll(sqlFor(em), jobs);
  }

  /**
   * After a transactional enqueue's COMMIT was cut off with its connection (server process
   * `backendPid`): whether it landed, which the job `jobId` it inserted tells once that process is
   * gone (cut-commit.ts). Throws `CommitOutcomeUnknownError` if the database stays unreachable.
   */
  async jobCommitLanded(backendPid: number | undefined, jobId: string, cause: unknown): Promise<boolean> {
    const witness = { table: 'jobs', id: jobId };
    if (this.fast.settleCommit) return this.fast.settleCommit({ backendPid, witness, what: 'a transactional enqueue', cause });
    return (await this.read((sql) => sql.all('SELECT 1 AS found FROM jobs WHERE id = ?', [jobId]))).length > 0;
  }

  /** Resolves once the dispatched marks this process queued so far are written (or reported failed). */
  dispatchedMarksSettled(): Promise<void> {
    return this.marks.settled();
  }

  markDispatched(ids: readonly string[], now = Date.now()): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.engine.markDispatched(ids, now);
  }

  /**
   * Marks jobs as handed to Redis in the background (dispatched-marks.ts); this process's reads
   * wait for marks queued before them. A failed write is reported to `onFailure`, and its jobs stay
   * `pending` for the relay. Resolves at once unless too many marks wait (then once they are written).
   */
  markDispatchedBehind(ids: readonly string[], onFailure: MarkFailureHandler): Promise<void> {
    return this.marks.add(ids, onFailure);
  }

  /**
   * The ids `landed` gathers are in Redis and their callers told so before the rest of their
   * hand-over was in; this process's reads write their marks first until the returned function is
   * called (dispatched-marks.ts).
   */
  promiseDispatchedMarks(landed: ReadonlySet<string>, onFailure: MarkFailureHandler): () => void {
    return this.marks.promise(landed, onFailure);
  }

  findUndispatched(createdBefore: number, limit: number): Promise<JobRow[]> {
    return this.read((sql) => jobWrites.findUndispatched(sql, createdBefore, limit));
  }

  // --- attempts ---

  /** `deliveredAt`: when the delivery was fetched from Redis, so that a stale one supersedes nothing. */
  beginAttempt(jobId: string, worker: WorkerIdentity, now = Date.now(), deliveredAt?: number): Promise<BeginResult> {
    // The commit's own promise, raced begins recovered inside it: one promise per begin, not three.
    try {
      const input = { jobId, worker, now, ids: attempts.newAttemptIds(), ...(deliveredAt === undefined ? {} : { deliveredAt }) };
      return this.committer.submitBatched(this.engine.startAttempts, input, recoverRacedBegin);
    } catch (error) {
      return rejection(error); // as from the async function this was
    }
  }

  recordOutcome(
    ref: AttemptRef,
    outcome: Outcome,
    progress?: unknown,
    now = Date.now(),
    hooks: readonly OutcomeHook[] = [],
  ): Promise<RecordedOutcome> {
    return this.committer.submitBatched(this.engine.finishAttempts, { ref, outcome, now, progress, hooks });
  }

  recordProgress(ref: AttemptRef, progress: unknown, event: boolean, now = Date.now()): Promise<boolean> {
    return this.committer.submit((sql) => signals.recordProgress(sql, ref, progress, now, event));
  }

  /** Stamps these running attempts' heartbeats with the database's clock. */
  recordHeartbeats(attemptIds: readonly string[]): Promise<void> {
    return this.committer.submit((sql) => this.engine.heartbeats(sql, attemptIds));
  }

  /** `deliveredAt`: the delivery that decided it, so that a stale one fails nothing (attempt-signals.ts). */
  failStalledJob(jobId: string, reason: string, now = Date.now(), deliveredAt?: number): Promise<boolean> {
    return this.committer.submit(async (sql) => {
      const [failed] = await this.engine.failStalled(sql, [{ jobId, reason, now, ...(deliveredAt === undefined ? {} : { deliveredAt }) }]);
      return failed!;
    });
  }

  /** Its own worker found the attempt lost (lost-attempts.ts): `stalled`, the job queued again. */
  recordLostAttempt(ref: AttemptRef, lost: LostAttempt, now = Date.now()): Promise<RecordedLoss> {
    return this.committer.submit((sql) => recordLostAttempt(sql, ref, lost, now));
  }
}
