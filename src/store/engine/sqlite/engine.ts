/**
 * The SQLite engine (engine.ts): every write in a transaction of the SQLite executor, on its own
 * better-sqlite3 connection with cached prepared statements (executor.ts), taking its turn among
 * the process's writers (write-turns.ts). A statement is a function call here, not a round trip,
 * so nothing commits by itself: the group-commit transaction is what saves the fsyncs.
 */
import { beginAttempts, recordOutcomes } from '../../attempts/attempt-batch.js';
import { failStalledJobs, recordHeartbeats } from '../../attempts/attempt-signals.js';
import { insertJobs, markDispatched } from '../../jobs/job-writes.js';
import type { LedgerEngine } from '../engine.js';
import type { FastExecutor } from '../executor.js';

export function sqliteEngine(executor: FastExecutor): LedgerEngine {
  return {
    dialect: 'sqlite',
    startAttempts: { runAll: beginAttempts },
    finishAttempts: { runAll: recordOutcomes },
    insertJobs: { runAll: insertJobs },
    heartbeats: recordHeartbeats,
    failStalled: failStalledJobs,
    markDispatched: (ids, now) => executor.transaction((sql) => markDispatched(sql, ids, now)),
    executor,
  };
}
