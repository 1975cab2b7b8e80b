/**
 * The pino root logger and its children. Jobs get a child per attempt (job id, name, attempt
 * number), so every line a handler logs can be traced back to the ledger row it belongs to.
 */
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';

export type { Logger };

export function createLogger(config: Pick<Config, 'logLevel'>, destination?: pino.DestinationStream): Logger {
  // Logs go to stderr so that `--json` output on stdout stays machine-readable.
  return pino({ level: config.logLevel, base: { pid: process.pid } }, destination ?? pino.destination(2));
}
