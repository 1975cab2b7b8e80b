/**
 * Statistics of the hot state tiers, per process: per tier its reads, hits, misses, latency
 * percentiles, bytes held, promotions, demotions, checksum failures and invalidations; for SQL its
 * reads and how many of them ran because Redis could not be used. Latencies are kept as the last
 * `latencySamples` per tier (a ring buffer), so percentiles follow recent behaviour and cost no
 * memory growth.
 */

export type TierName = 'lru' | 'redis' | 'sql';

/** One tier's figures. For every tier, `hits + misses === reads`. */
export interface TierFigures {
  /** Keys looked up in this tier. */
  reads: number;
  hits: number;
  misses: number;
  /** hits / reads, 0 when there were no reads. */
  hitRatio: number;
  /** Median and 99th percentile of a lookup's time in this tier, milliseconds (recent samples). */
  p50Ms: number | null;
  p99Ms: number | null;
  /** Bytes this tier holds: the LRU's own estimate; for Redis, what `stats({ redisBytes: true })` found. */
  bytesHeld: number | null;
  /** Entries the tier holds (LRU: this process's; Redis: all processes', when counted). */
  entries: number | null;
  /** Entries put into this tier by a read from a lower tier, or by a write. */
  promotions: number;
  /** Entries this tier dropped for lack of room or of use (LRU: evicted; Redis: found expired). */
  demotions: number;
  /** Held values whose checksum, key or version did not match: counted, skipped, repaired from SQL. */
  checksumFailures: number;
  /** Held values dropped because the key changed (a write here, or a notice from another process). */
  invalidations: number;
  /** Held values skipped because they were older than a version this process had already seen. */
  staleSkips: number;
}

export interface HotStateStats {
  /** Whether the hot tiers are in use (`JOBLEDGER_STATE_HOT`). */
  enabled: boolean;
  /** Identifies this process among those publishing statistics. */
  processId: string;
  /** When these figures were taken (ms since the epoch). */
  takenAt: number;
  /** Keys read through the tiers (`getMany` of n keys counts n). Equal to `tiers.lru.reads`. */
  reads: number;
  tiers: Record<TierName, TierFigures>;
  /** SQL reads made because Redis was down or did not answer (they are also in `tiers.sql.reads`). */
  sqlFallbacks: number;
  /** Writes committed to SQL whose Redis fence or update failed (Redis away): counted, repaired once it answers. */
  writesWithoutRedis: number;
  /** Of those, keys still waiting for Redis to come back. */
  pendingRepairs: number;
  /** Whether the LRU is serving (false while the invalidation channel is not subscribed). */
  lruServing: boolean;
  /** Whether the last Redis operation succeeded. */
  redisUp: boolean;
}

const latencySamples = 2048;

class TierCounters {
  reads = 0;
  hits = 0;
  promotions = 0;
  demotions = 0;
  checksumFailures = 0;
  invalidations = 0;
  staleSkips = 0;
  private readonly samples = new Float64Array(latencySamples);
  private sampled = 0;

  /** `count` lookups that took `ms` together (a batch's lookups share its time). */
  observe(ms: number, count = 1): void {
    for (let i = 0; i < count; i++) this.samples[this.sampled++ % latencySamples] = ms;
  }

  figures(bytesHeld: number | null, entries: number | null): TierFigures {
    const n = Math.min(this.sampled, latencySamples);
    const sorted = Array.from(this.samples.subarray(0, n)).sort((a, b) => a - b);
    const at = (q: number): number | null => (n === 0 ? null : round(sorted[Math.min(n - 1, Math.floor(q * n))]!));
    return {
      reads: this.reads,
      hits: this.hits,
      misses: this.reads - this.hits,
      hitRatio: this.reads === 0 ? 0 : round(this.hits / this.reads),
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      bytesHeld,
      entries,
      promotions: this.promotions,
      demotions: this.demotions,
      checksumFailures: this.checksumFailures,
      invalidations: this.invalidations,
      staleSkips: this.staleSkips,
    };
  }
}

export class TierStats {
  readonly lru = new TierCounters();
  readonly redis = new TierCounters();
  readonly sql = new TierCounters();
  sqlFallbacks = 0;
  writesWithoutRedis = 0;
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

/** Figures of many processes summed: counters add up; percentiles are the worst process's (an upper bound). */
export function sumStats(all: readonly HotStateStats[]): Omit<HotStateStats, 'processId' | 'takenAt' | 'lruServing' | 'redisUp'> & { processes: number } {
  const tiers = {} as Record<TierName, TierFigures>;
  for (const name of ['lru', 'redis', 'sql'] as const) {
    const each = all.map((s) => s.tiers[name]);
    const sum = (pick: (t: TierFigures) => number | null): number => each.reduce((n, t) => n + (pick(t) ?? 0), 0);
    const worst = (pick: (t: TierFigures) => number | null): number | null =>
      each.reduce<number | null>((m, t) => (pick(t) === null ? m : Math.max(m ?? 0, pick(t)!)), null);
    const reads = sum((t) => t.reads);
    const hits = sum((t) => t.hits);
    tiers[name] = {
      reads,
      hits,
      misses: reads - hits,
      hitRatio: reads === 0 ? 0 : round(hits / reads),
      p50Ms: worst((t) => t.p50Ms),
      p99Ms: worst((t) => t.p99Ms),
      bytesHeld: name === 'redis' ? worst((t) => t.bytesHeld) : sum((t) => t.bytesHeld),
      entries: name === 'redis' ? worst((t) => t.entries) : sum((t) => t.entries),
      promotions: sum((t) => t.promotions),
      demotions: sum((t) => t.demotions),
      checksumFailures: sum((t) => t.checksumFailures),
      invalidations: sum((t) => t.invalidations),
      staleSkips: sum((t) => t.staleSkips),
    };
  }
  return {
    enabled: all.some((s) => s.enabled),
    processes: all.length,
    reads: all.reduce((n, s) => n + s.reads, 0),
    tiers,
    sqlFallbacks: all.reduce((n, s) => n + s.sqlFallbacks, 0),
    writesWithoutRedis: all.reduce((n, s) => n + s.writesWithoutRedis, 0),
    pendingRepairs: all.reduce((n, s) => n + s.pendingRepairs, 0),
  };
}
