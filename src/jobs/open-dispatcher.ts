/**
 * The producer side's Redis: one connection, its error log, and the dispatcher that hands committed
 * jobs to BullMQ over it. A process with job types claims the Redis prefix for its ledger at once,
 * so that one pointed at another ledger's prefix is refused at open rather than at its first
 * hand-over; read-only uses (the CLI's queries) claim nothing.
 */
import type { Telemetry } from 'bullmq';
import { describeDatabase, type Config } from '../config.js';
import { RedisPrefixTakenError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Ledger } from '../store/index.js';
import { createRedis, describeRedisTarget, type Redis } from '../transport/redis-connection.js';
import { RedisErrorLog } from '../transport/redis-errors.js';
import { readyWithin } from '../transport/prefix-claim.js';
import { Dispatcher } from './dispatcher.js';

export interface OpenedDispatcher {
  redis: Redis;
  redisErrors: RedisErrorLog;
  dispatcher: Dispatcher;
}

/**
 * Opens the connection and the dispatcher; with `claim`, claims the prefix when Redis answers within
 * 5 s (a Redis that is down is not waited for: the dispatcher claims before its first hand-over).
 * Throws `RedisPrefixTakenError`, having closed what it opened, when another ledger holds the prefix.
 */
export async function openDispatcher(options: {
  config: Readonly<Config>;
  logger: Logger;
  ledger: Ledger;
  telemetry: Telemetry | undefined;
  claim: boolean;
}): Promise<OpenedDispatcher> {
  const { config, logger, ledger, telemetry } = options;
  const redisErrors = new RedisErrorLog(logger, { url: describeRedisTarget(config), intervalMs: config.redisErrorLogIntervalMs });
  const redis = createRedis(config, 'producer');
  redisErrors.watch(redis, 'producer');
  const dispatcher = new Dispatcher({
    ledger,
    connection: redis,
    prefix: config.redisPrefix,
    logger,
    redisErrors,
    owner: async () => ({ ledger: await ledger.identity(), database: describeDatabase(config.database) }),
    ...(telemetry ? { telemetry } : {}),
    ...(config.bullBoardMirror ? { mirrorPayloadMaxBytes: config.bullBoardMirrorMaxBytes } : {}),
  });
  if (options.claim) {
    try {
      if (await readyWithin(redis, 5000)) await dispatcher.claimPrefix();
    } catch (error) {
      if (error instanceof RedisPrefixTakenError) {
        await dispatcher.close();
        redis.disconnect();
        redisErrors.close();
        throw error;
      }
      logger.warn({ err: error }, 'could not claim the Redis prefix yet; it is claimed before the first hand-over');
    }
  }
  return { redis, redisErrors, dispatcher };
}
