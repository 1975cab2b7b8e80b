/**
 * The dispatched marks of jobs BullMQ has taken, written behind the hand-over instead of before
 * `enqueueBulk` returns. The mark is a milestone, not the hand-over itself: the jobs are committed
 * and in Redis already, and a job whose mark never lands (a crash, a failed write) is handed over
 * again by the relay, which BullMQ ignores for ids it holds. Waiting for it cost a bulk enqueue on
 * PostgreSQL about 13 µs a job on top of about 40 for inserting (1,000-job chunks, 2 cores);
 * written behind, bulk enqueue went from 8,208-10,161 to 9,720-11,619 jobs/s (single runs side by
 * side, 60,000 jobs). On SQLite it made no difference.
 *
 * Marks queued while one write runs go together in the next, so a busy producer writes them in a
 * few large statements. `settled()` is what the ledger's reads wait for, so a process reads its own
 * hand-overs: after `enqueue` returns, its job reads `queued` in that process. A job whose caller
 * was answered before the rest of its hand-over was in has its mark promised (`promise`): it is
 * queued with the rest, or at once when a read comes first.
 */

/** Told of a write that failed: the jobs stay `pending` and the relay marks them later. */
export type MarkFailureHandler = (error: unknown, jobs: number) => void;

/**
 * Past this many ids waiting, `add` makes its caller wait for them: a producer faster than the marks
 * (a database slower at updates than at inserts) must not grow the queue without bound.
 */
const maxQueuedIds = 20_000;

interface QueuedMarks {
  ids: readonly string[];
  onFailure: MarkFailureHandler;
}

export class DispatchedMarks {
  private queued: QueuedMarks[] = [];
  /** Ids queued or being written. */
  private queuedIds = 0;
  /** The write that will take `queued`, once the one before it ended; undefined when none is waiting. */
  private nextWrite: Promise<void> | undefined;
  /** Resolves when every mark queued so far is written or reported failed. Never rejects. */
  private tail: Promise<void> = Promise.resolve();

  /** Ids in Redis whose caller was told so, their mark not queued yet (`promise`). */
  private readonly promised = new Map<string, MarkFailureHandler>();

  constructor(private readonly write: (ids: readonly string[]) => Promise<void>) {}

  /**
   * `id` is in Redis and its caller told so; its mark will come with the rest of its hand-over
   * (`add`). Until then `settled()` queues it first, so a read never finds the job `pending` after
   * its enqueue returned `queued`. Marking a job twice changes nothing.
   */
  promise(id: string, onFailure: MarkFailureHandler): void {
    this.promised.set(id, onFailure);
  }

  /**
   * Queues the marks of `ids`; they are written in the background, starting on the next tick. The
   * promise resolves at once, unless more than `maxQueuedIds` wait: then once they are written.
   */
  add(ids: readonly string[], onFailure: MarkFailureHandler): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    if (this.promised.size > 0) for (const id of ids) this.promised.delete(id);
    this.queued.push({ ids, onFailure });
    this.queuedIds += ids.length;
    if (!this.nextWrite) {
      this.nextWrite = this.tail.then(() => {
        this.nextWrite = undefined;
        const taken = this.queued;
        this.queued = [];
        return this.writeAll(taken);
      });
      this.tail = this.nextWrite;
    }
    return this.queuedIds > maxQueuedIds ? this.tail : Promise.resolve();
  }

  /** Resolves once every mark queued before this call is written (or its failure reported). */
  settled(): Promise<void> {
    if (this.promised.size > 0) this.queuePromised();
    return this.tail;
  }

  /** Queues the promised marks now, one `add` per failure handler (in practice one: the dispatcher's). */
  private queuePromised(): void {
    const byHandler = new Map<MarkFailureHandler, string[]>();
    for (const [id, onFailure] of this.promised) {
      const ids = byHandler.get(onFailure);
      if (ids) ids.push(id);
      else byHandler.set(onFailure, [id]);
    }
    this.promised.clear();
    for (const [onFailure, ids] of byHandler) void this.add(ids, onFailure);
  }

  /** One write for everything taken (`markDispatched` sizes its own statements); a failure goes to each caller. */
  private async writeAll(taken: readonly QueuedMarks[]): Promise<void> {
    const ids = taken.flatMap((q) => q.ids);
    try {
      await this.write(ids);
    } catch (error) {
      for (const q of taken) q.onFailure(error, q.ids.length);
    }
    this.queuedIds -= ids.length;
  }
}
