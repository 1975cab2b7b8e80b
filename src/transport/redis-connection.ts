/**
 * Redis connections, every one jobledger makes: producers, workers, subscribers, the CLI and the
 * console all come through `createRedis` or `checkRedis`, which connect to a single Redis at
 * REDIS_URL or, when `JOBLEDGER_REDIS_CLUSTER_NODES` is set, to a Redis Cluster through its seed
 * nodes (ioredis `Cluster`; redis-cluster-config.ts says why the prefix then needs a hash tag), or
 * when `JOBLEDGER_REDIS_SENTINELS` is set, to the master those Sentinels name (ioredis asks them
 * again on every reconnect, so a failover is followed without a restart).
 *
 * Producers and workers use separate connections because they want opposite things: a producer
 * fails fast while Redis is down (its jobs are safe in the outbox and the relay hands them over
 * later), while a BullMQ worker must wait and reconnect on its blocking commands.
 */
import { Cluster, Redis as SingleRedis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { RedisAuthError, RedisUnavailableError } from '../errors.js';
import { isRedisAuthError } from './redis-errors.js';
import { describeClusterNodes, type RedisNode } from '../redis-cluster-config.js';

/** A connection to a single Redis or to a Redis Cluster: both take the same commands. */
export type Redis = SingleRedis | Cluster;

export type ConnectionPurpose = 'producer' | 'worker' | 'subscriber';

/** Where Redis is: a REDIS_URL alone, or the configuration's URL with cluster seed nodes or Sentinels. */
export type RedisTarget =
  | string
  | {
      readonly redisUrl: string;
      readonly redisClusterNodes?: readonly RedisNode[];
      readonly redisSentinels?: readonly RedisNode[];
      readonly redisSentinelMaster?: string;
    };

function sentinelsOf(target: RedisTarget): { sentinels: readonly RedisNode[]; master: string } | undefined {
  if (typeof target === 'string' || !target.redisSentinels?.length) return undefined;
  return { sentinels: target.redisSentinels, master: target.redisSentinelMaster ?? 'mymaster' };
}

function clusterNodesOf(target: RedisTarget): readonly RedisNode[] {
  return typeof target === 'string' ? [] : (target.redisClusterNodes ?? []);
}

function urlOf(target: RedisTarget): string {
  return typeof target === 'string' ? target : target.redisUrl;
}

/**
 * What to name the target in messages (they mask it with `maskUrl`): REDIS_URL, or for a cluster
 * `redis-cluster://<first seed>/?seeds=<every seed>` (no credentials: those stay in REDIS_URL).
 */
export function describeRedisTarget(target: RedisTarget): string {
  const sentinel = sentinelsOf(target);
  if (sentinel) return `redis-sentinel://${describeClusterNodes(sentinel.sentinels.slice(0, 1))}/?master=${sentinel.master}&sentinels=${describeClusterNodes(sentinel.sentinels)}`;
  const nodes = clusterNodesOf(target);
  return nodes.length ? `redis-cluster://${describeClusterNodes(nodes.slice(0, 1))}/?seeds=${describeClusterNodes(nodes)}` : urlOf(target);
}

/**
 * What a cluster's nodes (or a Sentinel's master) take from REDIS_URL: its user, password and TLS
 * (`rediss://`). Its host and port are not used, nor is its database by a cluster (database 0 only).
 */
function nodeOptionsFromUrl(url: string): RedisOptions {
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

function connect(target: RedisTarget, options: RedisOptions, clusterOptions: Omit<ClusterOptions, 'redisOptions'> = {}): Redis {
  const sentinel = sentinelsOf(target);
  if (sentinel) {
    const url = new URL(urlOf(target));
    const db = Number(url.pathname.slice(1) || 0);
    return new SingleRedis({
      ...options,
      ...nodeOptionsFromUrl(urlOf(target)),
      ...(Number.isSafeInteger(db) && db > 0 ? { db } : {}),
      sentinels: sentinel.sentinels.map((n) => ({ host: n.host, port: n.port })),
      name: sentinel.master,
      // The Sentinels are asked again on each reconnect. A master demoted while still up (a manual
      // failover, a partition that heals) refuses writes with READONLY: reconnect, and resend the
      // command, to the master they name now. (ioredis's failoverDetector is not used: its
      // +switch-master disconnect, arriving during a reconnect, ends the connection for good.)
      reconnectOnError: (error: Error) => (error.message.startsWith('READONLY') ? 2 : false),
      // A Sentinel unreachable at a reconnect: try the next one, as often as the master connection retries.
      sentinelRetryStrategy: (times: number) => Math.min(times * 200, 2000),
    });
  }
  const nodes = clusterNodesOf(target);
  if (nodes.length === 0) return new SingleRedis(urlOf(target), options);
  const { lazyConnect, enableOfflineQueue, retryStrategy: nodeRetry, ...nodeOptions } = options;
  const retryStrategy = nodeRetry ?? undefined;
  return new Cluster(
    nodes.map((n) => ({ host: n.host, port: n.port })),
    {
      redisOptions: { ...nodeOptions, ...nodeOptionsFromUrl(urlOf(target)) },
      ...(lazyConnect !== undefined ? { lazyConnect } : {}),
      ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
      // The cluster reconnects as a whole with this strategy (a node's own connection is the cluster's to manage).
      ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) ?? null } : {}),
      ...clusterOptions,
    },
  );
}

export function createRedis(target: RedisTarget, purpose: ConnectionPurpose): Redis {
  const options: RedisOptions = {
    connectionName: `jobledger:${purpose}`,
    // BullMQ requires null on connections that run blocking commands (workers); a producer gives up
    // on a command after one retry so enqueue never hangs on a dead Redis.
    maxRetriesPerRequest: purpose === 'producer' ? 1 : null,
    enableOfflineQueue: purpose !== 'producer',
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  };
  const client = connect(target, options, {
    // During a failover a slot's master is gone for a few seconds (cluster-node-timeout plus the
    // election): commands are retried on the refreshed slot map rather than failed at once.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 200,
    slotsRefreshTimeout: 2000,
  });
  // Every BullMQ Queue sharing this connection adds its own listeners (one Queue per queue name),
  // so the default cap of 10 warns about a leak that is not one.
  client.setMaxListeners(200);
  return client;
}

/**
 * Pings Redis once, within `timeoutMs`. Throws `RedisAuthError` when Redis answers but refuses the
 * credentials, and `RedisUnavailableError` (which says how to start one) when it cannot be reached.
 */
export async function checkRedis(target: RedisTarget, timeoutMs = 2000): Promise<Redis> {
  const client = connect(
    target,
    { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null, connectTimeout: timeoutMs },
    { slotsRefreshTimeout: timeoutMs },
  );
  // A refused AUTH arrives as an error event; the connect then rejects with "Connection is closed".
  let refused: Error | undefined;
  client.on('error', (error: Error) => {
    if (isRedisAuthError(error)) refused = error;
  });
  client.on('node error', (error: Error) => {
    if (isRedisAuthError(error)) refused = error;
  });
  try {
    await withTimeout(client.connect(), timeoutMs * 2, 'connecting to Redis');
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    const authError = refused ?? (isRedisAuthError(error) ? (error as Error) : undefined);
    if (authError) throw new RedisAuthError(describeRedisTarget(target), authError.message, authError);
    throw new RedisUnavailableError(describeRedisTarget(target), error);
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
