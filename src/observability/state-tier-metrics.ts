/**
 * The hot state tiers' statistics (hot-state/tier-stats.ts) as metric families: counters per tier
 * (`lru`, `redis`, `sql`), the LRU's bytes, and the recent p50/p99 lookup latency per tier as gauges
 * (the tiers keep a ring of recent samples, not buckets). Typed by shape here, so that this folder
 * stays below the modules that report to it.
 */
import type { MetricFamily, Sample } from './exposition.js';

interface TierShape {
  reads: number;
  hits: number;
  p50Ms: number | null;
  p99Ms: number | null;
  bytesHeld: number | null;
  promotions: number;
  demotions: number;
  checksumFailures: number;
  invalidations: number;
  staleSkips: number;
}

/** What the metrics read from `jl.state.stats()`. */
export interface StateTierFigures {
  enabled: boolean;
  tiers: Record<'lru' | 'redis' | 'sql', TierShape>;
  sqlFallbacks: number;
  writesWithoutRedis: number;
}

const tierNames = ['lru', 'redis', 'sql'] as const;

export function stateTierFamilies(figures: StateTierFigures | undefined): MetricFamily[] {
  if (!figures?.enabled) return [];
  const perTier = (pick: (t: TierShape) => number | null, scale = 1): Sample[] =>
    tierNames.flatMap((tier) => {
      const value = pick(figures.tiers[tier]);
      return value === null ? [] : [{ labels: { tier }, value: value * scale }];
    });
  const counter = (name: string, help: string, pick: (t: TierShape) => number): MetricFamily => ({ name, help, type: 'counter', samples: perTier(pick) });
  return [
    counter('jobledger_state_tier_reads_total', 'State entry lookups in each hot tier (lru, redis, sql) by this process.', (t) => t.reads),
    counter('jobledger_state_tier_hits_total', 'Lookups a tier answered (for sql: the entry existed).', (t) => t.hits),
    counter('jobledger_state_tier_promotions_total', 'Entries put into a tier by a read from a lower one, or by a write.', (t) => t.promotions),
    counter('jobledger_state_tier_demotions_total', 'Entries a tier dropped for room or lack of use (LRU evictions; Redis entries found gone).', (t) => t.demotions),
    counter('jobledger_state_tier_checksum_failures_total', 'Held values whose checksum, key or version did not match: skipped and repaired from SQL.', (t) => t.checksumFailures),
    counter('jobledger_state_tier_invalidations_total', 'Held values dropped because their key changed.', (t) => t.invalidations),
    counter('jobledger_state_tier_stale_skips_total', 'Held values skipped as older than a version this process had seen.', (t) => t.staleSkips),
    { name: 'jobledger_state_tier_bytes', help: 'Bytes this process’s LRU holds (estimated).', type: 'gauge', samples: perTier((t) => t.bytesHeld).filter((s) => s.labels?.tier === 'lru') },
    { name: 'jobledger_state_tier_latency_p50_seconds', help: 'Median lookup time per tier, over its recent lookups.', type: 'gauge', samples: perTier((t) => t.p50Ms, 1 / 1000) },
    { name: 'jobledger_state_tier_latency_p99_seconds', help: '99th percentile lookup time per tier, over its recent lookups.', type: 'gauge', samples: perTier((t) => t.p99Ms, 1 / 1000) },
    { name: 'jobledger_state_sql_fallbacks_total', help: 'State reads that went to SQL because Redis was down or did not answer.', type: 'counter', samples: [{ value: figures.sqlFallbacks }] },
    { name: 'jobledger_state_writes_without_redis_total', help: 'State writes committed to SQL whose Redis update failed (repaired when Redis answers).', type: 'counter', samples: [{ value: figures.writesWithoutRedis }] },
  ];
}
