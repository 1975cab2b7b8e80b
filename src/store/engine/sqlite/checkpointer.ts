/**
 * WAL checkpoints off the event loop.
 *
 * In WAL mode every commit appends pages to the write-ahead log, and by default the connection that
 * commits copies the log back into the database file (with an fsync) whenever it passes 1,000
 * pages. better-sqlite3 does that synchronously, inside the COMMIT that crossed the threshold, on
 * the thread that runs BullMQ. Measured with the ledger's hot path (2 cores, 20,000 jobs,
 * 50 at a time): COMMIT cost about 40 µs per job with automatic checkpoints and about 15 µs without.
 *
 * So a worker thread with its own connection to the same file runs `wal_checkpoint(PASSIVE)` every
 * `intervalMs`: PASSIVE never waits for readers or writers, it copies what it can. The writing
 * connection keeps automatic checkpoints, at a much higher threshold (`fallbackAutocheckpointPages`),
 * so that a thread that died or fell behind only costs speed, never an unbounded log.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** The writing connection checkpoints by itself only past this many WAL pages (about 40 MB). */
export const fallbackAutocheckpointPages = 10_000;

export interface CheckpointerOptions {
  /** The SQLite database file (not ":memory:"). */
  path: string;
  /** How often to checkpoint. Default 100 ms. */
  intervalMs?: number;
}

/**
 * The thread's code, run with `eval` so that it needs no file of its own next to the compiled
 * module (the tests run the TypeScript sources). It is CommonJS: `require` is the eval worker's.
 */
const threadSource = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driverPath);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma('busy_timeout = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const timer = setInterval(() => {
  try {
    checkpoint.get();
  } catch {
    // Busy (another process is checkpointing) or any other failure: the next tick tries again, and
    // the writer's fallback threshold bounds the log if this thread never succeeds.
  }
}, workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.postMessage({ type: 'stopped' });
  }
});
`;

export class SqliteCheckpointer {
  private readonly thread: Worker;
  private stopped: Promise<void> | undefined;
  private exited = false;

  constructor(options: CheckpointerOptions) {
    const driverPath = createRequire(import.meta.url).resolve('better-sqlite3');
    this.thread = new Worker(threadSource, {
      eval: true,
      workerData: { driverPath, path: options.path, intervalMs: options.intervalMs ?? 100 },
    });
    // A thread that fails to start (file gone, driver missing) just exits: the fallback covers it.
    this.thread.on('error', () => undefined);
    this.thread.once('exit', () => (this.exited = true));
    // Never keeps a process alive that has nothing else to do.
    this.thread.unref();
  }

  /** Stops the thread after its current checkpoint and closes its connection. */
  stop(): Promise<void> {
    this.stopped ??= new Promise<void>((resolve) => {
      if (this.exited) return resolve();
      const done = (): void => {
        clearTimeout(deadline);
        void this.thread.terminate().then(() => resolve());
      };
      // A thread stuck in a checkpoint is terminated rather than awaited for long.
      const deadline = setTimeout(done, 2000);
      this.thread.once('exit', done);
      this.thread.on('message', (message: { type: string }) => {
        if (message.type === 'stopped') done();
      });
      this.thread.postMessage('stop');
    });
    return this.stopped;
  }
}
