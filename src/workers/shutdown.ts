/**
 * Signals for a long-running worker process: the first SIGTERM or SIGINT starts a graceful close
 * (drain under the grace period, then abort and mark `interrupted`); a second one forces the exit.
 *
 * The worker's close is bounded whatever Redis does (ledger-worker.ts). As a last guard, should
 * anything after it hang (closing the ledger, the application's own `afterClose`), the process
 * exits with code 1 once `deadlineMs` has passed since the signal.
 */
import type { Logger } from '../logger.js';
import type { LedgerWorker } from './ledger-worker.js';

/** Beyond the worker's own bound on its close: time for `afterClose` (the relay, Redis, the ledger). */
export const afterCloseMarginMs = 10_000;

export interface ShutdownOptions {
  /** How long after the first signal the process exits whatever is still running. Default: the worker's close bound + 10 s. */
  deadlineMs?: number;
}

export function installShutdownHandlers(
  worker: LedgerWorker,
  logger: Logger,
  afterClose: () => Promise<void>,
  exit: (code: number) => void = (code) => process.exit(code),
  options: ShutdownOptions = {},
): void {
  let shuttingDown = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      logger.warn({ signal }, 'second signal: forcing exit; unfinished attempts will be recovered as stalled');
      exit(130);
      return;
    }
    shuttingDown = true;
    logger.info({ signal }, 'shutting down: no new jobs; draining running attempts');
    const deadlineMs = options.deadlineMs ?? worker.closeBoundMs + afterCloseMarginMs;
    const deadline = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown did not end in time; exiting anyway (unfinished attempts will be recovered as stalled)');
      exit(1);
    }, deadlineMs);
    // The guard alone must not keep the process alive.
    deadline.unref();
    worker
      .close()
      .then(afterClose)
      .then(
        () => {
          clearTimeout(deadline);
          exit(0);
        },
        (error: unknown) => {
          clearTimeout(deadline);
          logger.error({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
