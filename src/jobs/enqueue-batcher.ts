/**
 * Group-committed single enqueue: the `enqueue` calls made in the same event-loop turn (concurrent
 * requests of a web server, a `Promise.all` of enqueues) are committed to the ledger in one
 * transaction, and their jobs are sent to Redis together, one write per queue. Each caller still
 * awaits its own job: it resolves once that job is committed and in Redis (or left in the outbox),
 * with its own id and status, or rejects with its own error.
 *
 * The batch is taken on `setImmediate` after the first call arrives, never on a timer: a caller
 * alone waits one turn of the loop, which does not wait for I/O while a callback is due. The
 * ledger's commit starts at once when none is running. The hand-over sends each job as its own
 * `add` (no MULTI/EXEC), and a caller is answered as soon as its own job's reply comes: with callers
 * that each enqueue again once answered (a busy web server), the next batch forms and commits while
 * Redis still runs the rest of this one, where one bulk add made every caller wait for the last
 * job. What each call must not share is settled before it joins: its input is
 * validated (a bad call rejects alone), and its run is checked. In the ledger, a batch that fails is
 * rolled back and its jobs are inserted one by one (`Ledger.insertJobsTogether`), so one job's
 * database error reaches only its own caller. Idempotency keys behave as with calls one after the
 * other: of two calls with one key in a batch, the first creates the job and the second gets it with
 * `created: false`.
 */
import { faultPoint } from '../fault-points.js';
import type { InsertedJob, Ledger, NewJob } from '../store/index.js';
import type { Dispatcher } from './dispatcher.js';

/** What a caller gets for its job: the producer's answer, from its job, the inserted row and whether that row's job is in Redis. */
export type ReportJob<R> = (job: NewJob, inserted: InsertedJob, handedOver: boolean) => R;

interface Waiting<R> {
  job: NewJob;
  resolve: (result: R) => void;
  reject: (error: unknown) => void;
}

export interface EnqueueBatchStats {
  /** Calls that went through the batcher. */
  calls: number;
  /** Batches taken: each one ledger transaction (unless it was split) and one hand-over. */
  batches: number;
  /** The most calls one batch held. */
  largestBatch: number;
}

export class EnqueueBatcher<R> {
  private waiting: Waiting<R>[] = [];
  private scheduled = false;
  /** Batches between their commit and their last caller's answer. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counts: EnqueueBatchStats = { calls: 0, batches: 0, largestBatch: 0 };

  constructor(
    private readonly options: { ledger: Ledger; dispatcher: Dispatcher; report: ReportJob<R> },
  ) {}

  get stats(): EnqueueBatchStats {
    return { ...this.counts };
  }

  /** Queues one validated job for the next batch; resolves with its result once it is committed and handed over. */
  submit(job: NewJob): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.schedule();
    });
  }

  /** Resolves once every call submitted so far has its answer. */
  async drain(): Promise<void> {
    while (this.waiting.length > 0 || this.scheduled || this.inFlight.size > 0) {
      await Promise.all([...this.inFlight]);
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.waiting;
      this.waiting = [];
      const running = this.commitAndHandOver(batch).finally(() => this.inFlight.delete(running));
      this.inFlight.add(running);
    });
  }

  /** Never rejects: every caller of the batch gets its own answer. */
  private async commitAndHandOver(batch: Waiting<R>[]): Promise<void> {
    this.counts.calls += batch.length;
    this.counts.batches++;
    this.counts.largestBatch = Math.max(this.counts.largestBatch, batch.length);
    try {
      const settled = await this.options.ledger.insertJobsTogether(batch.map((w) => w.job));
      // Callers by the id of the job they get: two calls with one idempotency key share one.
      const byJob = new Map<string, { waiting: Waiting<R>; inserted: InsertedJob }[]>();
      const fresh: InsertedJob['job'][] = [];
      settled.forEach((outcome, i) => {
        const waiting = batch[i]!;
        if (outcome.status === 'rejected') return waiting.reject(outcome.reason);
        const inserted = outcome.value;
        if (inserted.created) fresh.push(inserted.job);
        const callers = byJob.get(inserted.id);
        if (callers) callers.push({ waiting, inserted });
        else byJob.set(inserted.id, [{ waiting, inserted }]);
      });
      if (byJob.size === 0) return;
      faultPoint('enqueue.after_commit');
      const answer = (id: string, handedOver: boolean): void => {
        const callers = byJob.get(id);
        if (!callers) return;
        byJob.delete(id);
        for (const { waiting, inserted } of callers) waiting.resolve(this.options.report(waiting.job, inserted, handedOver));
      };
      // A key met in the ledger names a job handed over before (or left in the outbox): nothing to wait for.
      // (Deleting the entry being visited is safe while iterating a Map.)
      const freshIds = new Set(fresh.map((job) => job.id));
      for (const id of byJob.keys()) if (!freshIds.has(id)) answer(id, false);
      // Jobs the hand-over could not place stay in the outbox for the relay; their callers get `pending`.
      if (fresh.length) await this.options.dispatcher.dispatch(fresh, Date.now(), (id) => answer(id, true));
      for (const id of byJob.keys()) answer(id, false);
    } catch (error) {
      // `insertJobsTogether` settles every job and `dispatch` reports rather than throws; anything
      // else (a closed dispatcher, say) answers the callers still waiting with it.
      for (const waiting of batch) waiting.reject(error);
    }
  }
}
