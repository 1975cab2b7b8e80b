/**
 * The ledger: the narrow contract through which workers, producers and the CLI reach the database.
 * It owns the ORM, forks one EntityManager per operation, wraps writes in transactions (retried
 * while SQLite is busy), and delegates each operation to the module that holds its SQL. The reads
 * are in ledger-reads.ts, which this class extends.
 */
import { InvalidOptionError } from '../errors.js';
import { rejection } from '../promises.js';
import type { EntityManager } from '@mikro-orm/core';
import { LedgerReads } from './ledger-reads.js';
import type { DatabaseTarget } from '../config.js';
import * as attempts from './attempts/attempt-writes.js';
import * as signals from './attempts/attempt-signals.js';
import type { AttemptRef, BeginResult, OutcomeHook, RecordedOutcome, WorkerIdentity } from './attempts/attempt-writes.js';
import type { AuditRow, AuditSource, JobRow, RunRow, RunStatus } from './entities/index.js';
import { checkAuditContext, recordAudit, type AuditContext, type AuditEntry } from './audit/audit-writes.js';
import * as jobWrites from './jobs/job-writes.js';
import type { InsertedJob, NewJob } from './jobs/job-writes.js';
import { ensureSchema, migrate } from './orm/migrator.js';
import * as operator from './jobs/operator-writes.js';
import * as pipelineOperator from './pipelines/pipeline-operator-writes.js';
import type { OperatorResult } from './jobs/operator-writes.js';
import * as foreign from './jobs/foreign-jobs.js';
import * as redisActions from './jobs/redis-actions.js';
import { ensureLedgerIdentity, readLedgerIdentity } from './identity/ledger-identity.js';
import type { SerializedError } from './attempts/outcome.js';
import { forkEm, inMemorySqliteConnection, openOrm, type LedgerEm, type LedgerOrm } from './orm/open-orm.js';
import type { Outcome } from './attempts/outcome.js';
import * as runs from './runs/runs.js';
import { probeWithin, type ProbeResult } from './health.js';
import { recordLostAttempt, type LostAttempt, type RecordedLoss } from './attempts/lost-attempts.js';
import { retryTransient } from './engine/retry-transient.js';
import type { FastExecutor } from './engine/executor.js';
import { openEngine } from './engine/open-engine.js';
import type { LedgerEngine } from './engine/engine.js';
import { DispatchedMarks, type MarkFailureHandler } from './jobs/dispatched-marks.js';
import { GroupCommitter, type GroupCommitStats } from './engine/group-commit.js';
import { dialectOf, type Sql } from './engine/sql.js';
import { sqlFor } from './orm/em-sql.js';
import { asUnavailable, defaultDatabaseRetryMs } from './engine/connection-loss.js';
import { ormTransaction, ormUnitOfWork, type OrmTransactionOptions } from './orm/orm-transaction.js';
import { describeDatabase } from '../config.js';
import { takeWriteLock } from './engine/sqlite/write-lock.js';
import { inTurn, WriteTurns } from './engine/sqlite/write-turns.js';

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

export class Ledger extends LedgerReads {
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
  /** SQLite: this process's write transactions, on any connection, take turns (write-turns.ts). */
  private readonly turns: WriteTurns | undefined;
  /** The ledger's identity, read once. */
  private identityRead: Promise<string> | undefined;

  private constructor(orm: LedgerOrm, target: DatabaseTarget, databaseRetryMs: number, engine: LedgerEngine, turns: WriteTurns | undefined) {
    super(orm, target, databaseRetryMs);
    this.turns = turns;
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
   * @internal
   * Runs `work` in one transaction on a fresh fork, retried as a whole after a lost lock race
   * (retry-transient.ts), after the dispatched marks queued so far: an operator action taken right
   * after an enqueue finds the job `queued`, as the enqueue reported it.
   */
  async transaction<T>(work: (sql: Sql) => Promise<T>, options?: OrmTransactionOptions): Promise<T> {
    this.assertOpen('writing to the ledger');
    await this.marks.settled();
    return retryTransient(() => inTurn(this.turns, () => ormTransaction(this.orm, work, options)), this.retrying);
  }

  /**
   * @internal
   * `transaction` through MikroORM's unit of work: `work` gets the transaction's EntityManager fork
   * (find, create and persist, nativeUpdate and nativeDelete), and what it persisted is flushed
   * before COMMIT. Same turns, write lock, retries and connection-loss handling as `transaction`.
   */
  async unitOfWork<T>(work: (em: LedgerEm) => Promise<T>, options?: OrmTransactionOptions): Promise<T> {
    this.assertOpen('writing to the ledger');
    await this.marks.settled();
    return retryTransient(() => inTurn(this.turns, () => ormUnitOfWork(this.orm, work, options)), this.retrying);
  }

  /**
   * @internal
   * A fresh EntityManager fork on the ledger's own database, for a transactional enqueue whose other
   * writes are ledger rows too (a replay's batch: jobs/replay.ts).
   */
  entityManager(): EntityManager {
    this.assertOpen('writing to the ledger');
    return forkEm(this.orm);
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
   * Runs `work` in a transaction of the caller's EntityManager (transactional enqueue; the database
   * must hold the ledger's tables). On SQLite the transaction takes its turn among this process's
   * writers (write-turns.ts) and then the write lock, before `work` runs (write-lock.ts). When this
   * call opens the transaction, one the database aborts for a lost lock race (SQLite busy, a
   * PostgreSQL deadlock or serialization failure) is rolled back and `work` runs again from the
   * start (retry-transient.ts). Inside a transaction the caller has already opened on `em`, it runs
   * once, as a nested transaction, and such an error reaches the caller.
   */
  transactionWith<T>(em: EntityManager, work: (em: EntityManager) => Promise<T>): Promise<T> {
    if (em.isInTransaction()) return em.transactional((tx) => work(tx));
    return retryTransient(() =>
      inTurn(this.turns, () =>
        em.transactional(async (tx) => {
          await takeWriteLock(sqlFor(tx));
          return work(tx);
        }),
      ),
    );
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

  findUndispatched(createdBefore: number, limit: number): Promise<JobRow[]> {
    return this.read((sql) => jobWrites.findUndispatched(sql, createdBefore, limit));
  }

  // --- jobs from elsewhere (foreign-jobs.ts) ---

  /** Records a job adopted from plain BullMQ whose payload its schema refused: `failed`, never run. */
  insertRefusedJob(job: NewJob, error: SerializedError): Promise<InsertedJob> {
    return this.unitOfWork((em) => foreign.insertRefusedJob(em, job, error));
  }

  /** One `job.type_unknown` event: a worker that does not know the job's type handed it back to Redis. */
  recordUnknownJobType(handBack: foreign.UnknownTypeHandBack): Promise<foreign.RecordedHandBack> {
    return this.unitOfWork((em) => foreign.recordUnknownJobType(em, handBack));
  }

  /** Unfinished jobs handed back for an unknown type and not started since (for the doctor). */
  findJobsAwaitingType(limit = 100): Promise<foreign.JobAwaitingType[]> {
    return this.readEntities((em) => foreign.findJobsAwaitingType(em, limit));
  }

  // --- what was done to a job in Redis (redis-actions.ts) ---

  /** A delayed job Redis promoted (Bull Board's "promote"): `job.promoted`, its `run_at` moved to the delivery. */
  recordPromotedJob(promoted: redisActions.PromotedJob): Promise<boolean> {
    return this.unitOfWork((em) => redisActions.recordPromotedJob(em, promoted));
  }

  /** Redis asked to run a finished job again and the ledger refused: `job.retry_refused`. */
  recordRefusedRedisRetry(refused: redisActions.RefusedRedisRetry): Promise<boolean> {
    return this.unitOfWork((em) => redisActions.recordRefusedRedisRetry(em, refused));
  }

  /** Someone removed the job from Redis (Bull Board's "remove"): `job.redis_removed`, once per removal. */
  recordRedisRemoval(removal: redisActions.RedisRemoval): Promise<boolean> {
    return this.unitOfWork((em) => redisActions.recordRedisRemoval(em, removal));
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

  // --- operator actions ---

  cancelJob(request: operator.OperatorRequest): Promise<OperatorResult> {
    return this.unitOfWork((em) => operator.cancelJob(em, request));
  }

  retryJob(request: operator.OperatorRequest): Promise<OperatorResult> {
    return this.unitOfWork((em) => operator.retryJob(em, request));
  }

  cancelPipeline(request: pipelineOperator.PipelineOperatorRequest): Promise<pipelineOperator.CancelledPipeline> {
    return this.unitOfWork((em) => pipelineOperator.cancelPipeline(em, request));
  }

  retryPipeline(request: pipelineOperator.PipelineOperatorRequest, makeJob: pipelineOperator.RetryStageJob): Promise<pipelineOperator.RetriedPipeline> {
    return this.unitOfWork((em) => pipelineOperator.retryPipeline(em, request, makeJob));
  }

  // --- audit log ---

  /**
   * Records one operator action that has no change of its own to join (a bulk action's summary,
   * written after the per-job actions it made, each of which has its own row).
   */
  recordAudit(context: AuditContext, entry: AuditEntry): Promise<AuditRow> {
    const checked = checkAuditContext(context);
    return this.unitOfWork((em) => Promise.resolve(recordAudit(em, checked, entry)));
  }

  // --- runs ---

  createRun(input: { name: string; metadata?: unknown; actor: string }): Promise<RunRow> {
    return this.unitOfWork((em) => runs.createRun(em, { ...input, now: Date.now() }));
  }

  /** Changes a run's status, with its event and its audit row (`source` default `library`). */
  setRunStatus(input: { runId: string; status: RunStatus; reason?: string | null; actor: string; source?: AuditSource }): Promise<RunRow> {
    return this.unitOfWork((em) => runs.setRunStatus(em, { ...input, reason: input.reason ?? null, source: input.source ?? 'library', now: Date.now() }));
  }
}
