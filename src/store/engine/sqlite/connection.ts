/**
 * SQLite connections as the ledger opens them: the same settings on the ORM's connection and on the
 * hot path's own (executor.ts), so that both wait, journal and enforce keys alike.
 */
import { createRequire } from 'node:module';
import type Database from 'better-sqlite3';

export type SqliteDatabase = Database.Database;

const require = createRequire(import.meta.url);

/**
 * better-sqlite3's constructor, loaded on first use: a process on a PostgreSQL ledger (a CLI read,
 * say) never loads the native module.
 */
export function sqliteDriver(): typeof Database {
  return require('better-sqlite3') as typeof Database;
}

/** How long one SQLite statement may wait on a lock before the application retries it. */
export const sqliteBusyTimeoutMs = 250;

/**
 * WAL lets readers (other connections, other processes) run beside the one writer. The busy timeout
 * is short because better-sqlite3 waits synchronously, blocking the event loop and with it BullMQ's
 * lock renewal; the application retries with jitter instead (retry-transient.ts).
 */
export function configureSqliteConnection(db: Pick<SqliteDatabase, 'pragma'>): void {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma(`busy_timeout = ${sqliteBusyTimeoutMs}`);
  db.pragma('foreign_keys = ON');
}

/** Opens a connection of the hot path's own to a database file the ORM has already created. */
export function openSqliteConnection(path: string): SqliteDatabase {
  const db = new (sqliteDriver())(path, { fileMustExist: true });
  try {
    configureSqliteConnection(db);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}
