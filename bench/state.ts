/**
 * The hot state tiers' bench (`npm run bench:state`, docs/performance.md#hot-state-tiers): on SQLite
 * and PostgreSQL, with the local Redis, p50/p99 of one `jl.state.get` served by the LRU, by Redis
 * (a process whose LRU holds one entry) and by SQL (the tiers off); the time until another
 * process's LRU sees a write (the invalidation delay); and the throughput of a Zipf-distributed
 * read/write mix (90% reads) with the tiers on and off; and the wall time of one `setMany` of every
 * key (`--keys`, 1000 by default).
 *
 *   node dist/bench/state.js [--keys 1000] [--samples 3000] [--seconds 5] [--concurrency 16] [--backends sqlite,postgres]
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { JobLedger } from '../src/jobledger.js';
import { preparePlace, runPendingCleanups, serverVersions, type RunPlace } from './services.js';
import { percentile } from './stats.js';

const { values: args } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000' },
    samples: { type: 'string', default: '3000' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '16' },
    backends: { type: 'string', default: 'sqlite,postgres' },
  },
});
const keys = Number(args.keys);
const samples = Number(args.samples);
const mixMs = Number(args.seconds) * 1000;
const concurrency = Number(args.concurrency);
const redisUrl = process.env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
const postgresAdminUrl = process.env.BENCH_POSTGRES_URL?.trim() || 'postgres://postgres@127.0.0.1:5432/postgres';

interface Latency {
  p50Ms: number;
  p99Ms: number;
}

async function timeEach(count: number, op: (i: number) => Promise<unknown>): Promise<Latency> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    await op(i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50Ms: round(percentile(times, 0.5)), p99Ms: round(percentile(times, 0.99)) };
}

/** Zipf(s = 1) over `n` ranks: key 0 is read about twice as often as key 1, and so on. */
function zipf(n: number): () => number {
  const cumulative: number[] = [];
  let total = 0;
  for (let k = 1; k <= n; k++) cumulative.push((total += 1 / k));
  return () => {
    const u = Math.random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

async function mix(jl: JobLedger): Promise<number> {
  const pick = zipf(keys);
  let ops = 0;
  const end = performance.now() + mixMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const key = `k${pick()}`;
        if (Math.random() < 0.1) await jl.state.set('bench', key, { payload: 'x'.repeat(200), at: Date.now() });
        else await jl.state.get('bench', key);
        ops++;
      }
    }),
  );
  return Math.round(ops / (mixMs / 1000));
}

/** Wall time of a `setMany` of every key (all exist: each is an update), `rounds` times: one transaction each. */
async function batchWrite(jl: JobLedger, rounds: number): Promise<{ medianMs: number; keys: number }> {
  const times: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const items = Array.from({ length: keys }, (_, i) => ({ namespace: 'bench', key: `k${i}`, data: { payload: 'x'.repeat(200), i, round } }));
    const started = performance.now();
    await jl.state.setMany(items);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { medianMs: round(times[Math.floor(times.length / 2)]!), keys };
}

/** Writes in `writer`, then polls `reader` until it returns the new version: how long another process serves the old one. */
async function invalidationDelay(writer: JobLedger, reader: JobLedger, rounds: number): Promise<Latency & { maxMs: number }> {
  const times: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await reader.state.get('bench', 'k0');
    const { version } = await writer.state.set('bench', 'k0', { round: i });
    const written = performance.now();
    while ((await reader.state.get('bench', 'k0')).version < version) await new Promise((resolve) => setImmediate(resolve));
    times.push(performance.now() - written);
  }
  times.sort((a, b) => a - b);
  return { p50Ms: round(percentile(times, 0.5)), p99Ms: round(percentile(times, 0.99)), maxMs: round(times[times.length - 1]!) };
}

async function runBackend(backend: 'sqlite' | 'postgres'): Promise<Record<string, unknown>> {
  const place: RunPlace = await preparePlace(backend, redisUrl, postgresAdminUrl);
  const base = { DATABASE_URL: place.databaseUrl!, REDIS_URL: redisUrl, JOBLEDGER_REDIS_PREFIX: place.redisPrefix, LOG_LEVEL: 'silent', JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS: '0' } as const;
  const open = (extra: Record<string, string> = {}, migrate = false) => JobLedger.open({ jobs: [], config: loadConfig({}, { ...base, ...extra }), migrate, relay: false });
  const on = await open({}, true);
  const off = await open({ JOBLEDGER_STATE_HOT: 'false' });
  const redisOnly = await open({ JOBLEDGER_STATE_HOT_LRU_MAX_ENTRIES: '1' });
  const peer = await open();
  try {
    for (const jl of [on, redisOnly, peer]) while (!(await jl.state.stats()).lruServing) await new Promise((resolve) => setTimeout(resolve, 10));
    for (let start = 0; start < keys; start += 500) {
      const n = Math.min(500, keys - start);
      await on.state.setMany(Array.from({ length: n }, (_, i) => ({ namespace: 'bench', key: `k${start + i}`, data: { payload: 'x'.repeat(200), i: start + i } })));
    }
    const random = (): string => `k${Math.floor(Math.random() * keys)}`;
    // Warm-up of each path, then the measured samples.
    await timeEach(200, () => off.state.get('bench', random()));
    const sql = await timeEach(samples, () => off.state.get('bench', random()));
    await on.state.getMany(Array.from({ length: keys }, (_, i) => ({ namespace: 'bench', key: `k${i}` })));
    const lru = await timeEach(samples, () => on.state.get('bench', random()));
    await timeEach(200, () => redisOnly.state.get('bench', random()));
    const redis = await timeEach(samples, () => redisOnly.state.get('bench', random()));
    const redisStats = (await redisOnly.state.stats()).tiers;
    const lruStats = (await on.state.stats()).tiers;
    const delay = await invalidationDelay(on, peer, 50);
    const setMany = await batchWrite(on, 3);
    const mixOn = await mix(on);
    const mixOff = await mix(off);
    const onStats = await on.state.stats();
    return {
      backend,
      readLatency: { lru, redis, sql },
      speedup: { lruVsSql: round(sql.p50Ms / lru.p50Ms), redisVsSql: round(sql.p50Ms / redis.p50Ms) },
      tierHitRatios: { lruInLruRun: lruStats.lru.hitRatio, redisInRedisRun: redisStats.redis.hitRatio },
      invalidationDelay: delay,
      setManyAllKeys: setMany,
      zipfMix: { opsPerSecondTiersOn: mixOn, opsPerSecondTiersOff: mixOff, ratio: round(mixOn / mixOff), lruHitRatio: onStats.tiers.lru.hitRatio },
    };
  } finally {
    await Promise.all([on.close(), off.close(), redisOnly.close(), peer.close()]);
    await place.dispose();
  }
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

async function main(): Promise<void> {
  const wanted = args.backends.split(',').map((b) => b.trim()) as ('sqlite' | 'postgres')[];
  const results = [];
  for (const backend of wanted) results.push(await runBackend(backend));
  const setup = { keys, samples, mixSeconds: mixMs / 1000, concurrency, valueBytes: 'about 260 (200-character payload)', readWriteMix: '90% get / 10% set, Zipf s=1', ...(await serverVersions(redisUrl, wanted.includes('postgres') ? postgresAdminUrl : undefined)) };
  process.stdout.write(`${JSON.stringify({ setup, results }, null, 2)}\n`);
}

main().catch(async (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  await runPendingCleanups();
  process.exit(1);
});
