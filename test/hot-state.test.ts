/**
 * The hot state tiers in one process, on both backends with real Redis: reads served by the LRU,
 * Redis and SQL with statistics that add up; change notices between two JobLedgers (each its own
 * LRU and subscription); a corrupt Redis value detected, counted and repaired; a batch with version
 * conflicts rejected whole, naming each key; and a Redis of the test's own (a child redis-server on
 * a free port, since the shared one serves other tests) killed and restarted mid-run.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { BatchVersionConflictError, VersionConflictError } from '../src/errors.js';
import { JobLedger } from '../src/jobledger.js';
import { decodeHotValue } from '../src/hot-state/hot-value.js';
import type { HotStateStats } from '../src/hot-state/tier-stats.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';
import { runCli } from './support/cli-run.js';

function valueKey(jl: JobLedger, id: string): string {
  return `${jl.config.redisPrefix}:jobledger:state:${id}`;
}

function openClient(url: string): Redis & { close(): Promise<void> } {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return track(Object.assign(client, { close: () => client.quit().then(() => undefined) }), 'test Redis client');
}

/** A second JobLedger on the same database and prefix: its own LRU and subscription, as another process has. */
async function openPeer(jl: JobLedger): Promise<JobLedger> {
  return track(await JobLedger.open({ jobs: [], config: jl.config, relay: false }), 'peer JobLedger');
}

function expectStatsAddUp(stats: HotStateStats, reads: number): void {
  expect(stats.reads).toBe(reads);
  expect(stats.tiers.lru.reads).toBe(reads);
  for (const tier of ['lru', 'redis', 'sql'] as const) expect(stats.tiers[tier].hits + stats.tiers[tier].misses).toBe(stats.tiers[tier].reads);
  // Every LRU miss went on to Redis, or straight to SQL when Redis was away.
  expect(stats.tiers.redis.reads + stats.sqlFallbacks).toBe(stats.tiers.lru.misses);
}

async function serving(jl: JobLedger): Promise<void> {
  await waitFor(async () => ((await jl.state.stats()).lruServing ? true : undefined), 'the change notices to be subscribed');
}

describe.each(backends)('hot state tiers on %s', (dialect) => {
  it('reads from the LRU, Redis and SQL, invalidates peers on writes, and its statistics add up', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const peer = await openPeer(jl);
    await serving(jl);
    await serving(peer);
    const written = await jl.state.set('cfg', 'a', { limit: 1 });

    // The peer: its LRU is empty, Redis has what the write stored, then its LRU has it.
    expect(await peer.state.get('cfg', 'a')).toEqual(written);
    expect(await peer.state.get('cfg', 'a')).toEqual(written);
    expect(await peer.state.find('cfg', 'absent')).toBeNull();
    let stats = await peer.state.stats();
    expectStatsAddUp(stats, 3);
    expect(stats.tiers.lru.hits).toBe(1);
    expect(stats.tiers.redis.hits).toBe(1);
    expect(stats.tiers.sql.reads).toBe(1);
    expect(stats.tiers.sql.hits).toBe(0);

    // A write in one process: the other's LRU drops its copy on the notice and reads the new version.
    await jl.state.set('cfg', 'a', { limit: 2 }, { expectedVersion: 1 });
    const seen = await waitFor(async () => {
      const entry = await peer.state.get('cfg', 'a');
      return entry.version === 2 ? entry : undefined;
    }, 'the peer to see version 2');
    expect(seen.data).toEqual({ limit: 2 });
    stats = await peer.state.stats();
    expect(stats.tiers.lru.invalidations).toBeGreaterThanOrEqual(1);
    expectStatsAddUp(stats, stats.reads);

    // Batch reads: in order, null where none, soft-deleted ones only when asked.
    await jl.state.setMany([{ namespace: 'cfg', key: 'b', data: 'b' }, { namespace: 'cfg', key: 'c', data: 'c' }]);
    await jl.state.delete('cfg', 'c');
    const many = await peer.state.getMany([{ namespace: 'cfg', key: 'c' }, { namespace: 'cfg', key: 'nope' }, { namespace: 'cfg', key: 'b' }, { namespace: 'cfg', key: 'a' }]);
    expect(many.map((e) => e?.data ?? null)).toEqual([null, null, 'b', { limit: 2 }]);
    expect((await peer.state.getMany([{ namespace: 'cfg', key: 'c' }], { includeDeleted: true }))[0]).toMatchObject({ version: 2 });
    expectStatsAddUp(await peer.state.stats(), (await peer.state.stats()).reads);

    // What processes published for `jobledger state stats`.
    const published = await peer.state.publishedStats();
    expect(published.redis?.entries).toBeGreaterThanOrEqual(3);
    await peer.close();
    await jl.close();
  });

  it('publishes its statistics for `jobledger state stats`, exports them as metrics, and flushes the tiers from the CLI', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [], env: { JOBLEDGER_STATE_HOT_STATS_INTERVAL_MS: '100' } });
    await serving(jl);
    await jl.state.set('cfg', 'm', { on: true });
    for (let i = 0; i < 3; i++) await jl.state.get('cfg', 'm');
    const metrics = await jl.metrics();
    expect(metrics).toContain('jobledger_state_tier_reads_total{tier="lru"} 3');
    expect(metrics).toContain('jobledger_state_tier_hits_total{tier="lru"} 3');
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: jl.config.database.url, REDIS_URL: jl.config.redisUrl, JOBLEDGER_REDIS_PREFIX: jl.config.redisPrefix, LOG_LEVEL: 'silent' };
    const shown = await waitFor(async () => {
      const result = await runCli(['state', 'stats', '--json'], env);
      expect(result.code, result.stderr).toBe(0);
      const parsed = JSON.parse(result.stdout) as { processes: HotStateStats[]; total: { reads: number; tiers: HotStateStats['tiers'] }; redis: { entries: number } | null };
      return parsed.processes.length > 0 ? parsed : undefined;
    }, 'the statistics to be published');
    expect(shown.total.reads).toBe(3);
    expect(shown.total.tiers.lru.hits).toBe(3);
    expect(shown.redis?.entries).toBe(1);
    const table = await runCli(['state', 'stats'], env);
    expect(table.stdout).toMatch(/tier:\s+lru\nreads:\s+3\nhits:\s+3\n/);

    const flushed = await runCli(['state', 'flush-hot'], env);
    expect(flushed.stdout).toContain('dropped 1 Redis entries');
    // This process's LRU was told: the next read goes to Redis (now empty), then SQL.
    await waitFor(async () => ((await jl.state.stats()).tiers.lru.invalidations > 0 ? true : undefined), 'the flush notice');
    await jl.state.get('cfg', 'm');
    expect((await jl.state.stats()).tiers.sql.reads).toBe(1);
    await jl.close();
  }, 120_000);

  it('detects a corrupt Redis value, counts it, serves SQL and repairs the value', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const peer = await openPeer(jl);
    const redis = openClient(jl.config.redisUrl);
    await serving(jl);
    await serving(peer);
    await jl.state.set('cfg', 'x', { n: 1 });
    const entry = await jl.state.set('cfg', 'x', { n: 2 });
    const key = valueKey(jl, 'cfg/x');

    await redis.set(key, 'garbage');
    expect(await peer.state.get('cfg', 'x')).toEqual(entry);
    let stats = await peer.state.stats();
    expect(stats.tiers.redis.checksumFailures).toBe(1);
    expect(stats.tiers.sql.reads).toBe(1);
    const repaired = decodeHotValue('cfg/x', (await redis.get(key))!);
    expect(repaired?.version).toBe(2);

    // Well-formed but forged: a higher version whose checksum does not match is caught all the same.
    const held = (await redis.get(key))!;
    await redis.set(key, held.replace(/^2\|/, '9|').replace('"n":2', '"n":666'));
    const fresh = await openPeer(jl);
    await serving(fresh);
    expect(await fresh.state.get('cfg', 'x')).toEqual(entry);
    stats = await fresh.state.stats();
    expect(stats.tiers.redis.checksumFailures).toBe(1);
    expect(decodeHotValue('cfg/x', (await redis.get(key))!)?.version).toBe(2);
    await Promise.all([fresh.close(), peer.close(), redis.close()]);
    await jl.close();
  });

  it('rejects a batch with version conflicts whole, naming every conflicting key', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await jl.state.setMany([
      { namespace: 'b', key: 'k1', data: 1 },
      { namespace: 'b', key: 'k2', data: 2 },
      { namespace: 'b', key: 'k3', data: 3 },
    ]);
    const before = await jl.state.getMany([1, 2, 3].map((i) => ({ namespace: 'b', key: `k${i}` })));
    const rejected = jl.state.setMany([
      { namespace: 'b', key: 'k1', data: 10, expectedVersion: 1 },
      { namespace: 'b', key: 'k2', data: 20, expectedVersion: 5 },
      { namespace: 'b', key: 'k3', data: 30, expectedVersion: 0 },
      { namespace: 'b', key: 'k4', data: 40, expectedVersion: 0 },
    ]);
    await expect(rejected).rejects.toBeInstanceOf(VersionConflictError);
    const error = (await rejected.catch((e: unknown) => e)) as BatchVersionConflictError;
    expect(error).toBeInstanceOf(BatchVersionConflictError);
    expect(error.code).toBe('JOBLEDGER_VERSION_CONFLICT');
    expect(error.conflicts).toEqual([
      { subject: 'b/k2', expectedVersion: 5, actualVersion: 1 },
      { subject: 'b/k3', expectedVersion: 0, actualVersion: 1 },
    ]);
    // Nothing written, in SQL or in the tiers.
    expect(await jl.state.getMany([1, 2, 3, 4].map((i) => ({ namespace: 'b', key: `k${i}` })))).toEqual([...before, null]);
    expect(await jl.state.history('b', 'k1')).toHaveLength(1);
    await expect(jl.state.deleteMany([{ namespace: 'b', key: 'k1', expectedVersion: 3 }, { namespace: 'b', key: 'k2', expectedVersion: 1 }])).rejects.toMatchObject({
      conflicts: [{ subject: 'b/k1', expectedVersion: 3, actualVersion: 1 }],
    });
    expect((await jl.state.get('b', 'k2')).deletedAt).toBeNull();
    await jl.close();
  });

  it('goes on against SQL while Redis is down, serves nothing stale, and refills after a restart', async () => {
    const server = await OwnRedis.start();
    try {
      const jl = await openTestJobLedger(dialect, { jobs: [], env: { REDIS_URL: server.url } });
      await serving(jl);
      await jl.state.set('cfg', 'r', { v: 1 });
      expect((await jl.state.get('cfg', 'r')).version).toBe(1);
      expect((await jl.state.stats()).tiers.lru.hits).toBe(1);

      await server.kill();
      await waitFor(async () => ((await jl.state.stats()).lruServing ? undefined : true), 'the LRU to stop serving');
      expect((await jl.state.get('cfg', 'r')).version).toBe(1);
      const written = await jl.state.set('cfg', 'r', { v: 2 });
      expect(await jl.state.get('cfg', 'r')).toEqual(written);
      let stats = await jl.state.stats();
      expect(stats.sqlFallbacks).toBeGreaterThanOrEqual(2);
      expect(stats.writesWithoutRedis).toBe(1);
      expect(stats.redisUp).toBe(false);

      // Back, empty: the tiers refill lazily from SQL.
      await server.restart();
      await serving(jl);
      // The data connection comes back on its own: a read made before it is served from SQL into the
      // LRU only, and the LRU then answers the reads below until the value ages out.
      await waitFor(async () => ((await jl.state.stats()).redisUp ? true : undefined), 'the data connection to be back');
      expect(await jl.state.get('cfg', 'r')).toEqual(written);
      const redis = openClient(server.url);
      // Refilled by reads once the data connection is back (and after the repair of the write made while it was away).
      await waitFor(async () => {
        expect(await jl.state.get('cfg', 'r')).toEqual(written);
        return (await redis.get(valueKey(jl, 'cfg/r'))) ? true : undefined;
      }, 'Redis to be refilled');
      expect(decodeHotValue('cfg/r', (await redis.get(valueKey(jl, 'cfg/r')))!)?.version).toBe(2);

      // Flushed under our feet: still the right version, from SQL, and refilled.
      await redis.flushall();
      const peer = await openPeer(jl);
      await serving(peer);
      expect(await peer.state.get('cfg', 'r')).toEqual(written);
      stats = await peer.state.stats();
      expect(stats.tiers.sql.reads).toBe(1);
      expectStatsAddUp(stats, 1);
      await Promise.all([peer.close(), redis.close()]);
      await jl.close();
    } finally {
      await server.kill();
    }
  });
});

/** A redis-server of the test's own, on a free port, without persistence: killed and restarted at will. */
class OwnRedis {
  private child: ChildProcess | undefined;

  private constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(): Promise<OwnRedis> {
    const port = await new Promise<number>((resolve, reject) => {
      const probe = createServer();
      probe.once('error', reject);
      probe.listen(0, '127.0.0.1', () => {
        const address = probe.address();
        probe.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    const server = new OwnRedis(port);
    await server.restart();
    return server;
  }

  async restart(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await waitFor(async () => {
        try {
          if (client.status !== 'ready') await client.connect();
          return (await client.ping()) === 'PONG' ? true : undefined;
        } catch {
          client.disconnect();
          return undefined;
        }
      }, `redis-server on port ${this.port}`);
    } finally {
      client.disconnect();
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }
}
