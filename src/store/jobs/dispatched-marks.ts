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

  /** Hand-overs under way whose callers are answered job by job (`promise`), and how many of their ids `settled()` queued already. */
  private readonly promised = new Set<{ landed: ReadonlySet<string>; queued: number; onFailure: MarkFailureHandler }>();

  constructor(private readonly write: (ids: readonly string[]) => Promise<void>) {}

  /**
   * `landed` gathers, while a hand-over runs, the ids already in Redis whose callers were told so;
   * their marks come with the rest of the hand-over (`add`). Until the returned function is called
   * (once that `add` is made), `settled()` first queues those of them it has not queued yet, so a
   * read never finds such a job `pending`. Marking a job twice changes nothing.
   */
  promise(landed: ReadonlySet<string>, onFailure: MarkFailureHandler): () => void {
    const entry = { landed, queued: 0, onFailure };
    this.promised.add(entry);
    return () => void this.promised.delete(entry);
  }

  /**
   * Queues the marks of `ids`; they are written in the background, starting on the next tick. The
   * promise resolves at once, unless more than `maxQueuedIds` wait: then once they are written.
   */
  add(ids: readonly string[], onFailure: MarkFailureHandler): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
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
    for (const entry of this.promised) {
      if (entry.landed.size === entry.queued) continue;
      // A Set keeps insertion order and `landed` only grows: the ids past `queued` are the new ones.
      const ids = [...entry.landed].slice(entry.queued);
      entry.queued = entry.landed.size;
      void this.add(ids, entry.onFailure);
    }
    return this.tail;
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
