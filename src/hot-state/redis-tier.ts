/**
 * The Redis tier of hot state: one string per entry under `<prefix>:jobledger:state:<ns>/<key>`
 * (hot-value.ts gives its form), with a TTL that every read refreshes (GETEX), so keys nobody reads
 * drop out on their own. Every operation on many keys is one pipeline: one round trip per batch.
 *
 * Writers fence their keys (`<prefix>:jobledger:state-w:<ns>/<key>`, a counter with a lease):
 * before the SQL transaction a writer increments it and deletes the held value; after the commit it
 * decrements it and, if no other writer is still in flight, stores the new version. Readers never
 * store a value while a fence stands, and never store one older than the value held. So a reader
 * that read SQL before a commit cannot put the old version back afterwards, and a writer that dies
 * between its commit and its update leaves the key absent (filled from SQL once the lease lapses),
 * never stale.
 */
import type { ChainableCommander } from 'ioredis';
import { withTimeout, type Redis } from '../transport/redis-connection.js';

/**
 * Stores ARGV[2] (version ARGV[1], taken from SQL at ARGV[5]) unless a writer's fence stands or the
 * value held is of a newer version, or of the same one taken as late. A fill from SQL (ARGV[4] = '')
 * or a repair: ARGV[4] is the corrupt value read, replaced only if it is still the one held (and,
 * if a fence stands, deleted instead).
 */
const putScript = `
local held = redis.call('GET', KEYS[1])
local repair = ARGV[4] ~= ''
if repair then
  if held ~= ARGV[4] then return 0 end
  held = false
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  if repair then redis.call('DEL', KEYS[1]) return 1 end
  return 0
end
if held then
  local v, at = string.match(held, '^(%d+)|(%d+)|')
  v = tonumber(v)
  if v and (v > tonumber(ARGV[1]) or (v == tonumber(ARGV[1]) and tonumber(at) >= tonumber(ARGV[5]))) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/** A writer's fence: one more writer in flight for the lease, and no held value meanwhile. */
const fenceScript = `
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('DEL', KEYS[1])
return 1`;

/**
 * After the commit (ARGV[4] = '1': this writer fenced the key): lifts its fence and stores the new
 * version ARGV[2] (version ARGV[1]) if no other writer is in flight and nothing newer is held.
 * ARGV[2] = '': the write did not commit, only the fence is lifted.
 */
const settleScript = `
local others = 0
if ARGV[4] == '1' then
  others = redis.call('DECR', KEYS[2])
  if others <= 0 then redis.call('DEL', KEYS[2]) end
elseif redis.call('EXISTS', KEYS[2]) == 1 then
  others = 1
end
if others > 0 or ARGV[2] == '' then redis.call('DEL', KEYS[1]) return 0 end
local held = redis.call('GET', KEYS[1])
if held then
  local v = tonumber(string.match(held, '^(%d+)|'))
  if v and v >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

type Script = (valueKey: string, fenceKey: string, ...args: (string | number)[]) => ChainableCommander;
interface ScriptedPipeline extends ChainableCommander {
  jlStatePut: Script;
  jlStateFence: Script;
  jlStateSettle: Script;
}

/** An entry to store: its id and Redis form (hot-value.ts), at a version taken from SQL at `storedAt`. */
export interface RedisPut {
  id: string;
  version: number;
  storedAt: number;
  encoded: string;
  /** A repair: the corrupt value read, replaced only if Redis still holds it. */
  replacing?: string;
}

export interface RedisTierOptions {
  prefix: string;
  /** TTL of a held value, refreshed by each read. */
  ttlMs: number;
  /** How long a writer's fence lasts if the writer never lifts it (it died). */
  leaseMs: number;
  /** Longest wait for one round trip; past it, the read or write goes on against SQL. */
  timeoutMs: number;
}

export class RedisTier {
  constructor(
    private readonly redis: Redis,
    private readonly options: RedisTierOptions,
  ) {
    for (const [name, lua] of [
      ['jlStatePut', putScript],
      ['jlStateFence', fenceScript],
      ['jlStateSettle', settleScript],
    ] as const) {
      redis.defineCommand(name, { numberOfKeys: 2, lua });
    }
  }

  get up(): boolean {
    return this.redis.status === 'ready';
  }

  valueKey(id: string): string {
    return `${this.options.prefix}:jobledger:state:${id}`;
  }

  fenceKey(id: string): string {
    return `${this.options.prefix}:jobledger:state-w:${id}`;
  }

  /** The held values of `ids` (null where none), each TTL refreshed: one round trip. */
  async read(ids: readonly string[]): Promise<(string | null)[]> {
    if (ids.length === 1) {
      // One key (`get`, `find`): the command alone, without a pipeline's bookkeeping.
      if (!this.up) throw new Error(`Redis is not connected (${this.redis.status})`);
      return [await withTimeout(this.redis.getex(this.valueKey(ids[0]!), 'PX', this.options.ttlMs), this.options.timeoutMs, 'a hot state read')];
    }
    const results = await this.run((p) => {
      for (const id of ids) p.getex(this.valueKey(id), 'PX', this.options.ttlMs);
    });
    return results.map((r) => (typeof r === 'string' ? r : null));
  }

  /**
   * Stores values read from SQL, or repairs corrupt ones, unless a writer fenced them or a newer
   * version is held: one round trip. Returns how many were stored.
   */
  async put(puts: readonly RedisPut[]): Promise<number> {
    if (puts.length === 0) return 0;
    const results = await this.run((p) => {
      for (const put of puts) p.jlStatePut(this.valueKey(put.id), this.fenceKey(put.id), put.version, put.encoded, this.options.ttlMs, put.replacing ?? '', put.storedAt);
    });
    return results.filter((r) => r === 1).length;
  }

  /** Fences `ids` before a write and tells the other processes (`notice` on `channel`): one round trip. */
  async fence(ids: readonly string[], channel: string, notice: string): Promise<void> {
    await this.run((p) => {
      for (const id of ids) p.jlStateFence(this.valueKey(id), this.fenceKey(id), this.options.leaseMs);
      p.publish(channel, notice);
    });
  }

  /**
   * After a write: lifts the fences (`fenced`) and stores the committed versions (`puts`; an id
   * fenced but not in `puts` did not commit), then tells the other processes: one round trip.
   */
  async settle(fenced: readonly string[], puts: readonly RedisPut[], channel: string, notice: string): Promise<void> {
    const fencedSet = new Set(fenced);
    const committed = new Set(puts.map((p) => p.id));
    await this.run((p) => {
      for (const put of puts) {
        p.jlStateSettle(this.valueKey(put.id), this.fenceKey(put.id), put.version, put.encoded, this.options.ttlMs, fencedSet.has(put.id) ? '1' : '0');
      }
      for (const id of fenced) if (!committed.has(id)) p.jlStateSettle(this.valueKey(id), this.fenceKey(id), 0, '', this.options.ttlMs, '1');
      p.publish(channel, notice);
    });
  }

  /** Removes held values (after writes whose settling failed while Redis was away): one round trip. */
  async drop(ids: readonly string[], channel: string, notice: string): Promise<void> {
    await this.run((p) => {
      for (const id of ids) p.del(this.valueKey(id));
      p.publish(channel, notice);
    });
  }

  async publish(channel: string, notice: string): Promise<void> {
    await withTimeout(this.redis.publish(channel, notice), this.options.timeoutMs, 'publishing a state notice');
  }

  /** Entries held and their bytes (key + value lengths), by scanning the tier's keys: for statistics, not hot paths. */
  async measure(): Promise<{ entries: number; bytes: number }> {
    let entries = 0;
    let bytes = 0;
    await this.scan(async (keys) => {
      const lengths = await this.run((p) => {
        for (const key of keys) p.strlen(key);
      });
      entries += keys.length;
      keys.forEach((key, i) => (bytes += key.length + Number(lengths[i] ?? 0)));
    });
    return { entries, bytes };
  }

  /** Removes every held value (fences stay): after a database restore, for example. */
  async flush(): Promise<number> {
    let removed = 0;
    await this.scan(async (keys) => {
      removed += await this.redis.unlink(...keys);
    });
    return removed;
  }

  private async scan(each: (keys: string[]) => Promise<void>): Promise<void> {
    let cursor = '0';
    do {
      const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.options.prefix}:jobledger:state:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await each(keys);
    } while (cursor !== '0');
  }

  /** One pipeline, one round trip; any failed command fails the whole call (the caller goes to SQL). */
  private async run(build: (p: ScriptedPipeline) => void): Promise<unknown[]> {
    if (!this.up) throw new Error(`Redis is not connected (${this.redis.status})`);
    const pipeline = this.redis.pipeline() as ScriptedPipeline;
    build(pipeline);
    const replies = await withTimeout(pipeline.exec(), this.options.timeoutMs, 'a hot state round trip');
    if (!replies) throw new Error('the hot state pipeline was discarded');
    return replies.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }
}
