/**
 * The hot tiers in front of the SQL state: reads go LRU → Redis → SQL, each key to the first tier
 * that holds a verified value no older than this process has seen; what a lower tier returns is
 * promoted into the higher ones. Writes fence their keys in Redis before SQL commits and settle
 * them after (redis-tier.ts), and tell the other processes (change-notices.ts). SQL stays the
 * truth: every doubt (Redis away, a checksum that fails, a value older than a known version) ends
 * in a SQL read, counted in the statistics.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { StateEntryRow } from '../store/index.js';
import type { Redis } from '../transport/redis-connection.js';
import { ChangeSubscription, changesChannel, encodeNotice } from './change-notices.js';
import { decodeHotValue, encodeHotValue, heldRow, hotId, missingHotValue, toHotValue, type HotValue } from './hot-value.js';
import { LocalTier } from './local-tier.js';
import { RedisTier, type RedisPut } from './redis-tier.js';
import { TierStats, type HotStateStats } from './tier-stats.js';

export interface HotTiersOptions {
  prefix: string;
  lruMaxEntries: number;
  lruMaxBytes: number;
  ttlMs: number;
  leaseMs: number;
  /** A held value taken from SQL (or committed) longer ago than this is not served: SQL is read again. */
  maxAgeMs: number;
  /** Longest wait for Redis before a read or write goes on against SQL. Default 1000. */
  redisTimeoutMs?: number;
}

/** Reads rows from SQL (soft-deleted ones included), in the order asked, null where none. */
export type SqlRead = (ids: readonly string[]) => Promise<(StateEntryRow | null)[]>;

/** More writes than this waiting for Redis: on its return every held value is dropped instead. */
const maxPendingRepairs = 10_000;

export class HotTiers {
  readonly processId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  readonly stats = new TierStats();
  private readonly local: LocalTier;
  private readonly redisTier: RedisTier;
  private readonly subscription: ChangeSubscription;
  private readonly channel: string;
  /** Committed versions whose Redis settling failed: dropped from Redis once it answers again. */
  private readonly pending = new Map<string, number>();
  private pendingOverflow = false;
  private redisOk = true;
  private readonly maxAgeMs: number;
  /** Ids recently held in Redis, to tell a drop-out (TTL, eviction, flush) from a key never held. */
  private readonly seenInRedis = new LRUCache<string, true>({ max: 100_000 });

  constructor(
    private readonly data: Redis,
    subscriber: Redis,
    options: HotTiersOptions,
  ) {
    this.channel = changesChannel(options.prefix);
    this.maxAgeMs = options.maxAgeMs;
    this.local = new LocalTier({ maxEntries: options.lruMaxEntries, maxBytes: options.lruMaxBytes, leaseMs: options.leaseMs, maxAgeMs: options.maxAgeMs }, this.stats);
    this.redisTier = new RedisTier(data, { prefix: options.prefix, ttlMs: options.ttlMs, leaseMs: options.leaseMs, timeoutMs: options.redisTimeoutMs ?? 1000 });
    this.subscription = new ChangeSubscription(subscriber, this.channel, this.processId, this.local);
    data.on('ready', () => void this.repairPending());
  }

  /** The rows of `ids` (soft-deleted included, null where none), through the tiers. */
  async read(ids: readonly string[], sqlRead: SqlRead): Promise<(StateEntryRow | null)[]> {
    const { stats, local } = this;
    const out = new Array<StateEntryRow | null>(ids.length).fill(null);
    stats.lru.reads += ids.length;

    const toRedis: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const started = performance.now();
      const value = local.get(ids[i]!);
      const held = value ? heldRow(value) : null;
      stats.lru.observe(performance.now() - started);
      if (held) {
        stats.lru.hits++;
        out[i] = held.row;
      } else {
        if (value) {
          stats.lru.checksumFailures++;
          local.reject(value.id);
        }
        toRedis.push(i);
      }
    }

    const { toSql, corrupt } = toRedis.length ? await this.readRedis(ids, toRedis, out) : { toSql: toRedis, corrupt: undefined };
    if (toSql.length) await this.readSql(ids, toSql, out, sqlRead, corrupt);
    for (const row of out) if (row) local.raiseFloor(hotId(row.namespace, row.key), row.version);
    return out;
  }

  /**
   * Looks the LRU's misses up in Redis (one round trip); returns the indexes SQL must read, and the
   * corrupt values found by id (repaired once SQL has given the truth).
   */
  private async readRedis(ids: readonly string[], indexes: number[], out: (StateEntryRow | null)[]): Promise<{ toSql: number[]; corrupt: Map<string, string> | undefined }> {
    const { stats, local } = this;
    let corrupt: Map<string, string> | undefined;
    if (!this.redisTier.up) {
      stats.sqlFallbacks += indexes.length;
      return { toSql: indexes, corrupt };
    }
    const started = performance.now();
    let raws: (string | null)[];
    try {
      raws = await this.redisTier.read(indexes.map((i) => ids[i]!));
      this.redisOk = true;
    } catch {
      this.redisOk = false;
      stats.sqlFallbacks += indexes.length;
      return { toSql: indexes, corrupt };
    }
    stats.redis.observe(performance.now() - started, indexes.length);
    stats.redis.reads += indexes.length;
    const toSql: number[] = [];
    const now = Date.now();
    for (let n = 0; n < indexes.length; n++) {
      const i = indexes[n]!;
      const id = ids[i]!;
      const raw = raws[n] ?? null;
      if (raw === null) {
        if (this.seenInRedis.delete(id)) stats.redis.demotions++;
        toSql.push(i);
        continue;
      }
      const value = decodeHotValue(id, raw);
      const held = value ? heldRow(value) : null;
      if (!value || !held) {
        stats.redis.checksumFailures++;
        (corrupt ??= new Map()).set(id, raw);
        toSql.push(i);
        continue;
      }
      this.seenInRedis.set(id, true);
      if (value.version < local.floor(id) || now - value.storedAt > this.maxAgeMs) {
        stats.redis.staleSkips++;
        toSql.push(i);
        continue;
      }
      stats.redis.hits++;
      out[i] = held.row;
      local.promote(value);
    }
    return { toSql, corrupt };
  }

  /**
   * Reads the rest from SQL (one statement per 200 keys), promotes what it found into both tiers:
   * rows, and the markers of keys it has no entry of. Corrupt Redis values are replaced by them.
   */
  private async readSql(ids: readonly string[], indexes: number[], out: (StateEntryRow | null)[], sqlRead: SqlRead, corrupt: ReadonlyMap<string, string> | undefined): Promise<void> {
    const { stats, local } = this;
    // What SQL returns is at least as fresh as the moment the statement was sent.
    const storedAt = Date.now();
    const started = performance.now();
    let rows = await sqlRead(indexes.map((i) => ids[i]!));
    // A write of this process committed while the statement ran: read those keys once more.
    const behind = indexes.filter((i, n) => rows[n] && rows[n].version < local.floor(ids[i]!));
    if (behind.length) {
      const again = await sqlRead(behind.map((i) => ids[i]!));
      rows = rows.map((row, n) => (behind.includes(indexes[n]!) ? again[behind.indexOf(indexes[n]!)]! : row));
    }
    stats.sql.observe(performance.now() - started, indexes.length);
    stats.sql.reads += indexes.length;
    const puts: RedisPut[] = [];
    indexes.forEach((i, n) => {
      const row = rows[n] ?? null;
      out[i] = row;
      if (row) stats.sql.hits++;
      const value = row ? toHotValue(row, storedAt) : missingHotValue(ids[i]!, storedAt);
      local.promote(value);
      const replacing = corrupt?.get(value.id);
      puts.push({ id: value.id, version: value.version, storedAt, encoded: encodeHotValue(value), ...(replacing !== undefined ? { replacing } : {}) });
    });
    if (!this.redisTier.up) return;
    try {
      stats.redis.promotions += await this.redisTier.put(puts);
      for (const put of puts) this.seenInRedis.set(put.id, true);
    } catch {
      this.redisOk = false;
    }
  }

  /**
   * Before a write: fences `ids` in Redis (one round trip) and announces it. Returns the ids fenced
   * (none when Redis did not answer: the write goes on against SQL, and is repaired later).
   */
  async fence(ids: readonly string[]): Promise<string[]> {
    for (const id of ids) this.local.invalidate(id);
    if (ids.length === 0 || !this.redisTier.up) return [];
    try {
      await this.redisTier.fence(ids, this.channel, encodeNotice({ t: 'fence', p: this.processId, ids: [...ids] }));
      this.redisOk = true;
      return [...ids];
    } catch {
      this.redisOk = false;
      return [];
    }
  }

  /** After a write committed `entries` (none if it failed): settles the fences, updates both tiers, tells the others. */
  async settle(fenced: readonly string[], entries: readonly StateEntryRow[]): Promise<void> {
    // The last entry of a key is its newest (a batch may change a key twice).
    const newest = new Map<string, HotValue>();
    const committedAt = Date.now();
    for (const entry of entries) {
      const value = toHotValue(entry, committedAt);
      if ((newest.get(value.id)?.version ?? 0) < value.version) newest.set(value.id, value);
    }
    for (const value of newest.values()) {
      this.local.raiseFloor(value.id, value.version);
      this.local.invalidate(value.id);
      this.local.promote(value, true);
    }
    if (newest.size === 0 && fenced.length === 0) return;
    const puts = [...newest.values()].map((v): RedisPut => ({ id: v.id, version: v.version, storedAt: v.storedAt, encoded: encodeHotValue(v) }));
    const settled: [string, number][] = [...puts.map((p): [string, number] => [p.id, p.version]), ...fenced.filter((id) => !newest.has(id)).map((id): [string, number] => [id, 0])];
    try {
      if (!this.redisTier.up) throw new Error('Redis is not connected');
      await this.redisTier.settle(fenced, puts, this.channel, encodeNotice({ t: 'settle', p: this.processId, ids: settled }));
      this.stats.redis.promotions += puts.length;
      for (const put of puts) this.seenInRedis.set(put.id, true);
      this.redisOk = true;
    } catch {
      this.redisOk = false;
      this.stats.writesWithoutRedis++;
      for (const put of puts) this.pending.set(put.id, put.version);
      if (this.pending.size > maxPendingRepairs) {
        this.pendingOverflow = true;
        this.pending.clear();
      }
    }
  }

  /** Redis answers again: drops what writes made while it was away left behind, and tells the others. */
  private async repairPending(): Promise<void> {
    if (this.pending.size === 0 && !this.pendingOverflow) return;
    const entries = [...this.pending];
    try {
      if (this.pendingOverflow) {
        await this.redisTier.flush();
        await this.redisTier.publish(this.channel, encodeNotice({ t: 'flush', p: this.processId }));
        this.pendingOverflow = false;
      } else {
        await this.redisTier.drop(entries.map(([id]) => id), this.channel, encodeNotice({ t: 'settle', p: this.processId, ids: entries }));
      }
      for (const [id, version] of entries) if (this.pending.get(id) === version) this.pending.delete(id);
      this.redisOk = true;
    } catch {
      // Still away: the next 'ready' tries again.
    }
  }

  /** Drops every held value, in Redis and in every process's LRU (after a database restore, for example). */
  async flush(): Promise<number> {
    this.local.clear();
    const removed = await this.redisTier.flush();
    await this.redisTier.publish(this.channel, encodeNotice({ t: 'flush', p: this.processId }));
    return removed;
  }

  /** This process's figures; with `measureRedis`, also what the Redis tier holds (a SCAN of its keys). */
  async figures(measureRedis = false): Promise<HotStateStats> {
    let redis: { entries: number; bytes: number } | null = null;
    if (measureRedis && this.redisTier.up) redis = await this.redisTier.measure().catch(() => null);
    const s = this.stats;
    return {
      enabled: true,
      processId: this.processId,
      takenAt: Date.now(),
      reads: s.lru.reads,
      tiers: {
        lru: s.lru.figures(this.local.bytesHeld, this.local.entries),
        redis: s.redis.figures(redis?.bytes ?? null, redis?.entries ?? null),
        sql: s.sql.figures(null, null),
      },
      sqlFallbacks: s.sqlFallbacks,
      writesWithoutRedis: s.writesWithoutRedis,
      pendingRepairs: this.pending.size,
      lruServing: this.local.isServing,
      redisUp: this.redisOk && this.redisTier.up,
    };
  }

  close(): void {
    this.subscription.close();
  }
}
