/** Opens the hot path's engine (engine.ts) and its executor (executor.ts) for a ledger's database: one per dialect. */
import type { DatabaseTarget } from '../../config.js';
import { withWrappedErrors, type FastExecutor } from './executor.js';
import { defaultDatabaseRetryMs } from './connection-loss.js';
import { sqliteExecutor } from './sqlite/executor.js';
import { postgresExecutor } from './postgres/executor.js';
import type { SqliteDatabase } from './sqlite/connection.js';
import type { WriteTurns } from './sqlite/write-turns.js';
import type { LedgerEngine } from './engine.js';
import { sqliteEngine } from './sqlite/engine.js';
import { postgresEngine } from './postgres/engine.js';

export interface FastExecutorOptions {
  /** SQLite, ":memory:" only: the ORM's connection, which alone holds the database (open-orm.ts). */
  sharedSqliteConnection?: SqliteDatabase;
  /** SQLite: checkpoint the WAL from a thread of its own (sqlite/checkpointer.ts). Default true. */
  checkpoint?: boolean;
  /** PostgreSQL: how long a write waits for a database that went away (`Config.databaseRetryMs`). Default 20000. */
  databaseRetryMs?: number;
  /** SQLite: each transaction takes its turn among this process's writers (sqlite/write-turns.ts). */
  writeTurns?: WriteTurns;
}

export function createFastExecutor(target: DatabaseTarget, options: FastExecutorOptions = {}): FastExecutor {
  const executor =
    target.dialect === 'sqlite'
      ? sqliteExecutor({
          path: target.sqlitePath ?? ':memory:',
          sharedConnection: options.sharedSqliteConnection,
          checkpoint: options.checkpoint,
          writeTurns: options.writeTurns,
        })
      : postgresExecutor(target.url, options.databaseRetryMs ?? defaultDatabaseRetryMs);
  return withWrappedErrors(executor, target.dialect);
}

/** The engine of the ledger's dialect, over a new executor (`createFastExecutor`). */
export function createEngine(target: DatabaseTarget, options: FastExecutorOptions = {}): LedgerEngine {
  const executor = createFastExecutor(target, options);
  return target.dialect === 'sqlite' ? sqliteEngine(executor) : postgresEngine(executor, options.databaseRetryMs ?? defaultDatabaseRetryMs);
}
