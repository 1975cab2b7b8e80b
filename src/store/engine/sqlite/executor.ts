/**
 * The SQLite hot path: cached prepared statements on a better-sqlite3 connection of its own.
 *
 * Why not the ORM's connection: MikroORM inlines every value into the SQL text and hands knex a new
 * string per call, so nothing is prepared twice, and a job's start and finish through it cost about
 * 2.6 ms of CPU on a 2-core host. Why a connection of its own rather than the ORM's: the ORM's is
 * reachable only through its pool, whose interface is internal; the two connections share the file
 * in WAL mode, their write transactions take turns within the process (write-turns.ts), and each
 * reads only what the other committed.
 *
 * An in-memory database (`sqlite::memory:`) lives in one connection, so there the hot path runs on
 * the ORM's, handed over when the ORM's pool created it (open-orm.ts). Its transactions still take
 * turns with the ORM's, but an ORM read that runs while a hot-path transaction is open sees its rows
 * before they commit: acceptable for the tests and demos an in-memory ledger is for.
 */
import type { Statement } from 'better-sqlite3';
import type { WriteTurns } from './write-turns.js';
import { inTurn } from './write-turns.js';
import { retryTransient } from '../retry-transient.js';
import { bindable, type FastExecutor } from '../executor.js';
import type { Row, Sql } from '../sql.js';
import { fallbackAutocheckpointPages, SqliteCheckpointer } from './checkpointer.js';
import { openSqliteConnection, type SqliteDatabase } from './connection.js';

type SqliteStatement = Statement<unknown[]>;

export interface SqliteExecutorOptions {
  /** The database file, or ":memory:". */
  path: string;
  /** For ":memory:": the ORM's connection, the only one that sees the database. */
  sharedConnection?: SqliteDatabase;
  /**
   * Checkpoint the WAL from a thread of its own (checkpointer.ts), from the first transaction on.
   * Default true for a file.
   */
  checkpoint?: boolean;
  /** Each transaction takes its turn among this process's writers (write-turns.ts). */
  writeTurns?: WriteTurns;
}

/**
 * Prepared statements are cached per SQL text; IN-lists of many sizes make the cache grow, so it is
 * capped. The cap leaves room for the hot path's batched statements, one text per row count up to
 * 64 (sql.ts) for each of about seven statements: up to ~450 texts.
 */
const maxCachedStatements = 1500;

export function sqliteExecutor(options: SqliteExecutorOptions): FastExecutor {
  const inMemory = options.path === ':memory:';
  if (inMemory && !options.sharedConnection) throw new Error('an in-memory SQLite ledger needs the ORM connection that holds it');
  // Opened on first use, not at open: a short-lived command that never writes opens nothing.
  let own: SqliteDatabase | undefined;
  let checkpointer: SqliteCheckpointer | undefined;
  let closed = false;
  const connection = (): SqliteDatabase => {
    if (options.sharedConnection) return options.sharedConnection;
    if (closed) throw new Error('the ledger is closed');
    if (!own) {
      own = openSqliteConnection(options.path);
      if (options.checkpoint ?? true) {
        checkpointer = new SqliteCheckpointer({ path: options.path });
        // The thread checkpoints; this connection does so by itself only as a fallback.
        own.pragma(`wal_autocheckpoint = ${fallbackAutocheckpointPages}`);
      }
    }
    return own;
  };
  const cache = new Map<string, SqliteStatement>();
  const prepare = (db: SqliteDatabase, text: string): SqliteStatement => {
    let statement = cache.get(text);
    if (!statement) {
      if (cache.size >= maxCachedStatements) cache.clear();
      statement = db.prepare<unknown[]>(text);
      cache.set(text, statement);
    }
    return statement;
  };
  const sqlOn = (db: SqliteDatabase): Sql => ({
    dialect: 'sqlite',
    all: (text, params = []) => {
      const statement = prepare(db, text);
      const bound = params.map(bindable);
      if (statement.reader) return Promise.resolve(statement.all(...bound) as Row[]);
      statement.run(...bound);
      return Promise.resolve([]);
    },
    run: (text, params = []) => Promise.resolve(prepare(db, text).run(...params.map(bindable)).changes),
  });
  return {
    transaction: (work) =>
      retryTransient(() =>
        inTurn(options.writeTurns, async () => {
          const db = connection();
          // IMMEDIATE takes the write lock up front: no deadlock upgrading a read lock later.
          db.exec('BEGIN IMMEDIATE');
          try {
            const result = await work(sqlOn(db));
            db.exec('COMMIT');
            return result;
          } catch (error) {
            if (db.inTransaction) db.exec('ROLLBACK');
            throw error;
          }
        }),
      ),
    // The database is a file in this process: there is nothing to reach.
    probe: () => Promise.resolve(),
    close: async () => {
      if (closed) return;
      closed = true;
      cache.clear();
      await checkpointer?.stop();
      own?.close();
    },
  };
}
