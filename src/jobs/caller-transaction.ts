/**
 * The caller's transaction of a transactional enqueue (`Producer.transaction`), and what a lost
 * database connection means for it (store/engine/connection-loss.ts). A transaction the database aborted
 * for a lost lock race (SQLite busy, a deadlock) is run again, `work` with it, by
 * `Ledger.transactionWith`: nothing of it was written. After a lost connection `work` is never run
 * a second time here:
 *
 * - lost before `work` started (a pooled connection that had died, a BEGIN that failed): nothing
 *   ran, so the transaction starts again on a fresh connection while the database comes back;
 * - lost while `work` ran: nothing was written; a retryable `DatabaseUnavailableError` tells the
 *   caller it may call again;
 * - lost during COMMIT: the first job it inserted tells whether it landed, read once the server
 *   process that ran it is gone (store/engine/postgres/cut-commit.ts). Landed, it is a success like any other (the
 *   caller's own writes committed with the jobs); not, a `DatabaseUnavailableError`. A transaction
 *   that enqueued nothing has no job to tell by: `CommitOutcomeUnknownError`.
 */
import type { EntityManager } from '@mikro-orm/core';
import { setTimeout as sleep } from 'node:timers/promises';
import { CommitOutcomeUnknownError, DatabaseUnavailableError } from '../errors.js';
import type { Logger } from '../logger.js';
import { dialectOf, isConnectionLoss, reconnectDelayMs, sqlFor, type Ledger } from '../store/index.js';

const what = 'a transactional enqueue';

export async function inCallerTransaction<T>(
  deps: { ledger: Ledger; logger: Logger },
  em: EntityManager,
  work: (txEm: EntityManager) => Promise<T>,
  /** The ids of the jobs `work` has inserted so far. */
  createdJobIds: () => readonly string[],
): Promise<T> {
  const startedAt = Date.now();
  for (let attempt = 1; ; attempt++) {
    let started = false;
    let committing: { value: T } | undefined;
    let backendPid: number | undefined;
    try {
      return await deps.ledger.transactionWith(em, async (txEm) => {
        // The server process that will commit, asked before `work` runs: a dead connection shows
        // here, while starting again is still safe; and it is the process to fence if COMMIT is cut.
        if (dialectOf(txEm) === 'postgresql') backendPid = Number((await sqlFor(txEm).all('SELECT pg_backend_pid() AS pid'))[0]?.pid);
        started = true;
        committing = undefined;
        const value = await work(txEm);
        committing = { value };
        return value;
      });
    } catch (error) {
      if (!isConnectionLoss(error)) throw error;
      if (!started) {
        if (Date.now() - startedAt >= deps.ledger.databaseRetryMs) throw new DatabaseUnavailableError(what, error);
        await sleep(reconnectDelayMs(attempt));
        continue;
      }
      if (!committing) throw new DatabaseUnavailableError(what, error);
      const [witness] = createdJobIds();
      if (witness === undefined) throw new CommitOutcomeUnknownError(what, [], error);
      if (!(await deps.ledger.jobCommitLanded(backendPid, witness, error))) throw new DatabaseUnavailableError(what, error);
      deps.logger.warn({ jobs: createdJobIds().length }, 'the connection ended during COMMIT; the jobs show the transaction landed');
      return committing.value;
    }
  }
}
