/**
 * The PostgreSQL engine (engine.ts), on the executor's own `pg.Pool` (executor.ts). Every statement
 * is a network round trip, so where a batch's writes can go as one statement that commits by
 * itself, they do: the common attempt starts and outcomes (attempt-statements.ts), a bulk of jobs
 * without idempotency keys with their events (`commitRows`), the dispatched marks. A statement cut
 * off with its connection is settled before anyone reads what it wrote (cut-commit.ts). The rest
 * goes through the group-commit transaction, as on SQLite.
 */
import { DatabaseUnavailableError } from '../../../errors.js';
import { beginAttempts, recordOutcomes } from '../../attempts/attempt-batch.js';
import { failStalledJobs, recordHeartbeats } from '../../attempts/attempt-signals.js';
import { insertJobs, keylessRowsAlone, markDispatched } from '../../jobs/job-writes.js';
import { retryTransient } from '../retry-transient.js';
import type { LedgerEngine } from '../engine.js';
import type { FastExecutor } from '../executor.js';
import { beginAttemptsAlone, recordOutcomesAlone } from './attempt-statements.js';
import { StatementCutOffError } from './transaction.js';

export function postgresEngine(executor: FastExecutor, databaseRetryMs: number): LedgerEngine {
  if (!executor.autocommit || !executor.commitRows) throw new Error('the PostgreSQL engine needs an executor with statements that commit by themselves');
  const autocommit = executor.autocommit.bind(executor);
  const commitRows = executor.commitRows.bind(executor);
  return {
    dialect: 'postgresql',
    startAttempts: { runAll: beginAttempts, runAlone: beginAttemptsAlone },
    finishAttempts: { runAll: recordOutcomes, runAlone: recordOutcomesAlone },
    insertJobs: {
      runAll: insertJobs,
      // Nothing to read first: the jobs and their events as one statement, one round trip instead
      // of three. Single enqueues, one at a time: 320-380 µs a job in a transaction, 225-275 this way.
      commitAlone: async (jobs) => {
        const rows = keylessRowsAlone(jobs);
        if (!rows || !(await commitRows(rows.batch))) return undefined;
        return rows.inserted;
      },
    },
    heartbeats: recordHeartbeats,
    failStalled: failStalledJobs,
    // One statement (the ids bind as one array), so no transaction around it: one round trip
    // instead of three. The mark is idempotent, so one cut off with its connection runs again. (A
    // mark that did not land only leaves its jobs `pending` for the relay, as a failed write does.)
    markDispatched: (ids, now) =>
      retryTransient(
        () =>
          autocommit((sql) => markDispatched(sql, ids, now)).catch((error: unknown) => {
            throw error instanceof StatementCutOffError ? new DatabaseUnavailableError('marking jobs dispatched', error.cause) : error;
          }),
        { databaseRetryMs },
      ),
    executor,
  };
}
