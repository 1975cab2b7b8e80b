/**
 * The ledger's writes through MikroORM: transactions and units of work on a fresh fork per
 * operation (retried after a lost lock race, taking their turn among this process's SQLite
 * writers), a transaction on a caller's EntityManager, and the operations built on them: operator
 * actions, the audit log, runs, and what was done to a job outside jobledger (plain BullMQ, Redis).
 * The hot path below the ORM (enqueue, attempts, dispatched marks) is in ledger.ts, which extends
 * this class; the reads are in ledger-reads.ts, which this class extends.
 */
import type { EntityManager } from '@mikro-orm/core';
import type { DatabaseTarget } from '../config.js';
import { LedgerReads } from './ledger-reads.js';
import type { AuditRow, AuditSource, RunRow, RunStatus } from './entities/index.js';
import { checkAuditContext, recordAudit, type AuditContext, type AuditEntry } from './audit/audit-writes.js';
import type { InsertedJob, NewJob } from './jobs/job-writes.js';
import * as operator from './jobs/operator-writes.js';
import type { OperatorResult } from './jobs/operator-writes.js';
import * as pipelineOperator from './pipelines/pipeline-operator-writes.js';
import * as foreign from './jobs/foreign-jobs.js';
import * as redisActions from './jobs/redis-actions.js';
import type { SerializedError } from './attempts/outcome.js';
import * as runs from './runs/runs.js';
import { forkEm, type LedgerEm, type LedgerOrm } from './orm/open-orm.js';
import { ormTransaction, ormUnitOfWork, type OrmTransactionOptions } from './orm/orm-transaction.js';
import { sqlFor } from './orm/em-sql.js';
import type { Sql } from './engine/sql.js';
import { retryTransient } from './engine/retry-transient.js';
import { takeWriteLock } from './engine/sqlite/write-lock.js';
import { inTurn, type WriteTurns } from './engine/sqlite/write-turns.js';

export abstract class LedgerOrmWrites extends LedgerReads {
  protected constructor(
    orm: LedgerOrm,
    target: DatabaseTarget,
    databaseRetryMs: number,
    /** SQLite: this process's write transactions, on any connection, take turns (write-turns.ts). */
    protected readonly turns: WriteTurns | undefined,
  ) {
    super(orm, target, databaseRetryMs);
  }

  /**
   * @internal
   * Runs `work` in one transaction on a fresh fork, retried as a whole after a lost lock race
   * (retry-transient.ts), after the dispatched marks queued so far: an operator action taken right
   * after an enqueue finds the job `queued`, as the enqueue reported it.
   */
  async transaction<T>(work: (sql: Sql) => Promise<T>, options?: OrmTransactionOptions): Promise<T> {
    this.assertOpen('writing to the ledger');
    await this.writesSettled();
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
    await this.writesSettled();
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
