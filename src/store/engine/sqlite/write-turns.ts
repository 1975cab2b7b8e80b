/**
 * SQLite: this process's write transactions on one database take turns, first come first served.
 *
 * SQLite has one writer at a time, and better-sqlite3 waits for the lock synchronously, blocking the
 * event loop. A process that writes through two connections (the ledger's, and an application's own
 * ORM in a transactional enqueue) can then block on a lock that it holds itself: while one
 * connection's transaction is open across event-loop turns, the other connection's write spins in
 * its busy timeout, and nothing in the process (the open transaction included) runs until it gives
 * up. In the enqueue race test (test/enqueue-race.test.ts) rounds of about a hundred racing enqueues
 * took 2.7 to 7 s that way, instead of a few hundred ms. Taking turns in the process first means a
 * connection only ever waits on the database for another process.
 *
 * The turns are a courtesy, not what keeps the data right (SQLite's lock does that): a write that
 * has waited `maxWaitMs` for its turn goes ahead, as it would without turns. That bounds the wait
 * of a ledger write started from inside a transaction that holds the turn (it would otherwise wait
 * for the very transaction that waits for it).
 */
export class WriteTurns {
  /** Settles when the latest turn taken so far is over. */
  private last: Promise<void> = Promise.resolve();
  /** Turns taken and not over yet (the one running included). */
  private open = 0;

  constructor(private readonly maxWaitMs = 2000) {}

  async run<T>(work: () => Promise<T>): Promise<T> {
    const before = this.last;
    let over!: () => void;
    this.last = new Promise<void>((resolve) => (over = resolve));
    // Nobody before us: `before` has settled, so go at once (the hot path's usual case).
    const wait = this.open++ > 0;
    try {
      if (wait) await settledOrAfter(before, this.maxWaitMs);
      return await work();
    } finally {
      this.open--;
      over();
    }
  }
}

/** Runs `work` in its turn, or at once where there are no turns to take (PostgreSQL). */
export function inTurn<T>(turns: WriteTurns | undefined, work: () => Promise<T>): Promise<T> {
  return turns ? turns.run(work) : work();
}

function settledOrAfter(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
