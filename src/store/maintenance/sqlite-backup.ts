/**
 * SQLite backups through SQLite's online backup API: a consistent copy of the ledger taken while
 * workers keep writing (each step copies pages; a write in between restarts the copy of what
 * changed, so the result is one committed state). Each backup is checked before it is kept
 * (`PRAGMA integrity_check`, the ledger's tables and migrations), and a restore checks its source
 * first and writes only into a file that does not exist yet.
 *
 * PostgreSQL has its own tools for this (`pg_dump`, base backups); docs/operations.md says how.
 */
import { existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import { BackupInvalidError, InvalidOptionError } from '../../errors.js';
import { migrationsTable } from '../orm/ledger-tables.js';
import { configureSqliteConnection, sqliteDriver } from '../engine/sqlite/connection.js';

export interface BackupSummary {
  path: string;
  bytes: number;
  jobs: number;
  attempts: number;
  events: number;
  /** The newest migration the backup's schema has. */
  lastMigration: string;
}

/** The tables a ledger cannot be without. */
const requiredTables = ['jobs', 'attempts', 'events', 'runs', migrationsTable] as const;

/**
 * Copies the ledger at `source` to `to` (which must not exist unless `replace`): written beside it
 * under a temporary name, checked, then moved into place, so `to` is only ever a whole, sound backup.
 */
export async function backupSqlite(source: string, to: string, options: { replace?: boolean } = {}): Promise<BackupSummary> {
  checkTarget(to, options.replace === true, '--to');
  await copyThenMove(source, to, (partial) => {
    // One self-contained file: a copy of a WAL database is in WAL mode too, and would need its
    // side files beside it to be opened (and leave them behind when opened read-only).
    onConnection(partial, (copy) => copy.pragma('journal_mode = DELETE'));
    checkSqliteBackup(partial);
  });
  return checkSqliteBackup(to);
}

/** Checks that `path` is a sound ledger: SQLite's integrity check passes and the ledger's tables are there. */
export function checkSqliteBackup(path: string): BackupSummary {
  if (!existsSync(path)) throw new BackupInvalidError(path, 'no such file');
  let db: Database.Database;
  try {
    db = new (sqliteDriver())(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new BackupInvalidError(path, (error as Error).message);
  }
  try {
    const integrity = db.pragma('integrity_check') as { integrity_check: string }[];
    const problems = integrity.map((row) => row.integrity_check).filter((text) => text !== 'ok');
    if (problems.length) throw new BackupInvalidError(path, `integrity check: ${problems.slice(0, 3).join('; ')}`);
    const tables = new Set((db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as { name: string }[]).map((r) => r.name));
    const missing = requiredTables.filter((table) => !tables.has(table));
    if (missing.length) throw new BackupInvalidError(path, `missing the ledger's tables ${missing.join(', ')}`);
    const count = (table: string) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
    const last = db.prepare(`SELECT name FROM ${migrationsTable} ORDER BY id DESC LIMIT 1`).get() as { name: string } | undefined;
    if (!last) throw new BackupInvalidError(path, 'no migration recorded');
    return { path, bytes: statSync(path).size, jobs: count('jobs'), attempts: count('attempts'), events: count('events'), lastMigration: last.name };
  } catch (error) {
    if (error instanceof BackupInvalidError) throw error;
    // A damaged file often fails on the first read rather than in the integrity check.
    throw new BackupInvalidError(path, (error as Error).message);
  } finally {
    db.close();
  }
}

/** Writes the backup `from` to a new ledger file `to`, after checking `from`. */
export async function restoreSqlite(from: string, to: string): Promise<BackupSummary> {
  checkSqliteBackup(from);
  checkTarget(to, false, 'DATABASE_URL');
  // The copy keeps the journal mode the backup API gives it; the ledger runs in WAL.
  await copyThenMove(from, to, (partial) => onConnection(partial, configureSqliteConnection));
  return checkSqliteBackup(to);
}

/**
 * Copies the database `source` through the online backup API to a temporary file beside `to`, lets
 * `finish` prepare and check it, then moves it to `to`. On any failure the temporary file goes.
 */
async function copyThenMove(source: string, to: string, finish: (partial: string) => void): Promise<void> {
  const partial = join(dirname(to), `.${basename(to)}.${process.pid}.partial`);
  try {
    const db = new (sqliteDriver())(source, { readonly: true, fileMustExist: true });
    try {
      await db.backup(partial);
    } finally {
      db.close();
    }
    finish(partial);
    await rename(partial, to);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
}

function onConnection(path: string, work: (db: Database.Database) => void): void {
  const db = new (sqliteDriver())(path);
  try {
    work(db);
  } finally {
    db.close();
  }
}

function checkTarget(path: string, replace: boolean, option: string): void {
  const directory = dirname(path);
  if (!existsSync(directory) || !statSync(directory).isDirectory()) throw new InvalidOptionError(option, 'a file in an existing directory', path);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new InvalidOptionError(option, 'a file, not a directory', path);
    if (!replace) throw new InvalidOptionError(option, option === '--to' ? 'a file that does not exist yet (or --force to replace it)' : 'a SQLite file that does not exist yet', path);
  }
}
