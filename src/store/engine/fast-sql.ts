/**
 * The ledger's hot path talks to the database below MikroORM: on SQLite on the ORM's own
 * connection, on PostgreSQL on a small `pg.Pool` of its own opened from the database URL.
 *
 * Why: MikroORM's `execute` inlines every parameter into the SQL text (`platform.formatQuery`) and
 * hands knex a new raw string per call, so nothing is ever prepared twice; on a 2-core host
 * a job's start and finish through it cost ~2.6 ms of CPU (381 jobs/s on SQLite, 267 on PostgreSQL
 * with one transaction per write). Here SQLite runs cached prepared statements on the
 * better-sqlite3 handle (keeping its pragmas and its one writer), and PostgreSQL runs named
 * statements with real bind parameters on pg clients (`postgresExecutor` says why a pool of its
 * own). The SQL is the same as the rest of the store's.
 */
import type { Knex } from '@mikro-orm/knex';
import pg from 'pg';
import type { DatabaseTarget } from '../../config.js';
import type { LedgerOrm } from '../orm/open-orm.js';
import { retryTransient } from './retry-transient.js';
import { postgresAutocommit, postgresTransaction, runStatementAlone, type PgClient, type PgSession } from './postgres/transaction.js';
import { settleCutCommit, type CutCommit, type Witness } from './postgres/cut-commit.js';
import { defaultDatabaseRetryMs } from './connection-loss.js';
import { fallbackAutocheckpointPages, SqliteCheckpointer } from './sqlite/checkpointer.js';
import { withDeferredInserts, writtenAsOneStatement } from './deferring-sql.js';
import type { Row, Sql } from './sql.js';
import { inTurn, type WriteTurns } from './sqlite/write-turns.js';
import { wrapDatabaseError } from './database-errors.js';

export interface FastExecutor {
  /**
   * Runs `work` in one transaction on a dedicated path; rolls back if it throws. On PostgreSQL a
   * connection that ends before COMMIT runs `work` again on a fresh one (connection-loss.ts); one
   * that ends during COMMIT is settled by the first row `work` inserted through `insertRows`
   * (cut-commit.ts). So `work` must insert a row that way, or be safe to apply twice.
   */
  transaction<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: runs `work` on a pooled connection outside any transaction, each statement
   * committing by itself. If the connection ends under a statement, its server process is fenced
   * (cut-commit.ts) before the error reaches the caller, so what the caller reads next is final:
   * a `StatementCutOffError` (postgres-transaction.ts) then says the statement may have landed.
   */
  autocommit?<T>(work: (sql: Sql) => Promise<T>): Promise<T>;
  /**
   * PostgreSQL only: when everything `work` writes can go as one statement (it only holds rows and
   * reads nothing: deferring-sql.ts), runs that statement outside any transaction, so that it
   * commits by itself, and returns `work`'s result; one round trip where a transaction takes three
   * (BEGIN, the statement, COMMIT). Otherwise runs nothing and returns undefined, and the caller
   * takes `transaction`.
   */
  writeAlone?<T>(work: (sql: Sql) => Promise<T>): Promise<{ result: T } | undefined>;
  /**
   * PostgreSQL only: after a connection (this executor's or another's) ended with a COMMIT in
   * flight, fences its server process and reads `witness` (cut-commit.ts): true if it landed.
   */
  settleCommit?(input: Omit<CutCommit, 'retryMs'> & { witness: Witness }): Promise<boolean>;
  /** Runs a trivial query on the executor's connection (health checks); rejects if it cannot. */
  probe(): Promise<void>;
  /** Stops what the executor started beside the connection (the SQLite checkpointer). */
  close(): Promise<void>;
}

interface SqliteStatement {
  reader: boolean;
  all(...params: unknown[]): Row[];
  run(...params: unknown[]): { changes: number };
}

interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): void;
  pragma(source: string): unknown;
  inTransaction: boolean;
}

interface KnexPoolClient {
  acquireConnection(): Promise<SqliteDatabase>;
  releaseConnection(connection: SqliteDatabase): Promise<void>;
}

export interface FastExecutorOptions {
  /**
   * SQLite: the database file whose WAL a thread of its own checkpoints, from the executor's first
   * transaction on (see sqlite-checkpointer.ts). Without it the connection checkpoints as usual.
   */
  checkpointPath?: string;
  /** PostgreSQL: how long a write waits for a database that went away (`Config.databaseRetryMs`). Default 20000. */
  databaseRetryMs?: number;
  /** SQLite: each transaction takes its turn among this process's writers (write-turns.ts). */
  writeTurns?: WriteTurns;
}

export function createFastExecutor(orm: LedgerOrm, target: DatabaseTarget, options: FastExecutorOptions = {}): FastExecutor {
  const executor =
    target.dialect === 'sqlite'
      ? sqliteExecutor((orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex(), options.checkpointPath, options.writeTurns)
      : postgresExecutor(target.url, options.databaseRetryMs ?? defaultDatabaseRetryMs);
  return wrappingErrors(executor, target.dialect);
}

/** Driver errors leave the executor as coded `DatabaseError`s (database-errors.ts), after any retry. */
function wrappingErrors(executor: FastExecutor, dialect: DatabaseTarget['dialect']): FastExecutor {
  const wrap = (error: unknown): never => {
    throw wrapDatabaseError(error, dialect);
  };
  const wrapped: FastExecutor = {
    ...executor,
    transaction: (work) => executor.transaction(work).catch(wrap),
  };
  if (executor.autocommit) wrapped.autocommit = (work) => executor.autocommit!(work).catch(wrap);
  if (executor.writeAlone) wrapped.writeAlone = (work) => executor.writeAlone!(work).catch(wrap);
  return wrapped;
}

/**
 * Prepared statements are cached per SQL text; IN-lists of many sizes make the cache grow, so it is
 * capped. The cap leaves room for the hot path's batched statements on SQLite, one text per row
 * count up to 64 (sql.ts) for each of about seven statements: up to ~450 texts, near the old cap of
 * 500, past which the whole cache is cleared and prepared again. (A 40,000-job bench run prepared 242.)
 */
const maxCachedStatements = 1500;

function sqliteExecutor(knex: Knex, checkpointPath: string | undefined, turns: WriteTurns | undefined): FastExecutor {
  const client = knex.client as unknown as KnexPoolClient;
  let checkpointer: SqliteCheckpointer | undefined;
  let closed = false;
  // Started on first use, not at open: a short-lived command never spawns the thread.
  const startCheckpointer = (db: SqliteDatabase): void => {
    if (checkpointer || closed || !checkpointPath || checkpointPath === ':memory:') return;
    checkpointer = new SqliteCheckpointer({ path: checkpointPath });
    // The pool holds this one connection: from now on it checkpoints by itself only as a fallback.
    db.pragma(`wal_autocheckpoint = ${fallbackAutocheckpointPages}`);
  };
  const cache = new Map<string, SqliteStatement>();
  const prepare = (db: SqliteDatabase, text: string): SqliteStatement => {
    let statement = cache.get(text);
    if (!statement) {
      if (cache.size >= maxCachedStatements) cache.clear();
      statement = db.prepare(text);
      cache.set(text, statement);
    }
    return statement;
  };
  const sqlOn = (db: SqliteDatabase): Sql => ({
    dialect: 'sqlite',
    all: (text, params = []) => {
      const statement = prepare(db, text);
      const bound = params.map(bindable);
      if (statement.reader) return Promise.resolve(statement.all(...bound));
      statement.run(...bound);
      return Promise.resolve([]);
    },
    run: (text, params = []) => Promise.resolve(prepare(db, text).run(...params.map(bindable)).changes),
  });
  return {
    transaction: (work) =>
      retryTransient(() =>
        inTurn(turns, async () => {
          // The pool holds one connection (orm.ts), so while this batch owns it no other ledger
          // statement can interleave; `work` must only use the Sql it is given.
          const db = await client.acquireConnection();
          try {
            startCheckpointer(db);
            // IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock later.
            db.exec('BEGIN IMMEDIATE');
            try {
              const result = await withDeferredInserts(sqlOn(db), work);
              db.exec('COMMIT');
              return result;
            } catch (error) {
              if (db.inTransaction) db.exec('ROLLBACK');
              throw error;
            }
          } finally {
            await client.releaseConnection(db);
          }
        }),
      ),
    // The database is a file in this process: there is nothing to reach. (Waiting for the one
    // connection would measure how long the current transaction holds it, not reachability.)
    probe: () => Promise.resolve(),
    close: async () => {
      closed = true;
      await checkpointer?.stop();
    },
  };
}

/**
 * Values as MikroORM's PostgreSQL connection reads them: date and time types stay text. The ledger
 * keeps times as epoch milliseconds, so this only keeps a stray timestamp the same on both paths.
 */
function ormCompatibleTypes(): pg.CustomTypesConfig {
  const types = new pg.TypeOverrides();
  for (const oid of [1082, 1114, 1184, 1186]) types.setTypeParser(oid, (text: string) => text);
  return types;
}

/**
 * PostgreSQL: pg clients used directly, from a small pool of the hot path's own, opened from the
 * same URL as the ORM's. knex's raw queries rewrite the SQL text and bindings on every call;
 * that was about a tenth of the worker's CPU on the PostgreSQL hot path.
 * The placeholders are rewritten once per SQL text, and every text is a named statement.
 *
 * The pool is the hot path's own because its connections run with sequential scans priced out
 * (`enable_seqscan = off`, set when each connects). The hot path reaches rows by key only, and
 * PostgreSQL plans a named statement once for all runs after its first five: a plan made while
 * `jobs` was small could be a sequential scan, kept as the table grows (measured: marking 500 jobs
 * dispatched took 86 ms instead of about 7 ms once the bench's table held 20,000 jobs). The setting
 * used to be `SET LOCAL` in each transaction, but a statement that commits alone (`autocommit`) has
 * no transaction to set it in, and on the ORM's own connections it would reach every other query.
 */
function postgresExecutor(url: string, retryMs: number): FastExecutor {
  // A connect that hangs (a silent network) gives up after 10 s; keepalive finds dead sockets.
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    keepAlive: true,
    types: ormCompatibleTypes(),
    options: [new URL(url).searchParams.get('options'), '-c enable_seqscan=off'].filter(Boolean).join(' '),
    max: 4,
  });
  // An idle client whose connection dropped: the pool discards it and the next batch connects anew.
  pool.on('error', () => undefined);
  // pg-pool listens for errors only on idle clients. A client checked out whose connection ends
  // between two statements (a terminated backend, a restart) emits 'error' with nobody listening,
  // which would reach the process as an uncaught exception. The statement in flight, if any, gets
  // the error itself; the client is not queryable afterwards, and the pool drops it at release.
  pool.on('connect', (client) => client.on('error', () => undefined));
  const sqlOn = (client: PgClient): Sql => ({
    dialect: 'postgresql',
    bindsArrays: true,
    all: async (text, params = []) => (await client.query(preparedQuery(text, params))).rows,
    run: async (text, params = []) => (await client.query(preparedQuery(text, params))).rowCount ?? 0,
  });
  const session: PgSession = { pool, sqlOn, retryMs };
  const retrying = { databaseRetryMs: retryMs };
  const autocommit = <T>(work: (sql: Sql) => Promise<T>): Promise<T> => postgresAutocommit(session, work);
  return {
    transaction: (work) => retryTransient(() => postgresTransaction(session, work), retrying),
    autocommit,
    writeAlone: async (work) => {
      const held = await writtenAsOneStatement({ dialect: 'postgresql', bindsArrays: true }, work);
      if (!held) return undefined;
      // A deadlock or serialization victim wrote nothing (one statement), so it runs again as is;
      // so does one cut off before it landed (postgres-transaction.ts).
      await retryTransient(() => runStatementAlone(session, held.statement, held.witness), retrying);
      return { result: held.result };
    },
    settleCommit: (input) => settleCutCommit(pool, { ...input, retryMs }),
    probe: async () => {
      const client = await pool.connect();
      try {
        await client.query('SELECT 1');
        client.release();
      } catch (error) {
        client.release(true);
        throw error;
      }
    },
    close: () => pool.end(),
  };
}

/** Per SQL text as written (`?` placeholders): the text PostgreSQL gets, and its statement name. */
const preparedTexts = new Map<string, { text: string; name?: string }>();
let namedStatements = 0;
/**
 * How many SQL texts become named (server-side prepared) statements. The hot path's texts are a
 * few dozen and do not depend on how many rows a batch holds (arrays through `unnest`); texts
 * beyond the cap (IN-lists of many sizes) stay unnamed rather than pile up in every backend.
 */
const maxNamedStatements = 200;

/**
 * A pg query config: named, so that each pooled connection parses and plans a text once and then
 * only binds and executes it. Measured with log_min_duration_statement, unnamed,
 * parse and bind (which plans) cost about 100-300 us each per statement of a batch, as much as
 * executing it. The same text always gets the same name, on every connection.
 */
function preparedQuery(text: string, params: readonly unknown[]): { name?: string; text: string; values: unknown[] } {
  let prepared = preparedTexts.get(text);
  if (!prepared) {
    const converted = positional(text);
    // A `*` result grows with a migration, and a prepared statement must not change its result type.
    const named = namedStatements < maxNamedStatements && !converted.includes('*');
    prepared = named ? { text: converted, name: `jobledger_${++namedStatements}` } : { text: converted };
    // Unnamed texts are not kept past the cap: IN-lists of many sizes would grow the map forever.
    if (named || preparedTexts.size < maxCachedStatements) preparedTexts.set(text, prepared);
  }
  return { name: prepared.name, text: prepared.text, values: params.map(bindable) };
}

/**
 * `?` placeholders as PostgreSQL's `$1, $2, ...`, skipping quoted literals and identifiers. The
 * ledger's SQL uses `?` only as a placeholder (no jsonb `?` operators), as it does through knex.
 */
export function positional(text: string): string {
  let out = '';
  let n = 0;
  let quote: string | undefined;
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  return out;
}

/** better-sqlite3 and pg both refuse `undefined`; booleans become 1/0 on SQLite as MikroORM stores them. */
function bindable(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}
