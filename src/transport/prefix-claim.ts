/**
 * A ledger owns its Redis prefix. Two ledgers (two SQLite files, two PostgreSQL databases) on one
 * prefix would each be delivered the other's jobs: a job its ledger has no row for is failed in
 * Redis, one it has a stale row for may run twice. So the first worker or producer of a ledger
 * claims the prefix for the ledger's identity (`SET <prefix>:jobledger:ledger ... NX`), and one
 * that finds it held by another ledger refuses to start with `RedisPrefixTakenError`. A ledger
 * claiming a prefix it holds already is fine: every process of one ledger shares its prefix.
 *
 * The claim is never released (a process ending says nothing of the ledger). A Redis that lost its
 * data has no claim; the next process to start makes it again.
 */
import { RedisPrefixTakenError, type PrefixOwner } from '../errors.js';
import type { Redis } from './redis-connection.js';

/** The key holding the prefix's owner: `{ ledger, database, claimedAt }` as JSON. */
export function prefixOwnerKey(prefix: string): string {
  return `${prefix}:jobledger:ledger`;
}

export interface PublishedOwner extends PrefixOwner {
  /** When the claim was made (epoch ms, the claimant's clock). */
  claimedAt: number | null;
}

/** Claims `prefix` for `owner`'s ledger, or throws `RedisPrefixTakenError` naming the ledger that holds it. */
export async function claimRedisPrefix(redis: Redis, prefix: string, owner: PrefixOwner): Promise<void> {
  const key = prefixOwnerKey(prefix);
  const claim = JSON.stringify({ ledger: owner.ledger, database: owner.database, claimedAt: Date.now() });
  // Twice at most: a claim deleted between the SET and the GET (an operator freeing the prefix) is made again.
  for (let round = 0; round < 2; round++) {
    if ((await redis.set(key, claim, 'NX')) === 'OK') return;
    const held = await redis.get(key);
    if (held === null) continue;
    const holder = parseOwner(held) ?? { ledger: `an unreadable claim (${held.slice(0, 80)})`, database: 'unknown', claimedAt: null };
    if (holder.ledger === owner.ledger) return;
    throw new RedisPrefixTakenError(prefix, owner, holder, key);
  }
}

/** Who holds `prefix`: `null` when nobody has claimed it. */
export async function readPrefixOwner(redis: Redis, prefix: string): Promise<PublishedOwner | 'unreadable' | null> {
  const held = await redis.get(prefixOwnerKey(prefix));
  return held === null ? null : (parseOwner(held) ?? 'unreadable');
}

function parseOwner(text: string): PublishedOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<PublishedOwner> | null;
    if (typeof value?.ledger !== 'string') return undefined;
    return { ledger: value.ledger, database: typeof value.database === 'string' ? value.database : 'unknown', claimedAt: typeof value.claimedAt === 'number' ? value.claimedAt : null };
  } catch {
    return undefined;
  }
}

/**
 * True once `redis` is ready, false if it fails (an error, the connection ending) or `timeoutMs`
 * passes first: a producer opening while Redis is down does not wait for it (its jobs wait in the
 * outbox, and the claim is made before the first hand-over).
 */
export function readyWithin(redis: Redis, timeoutMs: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ready: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady).off('error', onFailed).off('end', onFailed);
      resolve(ready);
    };
    const onReady = () => done(true);
    const onFailed = () => done(false);
    const timer = setTimeout(onFailed, timeoutMs);
    redis.once('ready', onReady).once('error', onFailed).once('end', onFailed);
  });
}
