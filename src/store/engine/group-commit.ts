/**
 * Group commit: the ledger writes of every attempt that starts or finishes in the same event-loop
 * turn share one transaction. Each caller still awaits the commit that holds its own write, so
 * nothing reaches BullMQ before it is durable; only the number of commits (and, on SQLite, of
 * write-lock round trips) drops. A batch is flushed on `setImmediate` after the first write
 * arrives, or as soon as the previous batch has committed — a fixed timer capped the same code
 * at a third of the throughput (DESIGN.md, "Speed").
 *
 * One failing write must not fail its neighbours: if a batch throws, it is rolled back whole and
 * every write in it is retried alone, so each error reaches the write it belongs to. Writes must
 * therefore be pure functions of the Sql they are given (safe to run again after a rollback).
 *
 * With a tracing SDK registered (tracing.ts), each batch is a `jobledger.ledger.commit` span of its
 * own trace, linked to the spans its writes came from (an attempt's span for its outcome).
 */
import { SpanStatusCode, trace, type Link, type SpanContext, type Tracer } from '@opentelemetry/api';
import { activeTracer } from '../../tracing.js';
import { isConnectionLoss } from './connection-loss.js';
import type { Sql } from './sql.js';

export type BatchRunner = <T>(work: (sql: Sql) => Promise<T>) => Promise<T>;

/**
 * Writes of one kind that can be applied together in fewer statements than one by one (on
 * PostgreSQL every statement is a network round trip).
 */
export interface BatchedWrite<I, R> {
  /** Applies every input inside `sql`'s transaction; one result per input, in order. */
  runAll(sql: Sql, inputs: readonly I[]): Promise<R[]>;
  /**
   * Where the executor has statements that commit by themselves (PostgreSQL): applies what it can
   * of `inputs` as one such statement, atomic on its own. One result per input, undefined for each
   * input it left alone, which then goes through `runAll` in the batch's transaction.
   */
  runAlone?(sql: Sql, inputs: readonly I[]): Promise<(R | undefined)[]>;
  /**
   * Commits all of `inputs` by itself, outside the batch's transaction, all or nothing, when a
   * batch holds nothing but this kind (enqueues on PostgreSQL: one statement, postgres/engine.ts).
   * Undefined, having written nothing, when it cannot; the transaction then applies them with
   * `runAll`. A failure fails the batch as a failed transaction does (each input is then tried alone).
   */
  commitAlone?(inputs: readonly I[]): Promise<R[] | undefined>;
}

interface PendingWrite {
  write?: (sql: Sql) => Promise<unknown>;
  kind?: BatchedWrite<unknown, unknown>;
  input?: unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  /** The span active where the write was submitted (only while tracing). */
  from?: SpanContext;
  /** Committed by its kind's statement alone (`runAlone`). */
  done?: true;
}

export interface GroupCommitStats {
  batches: number;
  writes: number;
  /** Batches that failed and were split into single writes. */
  splits: number;
  /** Writes committed by a statement of their own kind alone (`runAlone`), outside a transaction. */
  aloneWrites: number;
  /** `runAlone` statements that failed; their writes went through the transaction instead. */
  aloneFailures: number;
  /**
   * How long batches took to commit, from the batch's first statement to its last write's answer
   * (splits included): observations per bucket of `commitBoundsSeconds` (the last entry: above every
   * bound, not cumulative) and their sum in seconds.
   */
  commitSeconds: { counts: number[]; sum: number };
}

/** Upper bounds in seconds of the commit duration histogram: 0.5 ms to 5 s. */
export const commitBoundsSeconds: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export class GroupCommitter {
  private queue: PendingWrite[] = [];
  /** Whether a batch is being committed now. */
  private flushing = false;
  private scheduled = false;
  readonly stats: GroupCommitStats = {
    batches: 0,
    writes: 0,
    splits: 0,
    aloneWrites: 0,
    aloneFailures: 0,
    commitSeconds: { counts: new Array<number>(commitBoundsSeconds.length + 1).fill(0), sum: 0 },
  };

  /**
   * One batch commits at a time, on both dialects: SQLite has one writer, and on PostgreSQL, once a
   * batch took one statement per kind (`runAlone`), a second batch in flight made batches half as
   * large and cost more CPU per job than the overlap won (bench, 60,000 jobs: one batch with its
   * kinds in parallel 3,573-4,667 jobs/s in five runs, two batches 3,025-4,011 in five).
   *
   * @param runAlone Runs work on a connection outside any transaction, each statement committing by
   *   itself (PostgreSQL), for the kinds that have `runAlone`.
   * @param startAtOnce An idle committer starts its batch when writes arrive, not one event-loop turn
   *   later: for callers that gather their writes themselves and hand them over together
   *   (`submitAllBatched`), so the turn is not waited for twice.
   */
  constructor(
    private readonly runBatch: BatchRunner,
    private readonly options: { maxBatchSize?: number; runAlone?: BatchRunner; startAtOnce?: boolean } = {},
  ) {}

  /** A copy of `stats` as they are now, for readers that keep it (metrics, the bench). */
  snapshot(): GroupCommitStats {
    const stats = this.stats;
    return { ...stats, commitSeconds: { counts: [...stats.commitSeconds.counts], sum: stats.commitSeconds.sum } };
  }

  /** Queues `write` for the next batch; resolves with its result once that batch has committed. */
  submit<T>(write: (sql: Sql) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => this.enqueue({ write, resolve: resolve as (value: unknown) => void, reject }));
  }

  /**
   * Queues one input of a batched kind; the batch applies all inputs of that kind together.
   * `recover` turns the write's failure into its result (or throws what it fails with instead):
   * what a `catch` on the returned promise would do, without a second promise per write.
   */
  submitBatched<I, R>(kind: BatchedWrite<I, R>, input: I, recover?: (error: unknown) => R): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      const item: PendingWrite = { kind, input, resolve: resolve as (value: unknown) => void, reject };
      if (recover) {
        const fail = item.reject;
        item.reject = (error) => {
          try {
            resolve(recover(error));
          } catch (thrown) {
            fail(thrown);
          }
        };
      }
      this.enqueue(item);
    });
  }

  /** Queues many inputs of a batched kind at once: they go in the same batch (up to `maxBatchSize`). */
  submitAllBatched<I, R>(kind: BatchedWrite<I, R>, inputs: readonly I[]): Promise<R>[] {
    const from = activeTracer() ? trace.getActiveSpan()?.spanContext() : undefined;
    const results = inputs.map(
      (input) =>
        new Promise<R>((resolve, reject) => {
          this.queue.push({ kind, input, resolve: resolve as (value: unknown) => void, reject, ...(from ? { from } : {}) });
        }),
    );
    this.schedule();
    return results;
  }

  private enqueue(item: PendingWrite): void {
    if (activeTracer()) item.from = trace.getActiveSpan()?.spanContext();
    this.queue.push(item);
    this.schedule();
  }

  /** Resolves once every write submitted so far has committed or failed. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.flushing || this.scheduled) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private schedule(): void {
    if (this.scheduled || this.flushing) return;
    if (this.options.startAtOnce) {
      void this.flush();
      return;
    }
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** One flushing loop: takes a batch, commits it, and goes on while writes are waiting. */
  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      // Writes that arrive during a commit go in the next batch, taken one event-loop turn after the
      // commit rather than at once: the I/O that came in meanwhile is read first, and the writes it
      // brings join. On PostgreSQL those are the starts of the jobs BullMQ hands over in reply to the
      // batch's outcomes: batches grew from 25 to 33 writes and end-to-end rose from a median of
      // 4,144 to 4,458 jobs/s (bench, 40,000 jobs, five alternating single runs each). Two or three
      // turns made it no better; on SQLite, whose commits hold the thread, one turn changed nothing.
      while (this.queue.length > 0) {
        await this.commit(this.queue.splice(0, this.options.maxBatchSize ?? 256));
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.flushing = false;
    }
  }

  private async commit(whole: PendingWrite[]): Promise<void> {
    const started = performance.now();
    const commitTracer = activeTracer();
    try {
      await (commitTracer ? this.commitTraced(whole, commitTracer) : this.commitBatch(whole));
    } finally {
      this.observeCommit((performance.now() - started) / 1000);
    }
  }

  private observeCommit(seconds: number): void {
    const histogram = this.stats.commitSeconds;
    let bucket = 0;
    while (bucket < commitBoundsSeconds.length && seconds > commitBoundsSeconds[bucket]!) bucket++;
    histogram.counts[bucket]! += 1;
    histogram.sum += seconds;
  }

  private async commitTraced(whole: PendingWrite[], commitTracer: Tracer): Promise<void> {
    // Its own trace: a batch holds the writes of many traces; the links say which.
    const links: Link[] = [];
    for (const item of whole) if (item.from) links.push({ context: item.from });
    const span = commitTracer.startSpan('jobledger.ledger.commit', { root: true, links, attributes: { 'jobledger.batch.size': whole.length } });
    try {
      const failed = await this.commitBatch(whole);
      if (failed) span.setStatus({ code: SpanStatusCode.ERROR, message: `${failed} of ${whole.length} write(s) failed` });
    } finally {
      span.end();
    }
  }

  /** Commits a batch; resolves with how many of its writes failed (each got its own error). */
  private async commitBatch(whole: PendingWrite[]): Promise<number> {
    this.stats.batches++;
    this.stats.writes += whole.length;
    // Only an executor with statements that commit alone (PostgreSQL) has anything to wait for here.
    const runAlone = this.options.runAlone;
    const batch = runAlone ? await this.commitAlone(whole, runAlone) : whole;
    if (batch.length === 0) return 0;
    try {
      const results = await this.runTogether(batch);
      batch.forEach((item, i) => item.resolve(results[i]));
      return 0;
    } catch (error) {
      // A database that stayed unreachable (the executor waited for it already) fails every write
      // alike: splitting would only wait for it once per write.
      if (batch.length === 1 || isConnectionLoss(error)) {
        for (const item of batch) item.reject(error);
        return batch.length;
      }
      // Split: each write alone, so its own error (or success) reaches it.
      this.stats.splits++;
      let failed = 0;
      for (const item of batch) {
        try {
          item.resolve((await this.runTogether([item]))[0]);
        } catch (single) {
          failed++;
          item.reject(single);
        }
      }
      return failed;
    }
  }

  /** Commits `batch` in one transaction, or through its kind's `commitAlone` where it is all of one such kind. */
  private runTogether(batch: readonly PendingWrite[]): Promise<unknown[]> {
    const kind = batch[0]?.kind;
    if (kind?.commitAlone && batch.every((item) => item.kind === kind)) return this.committedByKind(kind, batch);
    return this.runBatch((sql) => applyAll(sql, batch));
  }

  /** A batch all of one kind that commits by itself (`commitAlone`), or in the transaction where it cannot. */
  private async committedByKind(kind: BatchedWrite<unknown, unknown>, batch: readonly PendingWrite[]): Promise<unknown[]> {
    const results = await kind.commitAlone!(batch.map((item) => item.input));
    return results ?? (await this.runBatch((sql) => applyAll(sql, batch)));
  }

  /**
   * Commits what it can of a batch through the kinds' `runAlone` statements, one per kind, and
   * returns the writes still to do. Only a batch of nothing but such kinds goes this way: a plain
   * write keeps its place in the order of one transaction. Inputs of different kinds are
   * independent (starts of waiting jobs, outcomes of running attempts: a job row matches one or the
   * other), so each kind may commit on its own, at the same time as the others. A statement that
   * fails changed nothing (it is atomic); its writes go through the transaction, where each meets its
   * own error if it has one. One cut off with its connection may have landed: the executor has
   * fenced it by then, and the kinds' transactional writes read what it left (a begin finds its own
   * attempt, an outcome its ended attempt) and return that instead of writing again.
   */
  private async commitAlone(batch: PendingWrite[], runAlone: BatchRunner): Promise<PendingWrite[]> {
    const byKind = new Map<BatchedWrite<unknown, unknown>, PendingWrite[]>();
    for (const item of batch) {
      if (!item.kind?.runAlone) return batch;
      const items = byKind.get(item.kind);
      if (items) items.push(item);
      else byKind.set(item.kind, [item]);
    }
    let left = 0;
    // In parallel, each kind on a connection of its own.
    await Promise.all(
      Array.from(byKind, async ([kind, items]) => {
        let results: unknown[] | undefined;
        try {
          results = await runAlone((sql) => kind.runAlone!(sql, items.map((item) => item.input)));
        } catch {
          this.stats.aloneFailures++;
        }
        for (let i = 0; i < items.length; i++) {
          const result = results?.[i];
          if (result === undefined) {
            left++;
            continue;
          }
          this.stats.aloneWrites++;
          const item = items[i]!;
          item.done = true;
          item.resolve(result);
        }
      }),
    );
    // The transaction applies the rest in the batch's order, whichever kind finished first.
    return left === 0 ? [] : batch.filter((item) => !item.done);
  }
}

/**
 * Applies a batch in order; the inputs of a batched kind are applied together where the first of
 * them stands (writes of one kind are independent of each other by contract).
 */
async function applyAll(sql: Sql, batch: readonly PendingWrite[]): Promise<unknown[]> {
  const results = new Array<unknown>(batch.length);
  // Each kind's positions, in the order its first input stands: one pass over the batch.
  const positions = new Map<BatchedWrite<unknown, unknown>, number[]>();
  for (let i = 0; i < batch.length; i++) {
    const kind = batch[i]!.kind;
    if (!kind) continue;
    const list = positions.get(kind);
    if (list) list.push(i);
    else positions.set(kind, [i]);
  }
  for (let i = 0; i < batch.length; i++) {
    const item = batch[i]!;
    if (!item.kind) {
      results[i] = await item.write!(sql);
      continue;
    }
    const list = positions.get(item.kind);
    // Applied already, where the first input of its kind stood.
    if (!list || list[0] !== i) continue;
    const outputs = await item.kind.runAll(sql, list.map((j) => batch[j]!.input));
    for (let k = 0; k < list.length; k++) results[list[k]!] = outputs[k];
  }
  return results;
}
