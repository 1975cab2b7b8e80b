/**
 * Looking at what a test's JobLedger left in Redis: a BullMQ Queue on the same prefix (to read,
 * remove or re-add jobs as another process would) and a plain client to list raw keys. Both are
 * tracked by the leak check, so a test must close what it opens.
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { JobLedger } from '../../src/jobledger.js';
import { prefixOwnerKey } from '../../src/transport/prefix-claim.js';
import { track } from './leak-check.js';

/** A BullMQ Queue on the test's prefix. Note that BullMQ writes the queue's meta key when it opens. */
export function openQueue(jl: JobLedger, name = 'default'): Queue {
  const queue = new Queue(name, { connection: { url: jl.config.redisUrl }, prefix: jl.config.redisPrefix });
  return track(queue, `Queue(${name})`);
}

export interface RedisProbe {
  /** Every key under the test's prefix, but the ledger's claim on it (made when the JobLedger opened). */
  keys(): Promise<string[]>;
  close(): Promise<void>;
}

/** A plain client that writes nothing, to check that a rejected call left no key behind. */
export function openRedisProbe(jl: JobLedger): RedisProbe {
  const redis = new Redis(jl.config.redisUrl, { maxRetriesPerRequest: 1 });
  const prefix = jl.config.redisPrefix;
  return track(
    {
      keys: async () => (await redis.keys(`${prefix}:*`)).filter((key) => key !== prefixOwnerKey(prefix)),
      close: async () => {
        await redis.quit();
      },
    },
    'Redis probe',
  );
}
