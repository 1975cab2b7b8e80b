/**
 * Redis settings the delivery promise depends on. Redis is only the transport, but a Redis that may
 * evict keys under memory pressure drops queued jobs silently: the ledger still has them, yet they
 * wait for the next reconcile. So a worker refuses such a Redis unless told it is a development box.
 */
import { UnsafeRedisError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Cluster } from 'ioredis';
import type { Redis } from './redis-connection.js';

/**
 * One `CONFIG GET` value; `undefined` when the server refuses the command (managed Redis services
 * and ACLs often do) or does not know the key. Connection errors are thrown. On a Redis Cluster the
 * value is read from every master (any may come to hold the prefix's slot after a resharding):
 * the value they share, or their distinct values joined with " / " when they differ, which is not
 * any one setting and so fails a check that wants one.
 */
export async function readRedisConfig(redis: Redis, key: string): Promise<string | undefined> {
  if (redis.isCluster) {
    // The cluster knows its masters once connected: a command waits for that.
    await redis.ping();
    const values = await Promise.all((redis as Cluster).nodes('master').map((node) => readRedisConfig(node, key)));
    if (values.length === 0 || values.includes(undefined)) return undefined;
    return [...new Set(values)].join(' / ');
  }
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
