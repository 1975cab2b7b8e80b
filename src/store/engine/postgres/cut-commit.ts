/**
 * A COMMIT, or a statement that commits by itself, whose connection ended before its answer came:
 * it may have landed or not. Two steps tell which, on a fresh connection:
 *
 * 1. Fence: the server process that ran it must be gone before anything is read. A network cut can
 *    leave it alive (about to process the COMMIT it already received, or idle in its transaction);
 *    a read taken then could see "not there" and a rerun would then apply the write twice. So it is
 *    terminated (`pg_terminate_backend`, allowed on a connection of one's own role) and waited for.
 *    Once it has exited its transaction is settled, committed or rolled back, for good. (Only a
 *    process of the same database is touched; should its pid have been reused by another connection
 *    of it meanwhile, the worst case is one more terminated connection, which every connection here
 *    survives.)
 * 2. Read the write's witness: one row it inserted, by its id (made by the application). There:
 *    it landed. Absent: it did not, and the write can run again.
 *
 * Both steps are retried while the database is unreachable (a restart), for `retryMs`
 * (`Config.databaseRetryMs`); past that, the outcome stays unknown and the caller gets a
 * `CommitOutcomeUnknownError`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from '../../../errors.js';
import { isConnectionLoss, reconnectDelayMs } from '../connection-loss.js';
import type { Row } from '../sql.js';

/** One row a write inserted: found again, it says the write landed. */
export interface Witness {
  table: string;
  id: string;
}

/** The pg client surface used here (the hot path's own pool: executor.ts). */
export interface SessionClient {
  query(config: { text: string; values?: unknown[] }): Promise<{ rows: Row[] }>;
  release(error?: Error | boolean): void;
  /** The server process of this connection (pg's `processID`). */
  processID?: number | null;
}

export interface SessionPool {
  connect(): Promise<SessionClient>;
}

/** How long a terminated server process may take to exit before the fence tries again. */
const exitWaitMs = 5_000;

/** A connection from `pool`; a failure to connect is a `DatabaseUnavailableError` (nothing was sent). */
export async function connectOrUnavailable<C>(pool: { connect(): Promise<C> }, what: string): Promise<C> {
  try {
    return await pool.connect();
  } catch (error) {
    if (isConnectionLoss(error)) throw new DatabaseUnavailableError(what, error);
    throw error;
  }
}

/**
 * After a connection ended with a commit in flight: fences its server process, then reads
 * `witness`. True when the write landed, false when it did not; throws `CommitOutcomeUnknownError`
 * when the database cannot be reached within the window to tell.
 */
export interface CutCommit {
  /** The server process that ran it (pg's `processID`); undefined when it is fenced already. */
  backendPid: number | null | undefined;
  what: string;
  cause: unknown;
  /** How long to wait for the database to answer (`Config.databaseRetryMs`). */
  retryMs: number;
}

export async function settleCutCommit(pool: SessionPool, input: CutCommit & { witness: Witness }): Promise<boolean> {
  return whileReachable(pool, input, async (client) => {
    await fenceBackend(client, input.backendPid);
    const { rows } = await client.query({ text: `SELECT 1 AS found FROM ${input.witness.table} WHERE id = $1`, values: [input.witness.id] });
    return rows.length > 0;
  });
}

/**
 * After a connection ended with a statement in flight whose result nobody can read back: makes sure
 * its server process is gone, so that what the caller reads next is final. Throws
 * `CommitOutcomeUnknownError` when the database cannot be reached within the window.
 */
export function fenceCutStatement(pool: SessionPool, input: CutCommit): Promise<void> {
  return whileReachable(pool, { ...input, witness: undefined }, (client) => fenceBackend(client, input.backendPid));
}

async function whileReachable<T>(
  pool: SessionPool,
  input: CutCommit & { witness: Witness | undefined },
  step: (client: SessionClient) => Promise<T>,
): Promise<T> {
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt++) {
    let client: SessionClient | undefined;
    try {
      client = await pool.connect();
      const result = await step(client);
      client.release();
      return result;
    } catch (error) {
      // Only reads and a terminate: any failure (the server still starting, a process slow to exit)
      // is tried again while the window lasts.
      client?.release(true);
      if (Date.now() - startedAt >= input.retryMs) {
        throw new CommitOutcomeUnknownError(input.what, input.witness ? [input.witness.id] : [], isConnectionLoss(error) ? input.cause : error);
      }
      await sleep(reconnectDelayMs(attempt));
    }
  }
}

/** Terminates the server process `pid` (if it is still there) and waits until it has exited. */
async function fenceBackend(client: SessionClient, pid: number | null | undefined): Promise<void> {
  if (!pid || pid === client.processID) return;
  const deadline = Date.now() + exitWaitMs;
  let terminate = true;
  for (;;) {
    // Only a process of this database: one of another is not ours (its pid was reused).
    const { rows } = await client.query({ text: 'SELECT state FROM pg_stat_activity WHERE pid = $1 AND datname = current_database()', values: [pid] });
    if (rows.length === 0) return;
    if (terminate) {
      try {
        await client.query({ text: 'SELECT pg_terminate_backend($1)', values: [pid] });
      } catch (error) {
        // Not allowed (another role's process, after a pid was reused): wait for it to leave its
        // transaction instead, which settles the one we care about just as well.
        if ((error as { code?: string }).code !== '42501') throw error;
        terminate = false;
      }
    } else if (rows[0]?.state === 'idle') {
      return;
    }
    if (Date.now() > deadline) throw new Error(`server process ${pid} did not exit within ${exitWaitMs} ms of being terminated`);
    await sleep(10);
  }
}
