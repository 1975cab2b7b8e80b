/**
 * Redis connections. Producers and workers use separate connections because they want opposite
 * things: a producer fails fast while Redis is down (its jobs are safe in the outbox and the relay
 * hands them over later), while a BullMQ worker must wait and reconnect on its blocking commands.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { RedisAuthError, RedisUnavailableError } from '../errors.js';
import { isRedisAuthError } from './redis-errors.js';

export type { Redis };

export type ConnectionPurpose = 'producer' | 'worker' | 'subscriber';

export function createRedis(url: string, purpose: ConnectionPurpose): Redis {
  const options: RedisOptions = {
    connectionName: `jobledger:${purpose}`,
    // BullMQ requires null on connections that run blocking commands (workers); a producer gives up
    // on a command after one retry so enqueue never hangs on a dead Redis.
    maxRetriesPerRequest: purpose === 'producer' ? 1 : null,
    enableOfflineQueue: purpose !== 'producer',
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  };
  const client = new Redis(url, options);
  // Every BullMQ Queue sharing this connection adds its own listeners (one Queue per queue name),
  // so the default cap of 10 warns about a leak that is not one.
  client.setMaxListeners(200);
  return client;
}

/**
 * Pings Redis once, within `timeoutMs`. Throws `RedisAuthError` when Redis answers but refuses the
 * credentials, and `RedisUnavailableError` (which says how to start one) when it cannot be reached.
 */
export async function checkRedis(url: string, timeoutMs = 2000): Promise<Redis> {
  const client = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    connectTimeout: timeoutMs,
  });
  // A refused AUTH arrives as an error event; the connect then rejects with "Connection is closed".
  let refused: Error | undefined;
  client.on('error', (error: Error) => {
    if (isRedisAuthError(error)) refused = error;
  });
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    const authError = refused ?? (isRedisAuthError(error) ? (error as Error) : undefined);
    if (authError) throw new RedisAuthError(url, authError.message, authError);
    throw new RedisUnavailableError(url, error);
  }
}

/**
 * Closes a connection politely (QUIT, so commands already sent get their replies) but never waits
 * on a Redis that does not answer: a silent socket (a partition, a half-open connection) would hold
 * a shutdown forever. After `timeoutMs` the socket is simply dropped.
 */
export async function closeRedis(client: Redis, timeoutMs = 2000): Promise<void> {
  if (client.status === 'end') return;
  await withTimeout(client.quit(), timeoutMs, 'closing a Redis connection').catch(() => client.disconnect());
}

/** A Redis operation that got no answer in time (the connection may look healthy all the same). */
export class RedisTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} timed out after ${ms} ms`);
    this.name = 'RedisTimeoutError';
  }
}

/** Resolves `promise`, or rejects after `ms` with a `RedisTimeoutError` (the promise itself runs on). */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
