/**
 * Redis settings the delivery promise depends on. Redis is only the transport, but a Redis that may
 * evict keys under memory pressure drops queued jobs silently: the ledger still has them, yet they
 * wait for the next reconcile. So a worker refuses such a Redis unless told it is a development box.
 */
import { UnsafeRedisError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Redis } from './redis-connection.js';

/**
 * One `CONFIG GET` value; `undefined` when the server refuses the command (managed Redis services
 * and ACLs often do) or does not know the key. Connection errors are thrown.
 */
export async function readRedisConfig(redis: Redis, key: string): Promise<string | undefined> {
  try {
    const reply = (await redis.config('GET', key)) as string[];
    return reply[1];
  } catch (error) {
    // A reply from the server (NOPERM, unknown command) rather than a broken connection.
    if ((error as Error | null)?.name === 'ReplyError') return undefined;
    throw error;
  }
}

export interface EvictionCheck {
  /** The policy Redis reported, or `undefined` if CONFIG GET is not allowed. */
  policy: string | undefined;
  verdict: 'ok' | 'allowed' | 'unknown';
}

/**
 * Throws `UnsafeRedisError` unless Redis reports `maxmemory-policy noeviction`; with `allow`, logs a
 * loud warning instead. If the policy cannot be read, warns and lets the caller go on.
 */
export async function ensureNoEviction(redis: Redis, options: { allow: boolean; logger: Logger }): Promise<EvictionCheck> {
  const policy = await readRedisConfig(redis, 'maxmemory-policy');
  if (policy === undefined) {
    options.logger.warn(
      'cannot read Redis maxmemory-policy (CONFIG GET is not allowed); make sure it is "noeviction", or queued jobs may be evicted',
    );
    return { policy, verdict: 'unknown' };
  }
  if (policy === 'noeviction') return { policy, verdict: 'ok' };
  if (!options.allow) throw new UnsafeRedisError(policy);
  options.logger.warn(
    { maxmemoryPolicy: policy },
    `UNSAFE REDIS (allowed for development): maxmemory-policy is "${policy}", so Redis may evict queued jobs; ` +
      'they stay in the ledger and are handed over again only at the next reconcile. Never run production like this.',
  );
  return { policy, verdict: 'allowed' };
}
