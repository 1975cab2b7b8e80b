/**
 * Opens the hot path's engine (engine.ts) over a new executor for a ledger's database, loading only
 * its dialect's modules: a SQLite ledger never loads pg, a PostgreSQL one never the SQLite engine.
 * (`createFastExecutor` in open-executor.ts builds the same executors synchronously, both dialects
 * loaded, for tests and tools that want an executor alone.)
 */
import type { DatabaseTarget } from '../../config.js';
import { withWrappedErrors } from './executor.js';
import { defaultDatabaseRetryMs } from './connection-loss.js';
import type { LedgerEngine } from './engine.js';
import type { FastExecutorOptions } from './open-executor.js';

export async function openEngine(target: DatabaseTarget, options: FastExecutorOptions = {}): Promise<LedgerEngine> {
  if (target.dialect === 'sqlite') {
    const [{ sqliteExecutor }, { sqliteEngine }] = await Promise.all([import('./sqlite/executor.js'), import('./sqlite/engine.js')]);
    const executor = sqliteExecutor({
      path: target.sqlitePath ?? ':memory:',
      sharedConnection: options.sharedSqliteConnection,
      checkpoint: options.checkpoint,
      writeTurns: options.writeTurns,
    });
    return sqliteEngine(withWrappedErrors(executor, 'sqlite'));
  }
  const [{ postgresExecutor }, { postgresEngine }] = await Promise.all([import('./postgres/executor.js'), import('./postgres/engine.js')]);
  const databaseRetryMs = options.databaseRetryMs ?? defaultDatabaseRetryMs;
  return postgresEngine(withWrappedErrors(postgresExecutor(target.url, databaseRetryMs), 'postgresql'), databaseRetryMs);
}
