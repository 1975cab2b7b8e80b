/**
 * Opens the hot path's executor (executor.ts) for a database, synchronously, with both dialects'
 * modules loaded: for tests and tools that want an executor alone. The ledger opens its engine with
 * its own dialect's modules only (open-engine.ts).
 */
import type { DatabaseTarget } from '../../config.js';
import { withWrappedErrors, type FastExecutor } from './executor.js';
import { defaultDatabaseRetryMs } from './connection-loss.js';
import { sqliteExecutor } from './sqlite/executor.js';
import { postgresExecutor } from './postgres/executor.js';
import type { SqliteDatabase } from './sqlite/connection.js';
import type { WriteTurns } from './sqlite/write-turns.js';

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
