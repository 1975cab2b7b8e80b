/**
 * `jl.state`: the StateStore (SQL, the truth) with the hot tiers in front (hot-tiers.ts). Reads of
 * entries (`get`, `find`, `getMany`) go through the tiers; every write (`set`, `updateStatus`,
 * `delete`, `setMany`, `deleteMany`, `restoreSnapshot`) fences its keys, commits to SQL as before,
 * then settles the tiers. Lists, history and snapshots read SQL, as they always did. With the tiers
 * off (`JOBLEDGER_STATE_HOT=false`) it is the plain StateStore, with statistics saying so.
 */
import { NotFoundError, RedisUnavailableError } from '../errors.js';
import { readyWithin } from '../transport/prefix-claim.js';
import {
  StateStore,
  parseStateSubjectId,
  validateRef,
  type AuditSource,
  type Ledger,
  type ReadStateOptions,
  type RestoreOptions,
  type StateEntryRow,
  type StateLimits,
  type StateOp,
  type StateRef,
  type StateWriteOptions,
} from '../store/index.js';
import { closeRedis, createRedis, type Redis, type RedisTarget } from '../transport/redis-connection.js';
import type { RedisErrorLog } from '../transport/redis-errors.js';
import { hotId } from './hot-value.js';
import { HotTiers } from './hot-tiers.js';
import { sumStats, type HotStateStats } from './tier-stats.js';
import { StatsPublisher, readPublishedStats } from './stats-publisher.js';
import type { StateHotConfig } from '../config.js';

/** What every process with the tiers on has published, summed, and what Redis holds (`jobledger state stats`). */
export interface PublishedHotStateStats {
  /** Each process's latest figures (published every `statsIntervalMs`), newest first. */
  processes: HotStateStats[];
  /** Their counters summed; percentiles are the worst process's. */
  total: ReturnType<typeof sumStats>;
  /** Entries and bytes the Redis tier holds now (null when Redis did not answer or the tiers are off). */
  redis: { entries: number; bytes: number } | null;
}

/** The hot tiers' settings: the configuration's (config-state-hot.ts, docs/configuration.md). */
export type StateHotSettings = StateHotConfig;

export interface TieredStateStoreOptions {
  /** The configured Redis (a URL, or the Config with its cluster nodes). */
  redis: RedisTarget;
  redisPrefix: string;
  settings: StateHotSettings;
  redisErrors?: RedisErrorLog;
}

export class TieredStateStore extends StateStore {
  private readonly tiers: HotTiers | undefined;
  private readonly connections: Redis[] = [];
  private readonly publisher: StatsPublisher | undefined;
  private readonly statsMaxAgeMs: number;
  private readonly prefix: string;
  private readonly redisUrl: string;
  /** What the tiers read from SQL: rows by `namespace/key`, soft-deleted ones included. */
  private readonly sqlRead = (ids: readonly string[]): Promise<(StateEntryRow | null)[]> => super.getMany(ids.map(refOf), { includeDeleted: true });

  constructor(ledger: Ledger, limits: StateLimits, options: TieredStateStoreOptions) {
    super(ledger, limits);
    const { settings } = options;
    this.prefix = options.redisPrefix;
    this.redisUrl = typeof options.redis === 'string' ? options.redis : options.redis.redisUrl;
    this.statsMaxAgeMs = 3 * (settings.statsIntervalMs || 5000) + 1000;
    if (!settings.enabled) return;
    const data = createRedis(options.redis, 'producer');
    const subscriber = createRedis(options.redis, 'subscriber');
    options.redisErrors?.watch(data, 'hot state');
    options.redisErrors?.watch(subscriber, 'hot state notices');
    if (!options.redisErrors) for (const c of [data, subscriber]) c.on('error', () => undefined);
    this.connections.push(data, subscriber);
    this.tiers = new HotTiers(data, subscriber, {
      prefix: options.redisPrefix,
      lruMaxEntries: settings.lruMaxEntries,
      lruMaxBytes: settings.lruMaxBytes,
      ttlMs: settings.ttlSeconds * 1000,
      leaseMs: settings.writeLeaseMs,
      maxAgeMs: settings.maxAgeMs,
    });
    if (settings.statsIntervalMs > 0) {
      this.publisher = new StatsPublisher(data, options.redisPrefix, this.tiers.processId, settings.statsIntervalMs, () => this.stats());
    }
  }

  override async get(namespace: string, key: string, options: ReadStateOptions = {}): Promise<StateEntryRow> {
    const entry = await this.find(namespace, key, options);
    if (!entry) throw new NotFoundError('state entry', hotId(namespace, key));
    return entry;
  }

  override async find(namespace: string, key: string, options: ReadStateOptions = {}): Promise<StateEntryRow | null> {
    if (!this.tiers) return super.find(namespace, key, options);
    const ref = validateRef(namespace, key);
    const [row] = await this.tiers.read([hotId(ref.namespace, ref.key)], this.sqlRead);
    return row && (row.deletedAt === null || options.includeDeleted) ? row : null;
  }

  /** Many entries at once, in the order asked, null where none: the LRU, then one Redis round trip, then one SQL statement (per 200 keys). */
  override async getMany(refs: readonly StateRef[], options: ReadStateOptions = {}): Promise<(StateEntryRow | null)[]> {
    if (!this.tiers) return super.getMany(refs, options);
    const ids = refs.map((r) => {
      const ref = validateRef(r.namespace, r.key);
      return hotId(ref.namespace, ref.key);
    });
    const rows = await this.tiers.read(ids, this.sqlRead);
    return rows.map((row) => (row && (row.deletedAt === null || options.includeDeleted) ? row : null));
  }

  override async restoreSnapshot(snapshotId: string, options: RestoreOptions & Pick<StateWriteOptions, 'actor' | 'source'> = {}): Promise<StateEntryRow> {
    if (!this.tiers) return super.restoreSnapshot(snapshotId, options);
    const snapshot = await this.getSnapshot(snapshotId);
    const ref = snapshot.subjectType === 'state' ? parseStateSubjectId(snapshot.subjectId) : null;
    const [entry] = await this.fenced(ref ? [hotId(ref.namespace, ref.key)] : [], async () => [await super.restoreSnapshot(snapshotId, options)]);
    return entry!;
  }

  /** Every write of this store (validated already): fenced, committed to SQL, then settled. */
  protected override async commitOps(valid: readonly StateOp[], by: { actor: string; source: AuditSource }): Promise<StateEntryRow[]> {
    if (!this.tiers) return super.commitOps(valid, by);
    const ids = [...new Set(valid.map((op) => hotId(op.namespace, op.key)))];
    return this.fenced(ids, () => super.commitOps(valid, by));
  }

  /**
   * For writes committed elsewhere (a handler's buffered writes, applied with its attempt's outcome):
   * fences `refs` before the commit; pass what it returns to `settleWrites` after it.
   */
  async fenceWrites(refs: readonly StateRef[]): Promise<string[]> {
    return this.tiers ? this.tiers.fence([...new Set(refs.map((r) => hotId(r.namespace, r.key)))]) : [];
  }

  /** After such a commit: `entries` as committed (none when it did not commit). */
  async settleWrites(fenced: readonly string[], entries: readonly StateEntryRow[]): Promise<void> {
    await this.tiers?.settle(fenced, entries);
  }

  /**
   * This process's statistics per tier (tier-stats.ts). `measureRedis`: also count the entries and
   * bytes the Redis tier holds, with a SCAN of its keys (slow with many keys).
   */
  async stats(options: { measureRedis?: boolean } = {}): Promise<HotStateStats> {
    if (!this.tiers) return disabledStats();
    return this.tiers.figures(options.measureRedis ?? false);
  }

  /**
   * The figures every process with the tiers on published (a process publishes every
   * `JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS` once it has read state, and removes them when it
   * closes), and what the Redis tier holds now. Figures older than three intervals are skipped.
   */
  async publishedStats(): Promise<PublishedHotStateStats> {
    if (!this.tiers) return { processes: [], total: sumStats([]), redis: null };
    const data = await this.connected();
    const processes = await readPublishedStats(data, this.prefix, this.statsMaxAgeMs);
    const own = await this.tiers.figures(true);
    return { processes, total: sumStats(processes), redis: own.tiers.redis.entries === null ? null : { entries: own.tiers.redis.entries, bytes: own.tiers.redis.bytesHeld ?? 0 } };
  }

  /**
   * Drops every held value, in Redis and in every process's LRU; they refill from SQL as they are
   * read. Needed after the database was replaced underneath (a backup restored). Returns the Redis
   * entries removed.
   */
  async flushHot(): Promise<number> {
    if (!this.tiers) return 0;
    await this.connected();
    return this.tiers.flush();
  }

  /** The data connection once ready (a fresh process, the CLI, has just opened it); `RedisUnavailableError` after 5 s. */
  private async connected(): Promise<Redis> {
    const data = this.connections[0]!;
    if (!(await readyWithin(data, 5000))) throw new RedisUnavailableError(this.redisUrl, new Error(`the connection is ${data.status}`));
    return data;
  }

  async close(): Promise<void> {
    await this.publisher?.close();
    this.tiers?.close();
    await Promise.all(this.connections.map((c) => closeRedis(c)));
  }

  private async fenced(ids: readonly string[], write: () => Promise<StateEntryRow[]>): Promise<StateEntryRow[]> {
    const tiers = this.tiers!;
    const fenced = await tiers.fence(ids);
    let entries: StateEntryRow[];
    try {
      entries = await write();
    } catch (error) {
      await tiers.settle(fenced, []);
      throw error;
    }
    await tiers.settle(fenced, entries);
    return entries;
  }
}

function refOf(id: string): StateRef {
  const at = id.indexOf('/');
  return { namespace: id.slice(0, at), key: id.slice(at + 1) };
}

function disabledStats(): HotStateStats {
  const none = { reads: 0, hits: 0, misses: 0, hitRatio: 0, p50Ms: null, p99Ms: null, bytesHeld: null, entries: null, promotions: 0, demotions: 0, checksumFailures: 0, invalidations: 0, staleSkips: 0 };
  return {
    enabled: false,
    processId: `${process.pid}`,
    takenAt: Date.now(),
    reads: 0,
    tiers: { lru: { ...none }, redis: { ...none }, sql: { ...none } },
    sqlFallbacks: 0,
    writesWithoutRedis: 0,
    pendingRepairs: 0,
    lruServing: false,
    redisUp: false,
  };
}
