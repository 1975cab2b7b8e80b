/**
 * The pino root logger and its children. Jobs get a child per attempt (job id, name, attempt
 * number), so every line a handler logs can be traced back to the ledger row it belongs to. Every
 * line passes through the redaction of log-redaction.ts: no password of REDIS_URL or DATABASE_URL,
 * no command argument, SQL value or connection string reaches the output.
 */
import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import type { Config } from './config.js';
import { logRedact, logSerializers, secretScrubber } from './log-redaction.js';
import { urlSecrets } from './mask-url.js';

export type { Logger };

/**
 * A logger at `config.logLevel` writing to `destination` (default stderr). With `redisUrl` and
 * `database`, the secrets of those URLs are scrubbed from every line written.
 */
export function createLogger(
  config: Pick<Config, 'logLevel'> & Partial<Pick<Config, 'redisUrl' | 'database'>>,
  destination?: pino.DestinationStream,
): Logger {
  const scrub = secretScrubber([...urlSecrets(config.redisUrl ?? ''), ...urlSecrets(config.database?.url ?? '')]);
  // Logs go to stderr so that `--json` output on stdout stays machine-readable.
  return pino(
    {
      level: config.logLevel,
      // Every line says which process on which host wrote it.
      base: { pid: process.pid, hostname: hostname() },
      serializers: logSerializers,
      redact: logRedact,
      ...(scrub ? { hooks: { streamWrite: scrub } } : {}),
    },
    destination ?? pino.destination(2),
  );
}
