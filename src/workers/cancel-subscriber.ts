/**
 * Cancellation reaches a running attempt over Redis pub/sub: the operator's cancel commits to the
 * ledger and publishes the job id on the prefix's cancel channel (transport/cancel-channel.ts); every
 * worker listens on a connection of its own (a subscribed connection takes no other commands) and
 * aborts the attempt it runs for that job, if any.
 */
import type { Logger } from '../logger.js';
import { cancelChannel } from '../transport/cancel-channel.js';
import { createRedis, type Redis, type RedisTarget } from '../transport/redis-connection.js';
import type { RedisErrorLog } from '../transport/redis-errors.js';

/** Subscribes; `abort` returns whether this process ran an attempt of the job. Returns the subscribed connection to close. */
export async function subscribeToCancels(options: {
  config: RedisTarget & { redisPrefix: string };
  logger: Logger;
  redisErrors: RedisErrorLog;
  abort: (jobId: string) => boolean;
}): Promise<Redis> {
  const { config, logger } = options;
  const subscriber = createRedis(config, 'subscriber');
  options.redisErrors.watch(subscriber, 'cancel subscriber');
  subscriber.on('message', (_channel: string, jobId: string) => {
    if (options.abort(jobId)) logger.info({ jobId }, 'aborting a cancelled job');
  });
  await subscriber.subscribe(cancelChannel(config.redisPrefix));
  return subscriber;
}
