/**
 * The PostgreSQL hot path's transactions and lone statements (executor.ts), and what each does when
 * its connection ends under it (connection-loss.ts):
 *
 * - before COMMIT is sent: the server rolled it back; `DatabaseUnavailableError`, which
 *   `retryTransient` runs again on a fresh connection;
 * - during COMMIT, or under a statement that commits by itself: the write may have landed. The
 *   server process is fenced and the write's witness row read (cut-commit.ts) before anything else
 *   happens: landed, its result is returned; not, it runs again. Never assumed either way.
 */
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from '../../../errors.js';
import { asUnavailable, isConnectionLoss } from '../connection-loss.js';
import { connectOrUnavailable, fenceCutStatement, settleCutCommit, type SessionPool, type Witness } from './cut-commit.js';
import type { Row, Sql, Statement } from '../sql.js';

export interface PgClient {
  query(config: { name?: string; text: string; values?: unknown[] }): Promise<{ rows: Row[]; rowCount: number | null }>;
  query(text: string): Promise<unknown>;
  /** Back to the pool; with an error (or `true`), the client is closed instead of reused. */
  release(error?: Error | boolean): void;
  on(event: 'error', listener: (error: Error) => void): unknown;
  /** The server process of the connection (set once connected). */
  processID?: number | null;
}

/** The hot path's pool, its Sql over a client, and how long to wait for a database that went away. */
export interface PgSession {
  pool: SessionPool & { connect(): Promise<PgClient> };
  sqlOn: (client: PgClient) => Sql;
  retryMs: number;
}

/**
 * A statement outside any transaction whose connection ended before its answer: it may have
 * committed. Its server process has been fenced (cut-commit.ts), so reading the ledger now tells.
 */
export class StatementCutOffError extends Error {
  constructor(cause: unknown) {
    super('the database connection ended while a statement that commits by itself was in flight', { cause });
    this.name = 'StatementCutOffError';
  }
}

const what = 'a ledger write';

/**
 * One transaction on a pooled client. Its witness is the first row it inserted by id (`insertRows`,
 * `writeRows`: `Sql.noteWritten`). A transaction with no witness only applied writes that are safe
 * to apply twice (heartbeats, progress without an
 * event, a cancelled attempt's end), so a cut-off COMMIT simply runs it again.
 */
export async function postgresTransaction<T>({ pool, sqlOn, retryMs }: PgSession, work: (sql: Sql) => Promise<T>): Promise<T> {
  const client = await connectOrUnavailable(pool, what);
  const written: { witness?: Witness } = {};
  let result: T;
  try {
    await client.query('BEGIN');
    const sql: Sql = {
      ...sqlOn(client),
      noteWritten: (witness) => {
        written.witness ??= witness;
      },
    };
    result = await work(sql);
  } catch (error) {
    let broken = isConnectionLoss(error);
    if (!broken) await client.query('ROLLBACK').catch(() => (broken = true));
    client.release(broken);
    throw asUnavailable(what, error);
  }
  try {
    await client.query('COMMIT');
  } catch (error) {
    const lost = isConnectionLoss(error);
    client.release(lost);
    if (!lost) throw error;
    if (!written.witness) throw new DatabaseUnavailableError(what, error);
    const landed = await settleCutCommit(pool, { backendPid: client.processID, witness: written.witness, what, cause: error, retryMs });
    if (!landed) throw new DatabaseUnavailableError(what, error);
    return result;
  }
  client.release();
  return result;
}

/**
 * Runs `work` on a pooled client outside any transaction. A connection that ends under it is fenced
 * before the `StatementCutOffError` reaches the caller, who settles what it wrote by reading it.
 */
export async function postgresAutocommit<T>({ pool, sqlOn, retryMs }: PgSession, work: (sql: Sql) => Promise<T>): Promise<T> {
  const client = await connectOrUnavailable(pool, what);
  let result: T;
  try {
    result = await work(sqlOn(client));
  } catch (error) {
    const lost = isConnectionLoss(error);
    // A client whose connection failed is not reused.
    client.release(lost);
    if (!lost) throw error;
    await fenceCutStatement(pool, { backendPid: client.processID, what, cause: error, retryMs });
    throw new StatementCutOffError(error);
  }
  client.release();
  return result;
}

/**
 * Runs one statement that commits by itself; if it was cut off, reads `witness` (a row it inserts)
 * to tell whether it landed, and if it did not, throws `DatabaseUnavailableError` so that
 * `retryTransient` runs it again.
 */
export async function runStatementAlone(session: PgSession, statement: Statement, witness: Witness | undefined): Promise<void> {
  try {
    await postgresAutocommit(session, (sql) => sql.run(statement.text, statement.params));
  } catch (error) {
    if (!(error instanceof StatementCutOffError)) throw error;
    if (!witness) throw new CommitOutcomeUnknownError(what, [], error.cause);
    // The process is fenced already: only the witness remains to be read.
    if (!(await settleCutCommit(session.pool, { backendPid: undefined, witness, what, cause: error.cause, retryMs: session.retryMs }))) {
      throw new DatabaseUnavailableError(what, error.cause);
    }
  }
}
