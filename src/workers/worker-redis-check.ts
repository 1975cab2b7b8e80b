/**
 * What a worker checks of its Redis before it fetches anything: refuses a Redis that may evict
 * queued jobs (transport/redis-policy.ts), one that refuses the credentials (waiting for that one
 * to come up would be waiting forever), and a prefix another ledger holds (transport/prefix-claim.ts):
 * the prefix is claimed for this worker's ledger.
 */
import type { Config } from '../config.js';
import { describeDatabase } from '../config.js';
import { RedisAuthError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Ledger } from '../store/index.js';
import { createRedis, describeRedisTarget } from '../transport/redis-connection.js';
import { isRedisAuthError, type RedisErrorLog } from '../transport/redis-errors.js';
import { ensureNoEviction } from '../transport/redis-policy.js';
import { claimRedisPrefix } from '../transport/prefix-claim.js';

export interface WorkerRedisCheck {
  config: Pick<Config, 'redisUrl' | 'redisClusterNodes' | 'redisPrefix'>;
  ledger: Ledger;
  logger: Logger;
  allowEvictingRedis: boolean;
  redisErrors: RedisErrorLog;
}

export async function checkWorkerRedis({ config, ledger, logger, allowEvictingRedis, redisErrors }: WorkerRedisCheck): Promise<void> {
  const redis = createRedis(config, 'worker');
  const refused = new Promise<never>((_, reject) => {
    redis.on('error', (error: Error) => {
      if (isRedisAuthError(error)) reject(new RedisAuthError(describeRedisTarget(config), error.message, error));
      else redisErrors.report('startup check', error);
    });
  });
  try {
    const checked = async (): Promise<void> => {
      await ensureNoEviction(redis, { allow: allowEvictingRedis, logger });
      await claimRedisPrefix(redis, config.redisPrefix, { ledger: await ledger.identity(), database: describeDatabase(ledger.target) });
    };
    await Promise.race([checked(), refused]);
  } finally {
    // Nothing is left to answer; and QUIT on a refused connection would wait in its offline queue.
    redis.disconnect();
  }
}
