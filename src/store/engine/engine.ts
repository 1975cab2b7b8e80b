/**
 * The ledger's engine: the hot path's writes below MikroORM, batch first. Every write takes an
 * array (one is a batch of one, through the same code); the rare cases inside a batch (a job not
 * waiting for its next attempt, a late outcome) share one slow path (attempts/attempt-batch.ts).
 * Two implementations, one per dialect: sqlite/engine.ts on its better-sqlite3 connection and
 * prepared statements, postgres/engine.ts on its `pg.Pool` (each through its executor, executor.ts).
 * Everything else the ledger does goes through MikroORM's unit of work (orm/).
 *
 * The transaction-bound writes (`BatchedWrite`) are applied by the ledger's group commit
 * (group-commit.ts), which puts the writes of one event-loop turn in one transaction.
 */
import type { DatabaseDialect } from '../../config.js';
import type { BeginRequest, OutcomeRequest } from '../attempts/attempt-batch.js';
import type { BeginResult, RecordedOutcome } from '../attempts/attempt-writes.js';
import type { InsertedJob, NewJob } from '../jobs/job-writes.js';
import type { FastExecutor } from './executor.js';
import type { BatchedWrite } from './group-commit.js';
import type { Sql } from './sql.js';

/** A job BullMQ gave up on (or the poison guard did): its running attempts stalled, the job failed. */
export interface FailStalledRequest {
  jobId: string;
  reason: string;
  now: number;
  /** The delivery that decided it, so that a stale one fails nothing (attempt-signals.ts). */
  deliveredAt?: number;
}

export interface LedgerEngine {
  readonly dialect: DatabaseDialect;
  /**
   * Starts attempts: one fenced UPDATE of the batch's waiting jobs with RETURNING, then its attempt
   * and event rows together. Not the ORM: its unit of work would load each job, then flush one
   * UPDATE and two INSERTs per attempt, and a fenced, conditional update is not an entity change.
   */
  readonly startAttempts: BatchedWrite<BeginRequest, BeginResult>;
  /**
   * Finishes attempts: one fenced UPDATE of the batch's jobs, then the attempts' ends and the
   * events together. Not the ORM, for the same reason as `startAttempts`: per outcome a load and
   * three statements where the batch takes three in all.
   */
  readonly finishAttempts: BatchedWrite<OutcomeRequest, RecordedOutcome>;
  /**
   * Inserts jobs and their `job.enqueued` events: a multi-row INSERT per table (on PostgreSQL one
   * statement for both, committing by itself where no key is read). Not the ORM: `persist` and
   * `flush` of a thousand entities is a thousand tracked objects and change sets for rows nobody
   * reads back, and transactional enqueue writes through an application's EntityManager that may
   * not know the ledger's entities.
   */
  readonly insertJobs: BatchedWrite<NewJob, InsertedJob>;
  /**
   * Stamps running attempts' heartbeats, by attempt id, with the database's clock, in one UPDATE.
   * Not the ORM: the value is the database's clock, which an entity property cannot hold, and it
   * runs for every running attempt at every lock renewal.
   */
  heartbeats(tx: Sql, attemptIds: readonly string[]): Promise<void>;
  /**
   * Fails jobs BullMQ gave up on, their running attempts stalled, one result per request. Not the
   * ORM: it runs in the group-commit transaction beside the attempt writes, whose Sql it shares.
   */
  failStalled(tx: Sql, requests: readonly FailStalledRequest[]): Promise<boolean[]>;
  /**
   * Marks jobs handed to Redis, by id, in one UPDATE (on PostgreSQL one statement committing by
   * itself). Not the ORM: a set-based conditional update of thousands of rows a second, written
   * behind the enqueue (jobs/dispatched-marks.ts).
   */
  markDispatched(ids: readonly string[], now: number): Promise<void>;
  /** The connections: transactions, statements alone, cut-off COMMITs, probe and close. */
  readonly executor: FastExecutor;
}
