/**
 * Signals for a long-running worker process: the first SIGTERM or SIGINT starts a graceful close
 * (drain under the grace period, then abort and mark `interrupted`); a second one forces the exit.
 */
import type { Logger } from '../logger.js';
import type { LedgerWorker } from './ledger-worker.js';

export function installShutdownHandlers(
  worker: LedgerWorker,
  logger: Logger,
  afterClose: () => Promise<void>,
  exit: (code: number) => void = (code) => process.exit(code),
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
    worker
      .close()
      .then(afterClose)
      .then(
        () => exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'shutdown failed');
          exit(1);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
