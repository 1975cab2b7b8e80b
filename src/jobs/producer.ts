/**
 * Enqueue: validate every item, commit the jobs and their `job.enqueued` events to the ledger, then
 * hand them to BullMQ. The ledger commit comes first, so a crash or a Redis outage in between
 * leaves committed jobs in the outbox, where the relay finds them.
 */
import type { EntityManager } from '@mikro-orm/core';
import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import { InvalidOptionError, NotFoundError } from '../errors.js';
import { inCallerTransaction } from './caller-transaction.js';
import { faultPoint } from '../fault-points.js';
import type { Logger } from '../logger.js';
import { traceContextOf, tracer, tracingOn } from '../tracing.js';
import { existingRunIdsIn, sameJsonValue, sqlFor, type InsertedJob, type JobStatus, type Ledger, type NewJob } from '../store/index.js';
import type { Dispatcher } from './dispatcher.js';
import { EnqueueBatcher, type EnqueueBatchStats } from './enqueue-batcher.js';
import type { JobRegistry } from './registry.js';
import { validateEnqueue, type EnqueueOptions, type EnqueueRequest } from './validate-enqueue.js';

export interface EnqueuedJob {
  id: string;
  /**
   * False when the idempotency key was already held (by an earlier or a concurrent enqueue, or
   * earlier in the same bulk call): `id` is the job that holds it, returned as it is. Of all the
   * calls that race with one key, exactly one gets true.
   */
  created: boolean;
  /**
   * False when `created` is false and the job holding the key was enqueued with another job name or
   * payload than this call's: the first payload wins, this call's was not used. True otherwise.
   */
  payloadMatched: boolean;
  /** The job's status as this call left it (`pending` when Redis has not taken it yet). */
  status: JobStatus;
}

/** Inside `producer.transaction(...)`: enqueue through the caller's transaction. */
export interface TransactionalEnqueuer {
  /** The caller's transactional EntityManager, for the caller's own writes. */
  readonly em: EntityManager;
  enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<EnqueuedJob>;
  enqueueBulk(requests: readonly EnqueueRequest[]): Promise<EnqueuedJob[]>;
}

export interface ProducerOptions {
  ledger: Ledger;
  registry: JobRegistry;
  dispatcher: Dispatcher;
  logger: Logger;
  maxPayloadBytes: number;
  /** Deepest accepted payload nesting (Config.maxJsonDepth). Default 64. */
  maxJsonDepth?: number;
}

export class Producer {
  /** Single enqueues of the same event-loop turn share one commit and one hand-over (enqueue-batcher.ts). */
  private readonly batcher: EnqueueBatcher<EnqueuedJob>;

  constructor(private readonly options: ProducerOptions) {
    this.batcher = new EnqueueBatcher({
      ledger: options.ledger,
      dispatcher: options.dispatcher,
      report: enqueuedJob,
    });
  }

  /**
   * One job, committed together with the other `enqueue` calls of the same event-loop turn
   * (enqueue-batcher.ts); the answer is this call's own, as if it had been alone.
   */
  async enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<EnqueuedJob> {
    const request: EnqueueRequest = { name, payload, ...(options ? { options } : {}) };
    if (!tracingOn()) return this.enqueueOne(this.validateAll([request]));
    return inEnqueueSpan((span) => this.enqueueOne(this.validateAll([request], span)));
  }

  /** How single enqueues were batched so far (for the bench and the tests). */
  get enqueueBatchStats(): EnqueueBatchStats {
    return this.batcher.stats;
  }

  /** Resolves once every single enqueue made so far has its answer (before the connections close). */
  drain(): Promise<void> {
    return this.batcher.drain();
  }

  /** Validated before it joins a batch, and its run checked: a bad call rejects alone. */
  private async enqueueOne(jobs: NewJob[]): Promise<EnqueuedJob> {
    await this.checkRuns(jobs, (ids) => this.options.ledger.existingRunIds(ids));
    return this.batcher.submit(jobs[0]!);
  }

  /** Enqueues many jobs in one ledger transaction and one Redis round trip per queue. */
  async enqueueBulk(requests: readonly EnqueueRequest[]): Promise<EnqueuedJob[]> {
    if (!tracingOn()) return this.insertAndHandOver(this.validateAll(requests));
    return inEnqueueSpan((span) => this.insertAndHandOver(this.validateAll(requests, span)));
  }

  private async insertAndHandOver(jobs: NewJob[]): Promise<EnqueuedJob[]> {
    await this.checkRuns(jobs, (ids) => this.options.ledger.existingRunIds(ids));
    const inserted = await this.options.ledger.insertJobs(jobs);
    faultPoint('enqueue.after_commit');
    return this.handOver(jobs, inserted);
  }

  /**
   * Transactional enqueue: runs `work` in a transaction of the caller's EntityManager (the caller's
   * own database, which must hold the ledger's tables) and enqueues through it, so the jobs exist if
   * and only if that transaction commits. They reach Redis right after the commit; if the process
   * dies in between, the relay hands them over. A transaction the database aborts for a lost lock
   * race runs `work` again from the start (`Ledger.transactionWith`).
   */
  async transaction<T>(em: EntityManager, work: (tx: TransactionalEnqueuer) => Promise<T>): Promise<T> {
    // A repeated idempotency key reports its job as the ledger holds it, so let this process's
    // dispatched marks land first, as `Ledger.insertJobs` does. Waiting inside the transaction could
    // deadlock on SQLite's write lock when `em` shares the ledger's database.
    await this.options.ledger.dispatchedMarksSettled();
    let created: InsertedJob[] = [];
    const transaction = async (txEm: EntityManager): Promise<T> => {
      created = []; // a transaction run again (a lost lock race) starts over: only the run that commits counts
      const insert = async (jobs: NewJob[]): Promise<EnqueuedJob[]> => {
        await this.checkRuns(jobs, (ids) => existingRunIdsIn(sqlFor(txEm), ids));
        const inserted = await this.options.ledger.insertJobsWith(txEm, jobs);
        created.push(...inserted.filter((j) => j.created));
        return inserted.map((j, i) => ({ id: j.id, created: j.created, payloadMatched: matches(jobs[i]!, j), status: j.job.status }));
      };
      const enqueueBulk = (requests: readonly EnqueueRequest[]): Promise<EnqueuedJob[]> =>
        tracingOn() ? inEnqueueSpan((span) => insert(this.validateAll(requests, span))) : insert(this.validateAll(requests));
      return work({
        em: txEm,
        enqueueBulk,
        enqueue: async (name, payload, options) => (await enqueueBulk([{ name, payload, ...(options ? { options } : {}) }]))[0]!,
      });
    };
    // A lost lock race runs `work` again (Ledger.transactionWith); a lost connection is what
    // caller-transaction.ts says (never a second run of `work`).
    const result = await inCallerTransaction(this.options, em, transaction, () => created.map((j) => j.id));
    // Only now, after the commit, may Redis hear of the jobs.
    if (created.length) {
      faultPoint('enqueue.after_commit');
      await this.options.dispatcher.dispatch(created.map((j) => j.job));
    }
    return result;
  }

  /** Validates every item; with `span`, each job carries its trace context and the span names the jobs. */
  private validateAll(requests: readonly EnqueueRequest[], span?: Span): NewJob[] {
    const given: unknown = requests;
    if (!Array.isArray(given)) throw new InvalidOptionError('enqueueBulk', 'a list of { name, payload, options? } requests', given);
    const now = Date.now();
    // Every item is checked before anything is written: a bad item rejects the whole call.
    const jobs = requests.map((request) => validateEnqueue(this.options.registry, request, this.options, now));
    if (span) describeEnqueue(span, jobs);
    return jobs;
  }

  private async checkRuns(jobs: readonly NewJob[], existing: (ids: string[]) => Promise<Set<string>>): Promise<void> {
    const runIds = [...new Set(jobs.map((j) => j.runId).filter((id): id is string => id !== null))];
    if (runIds.length === 0) return;
    const found = await existing(runIds);
    const missing = runIds.find((id) => !found.has(id));
    if (missing) throw new NotFoundError('run', missing);
  }

  private async handOver(jobs: readonly NewJob[], inserted: readonly InsertedJob[]): Promise<EnqueuedJob[]> {
    const fresh = inserted.filter((j) => j.created).map((j) => j.job);
    const report = fresh.length ? await this.options.dispatcher.dispatch(fresh) : { dispatched: [], deferred: [] };
    const dispatched = new Set(report.dispatched);
    return inserted.map((j, i) => enqueuedJob(jobs[i]!, j, dispatched.has(j.id)));
  }
}

/** The answer for `job`, which the ledger returned as `inserted`; `handedOver` when that job is in Redis. */
function enqueuedJob(job: NewJob, inserted: InsertedJob, handedOver: boolean): EnqueuedJob {
  const { id, created } = inserted;
  // A repeated key whose job this same call or batch created and handed over reads as that job does.
  const status = handedOver ? (inserted.job.runAt > Date.now() ? 'delayed' : 'queued') : created ? 'pending' : inserted.job.status;
  return { id, created, payloadMatched: matches(job, inserted), status };
}

/**
 * Runs one enqueue call (one job or a bulk) in a `jobledger.enqueue` span, a child of the caller's
 * active span; the jobs carry its context, so their attempts' spans are its children.
 */
function inEnqueueSpan<T>(work: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan('jobledger.enqueue', { kind: SpanKind.PRODUCER }, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Names the call's jobs on its span (queue and job type when all share one, the id for a single
 * job, the count) and stores the span's context with each job.
 */
function describeEnqueue(span: Span, jobs: NewJob[]): void {
  const traceContext = traceContextOf(span);
  for (const job of jobs) job.traceContext = traceContext;
  span.setAttribute('jobledger.job.count', jobs.length);
  const [first] = jobs;
  if (!first) return;
  if (jobs.every((j) => j.queue === first.queue)) span.setAttribute('jobledger.queue', first.queue);
  if (jobs.every((j) => j.name === first.name)) span.setAttribute('jobledger.job.type', first.name);
  if (jobs.length === 1) span.setAttribute('jobledger.job.id', first.id);
}

/** Whether the job `inserted` returned for `job` (itself, or the one holding its key) has its name and payload. */
function matches(job: NewJob, inserted: InsertedJob): boolean {
  return inserted.created || (inserted.job.name === job.name && sameJsonValue(inserted.job.payload, job.payload));
}
