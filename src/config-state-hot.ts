/** The settings of the hot tiers in front of keyed state (docs/pipelines-and-state.md#hot-tiers). */
import { parseBoolean, parseInteger } from './config-values.js';

export interface StateHotConfig {
  /** Reads of state entries go through an in-process LRU and Redis, SQL staying the truth. Env `JOBLEDGER_STATE_HOT`; default true. */
  enabled: boolean;
  /** Entries the LRU of each process holds at most. Env `JOBLEDGER_STATE_HOT_LRU_MAX_ENTRIES`; default 10000. */
  lruMaxEntries: number;
  /** Bytes (estimated) the LRU of each process holds at most. Env `JOBLEDGER_STATE_HOT_LRU_MAX_BYTES`; default 67108864 (64 MiB). */
  lruMaxBytes: number;
  /** A Redis entry nobody reads for this long drops out (every read renews it). Env `JOBLEDGER_STATE_HOT_TTL_SECONDS`; default 600. */
  ttlSeconds: number;
  /** How long a writer's fence on a key lasts if the writer dies before lifting it. Env `JOBLEDGER_STATE_HOT_WRITE_LEASE_MS`; default 5000. */
  writeLeaseMs: number;
  /** A held value taken from SQL longer ago than this is read from SQL again. Env `JOBLEDGER_STATE_HOT_MAX_AGE_MS`; default 30000. */
  maxAgeMs: number;
  /** How often a process publishes its tier statistics for `jobledger state stats`; 0: never. Env `JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS`; default 5000. */
  statsIntervalMs: number;
}

export const stateHotDefaults = {
  JOBLEDGER_STATE_HOT: 'true',
  JOBLEDGER_STATE_HOT_LRU_MAX_ENTRIES: '10000',
  JOBLEDGER_STATE_HOT_LRU_MAX_BYTES: String(64 * 1024 * 1024),
  JOBLEDGER_STATE_HOT_TTL_SECONDS: '600',
  JOBLEDGER_STATE_HOT_WRITE_LEASE_MS: '5000',
  JOBLEDGER_STATE_HOT_MAX_AGE_MS: '30000',
  JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS: '5000',
} as const;

export function parseStateHot(read: (name: keyof typeof stateHotDefaults) => string): StateHotConfig {
  const int = (name: keyof typeof stateHotDefaults, min: number, max?: number): number => parseInteger(name, read(name), min, max);
  return Object.freeze({
    enabled: parseBoolean('JOBLEDGER_STATE_HOT', read('JOBLEDGER_STATE_HOT')),
    lruMaxEntries: int('JOBLEDGER_STATE_HOT_LRU_MAX_ENTRIES', 1),
    lruMaxBytes: int('JOBLEDGER_STATE_HOT_LRU_MAX_BYTES', 1024),
    ttlSeconds: int('JOBLEDGER_STATE_HOT_TTL_SECONDS', 1, 30 * 24 * 3600),
    writeLeaseMs: int('JOBLEDGER_STATE_HOT_WRITE_LEASE_MS', 100, 600_000),
    maxAgeMs: int('JOBLEDGER_STATE_HOT_MAX_AGE_MS', 100, 86_400_000),
    statsIntervalMs: int('JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS', 0),
  });
}
