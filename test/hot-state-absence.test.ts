/**
 * What the hot tiers hold besides rows, on both backends with real Redis: the markers of keys SQL
 * has no entry of (served from the LRU and Redis, dropped by a writer's fence and notices, so a key
 * another process wrote is not reported missing after its notice), and the maximum age of a held
 * value (a writer that never reached Redis leaves the others stale only until then). Time is faked by
 * backdating the Redis value and by the LRU's clock, never by sleeping.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { JobLedger } from '../src/jobledger.js';
import { decodeHotValue, encodeHotValue, toHotValue } from '../src/hot-state/hot-value.js';
import { LocalTier } from '../src/hot-state/local-tier.js';
import { TierStats } from '../src/hot-state/tier-stats.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';

function valueKey(jl: JobLedger, id: string): string {
  return `${jl.config.redisPrefix}:jobledger:state:${id}`;
}

/** Another process on the same database and prefix (its own LRU and subscription), with the hot tiers' settings changed. */
async function openPeer(jl: JobLedger, stateHot: Partial<JobLedger['config']['stateHot']> = {}): Promise<JobLedger> {
  const config = { ...jl.config, stateHot: { ...jl.config.stateHot, ...stateHot } };
  const peer = track(await JobLedger.open({ jobs: [], config, relay: false }), 'peer JobLedger');
  if (config.stateHot.enabled) await serving(peer);
  return peer;
}

async function serving(jl: JobLedger): Promise<void> {
  await waitFor(async () => ((await jl.state.stats()).lruServing ? true : undefined), 'the change notices to be subscribed');
}

function openClient(url: string): Redis & { close(): Promise<void> } {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  client.on('error', () => undefined);
  return track(Object.assign(client, { close: () => client.quit().then(() => undefined) }), 'test Redis client');
}

describe.each(backends)('hot state markers and maximum age on %s', (dialect) => {
  it('caches a missing key in the LRU and Redis, and reports it written once another process wrote it', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await serving(jl);
    const writer = await openPeer(jl);
    const reader = await openPeer(jl);
    const redis = openClient(jl.config.redisUrl);

    // First read: SQL (no row); the second: the LRU; another process: the Redis marker.
    expect(await reader.state.find('cfg', 'later')).toBeNull();
    expect(await reader.state.find('cfg', 'later')).toBeNull();
    expect(await reader.state.getMany([{ namespace: 'cfg', key: 'later' }, { namespace: 'cfg', key: 'later' }])).toEqual([null, null]);
    let stats = await reader.state.stats();
    expect(stats.tiers.sql.reads).toBe(1);
    expect(stats.tiers.lru.hits).toBe(3);
    expect(decodeHotValue('cfg/later', (await redis.get(valueKey(jl, 'cfg/later')))!)).toMatchObject({ version: 0, json: '' });
    expect(await jl.state.find('cfg', 'later')).toBeNull();
    expect((await jl.state.stats()).tiers).toMatchObject({ redis: { hits: 1 }, sql: { reads: 0 } });

    // Written by another process: once its notice is in, the reader never reports it missing again.
    const written = await writer.state.set('cfg', 'later', { on: true });
    const seen = await waitFor(async () => (await reader.state.find('cfg', 'later')) ?? undefined, 'the reader to see the write');
    expect(seen).toEqual(written);
    for (let i = 0; i < 20; i++) expect(await reader.state.find('cfg', 'later')).toEqual(written);
    stats = await reader.state.stats();
    expect(stats.tiers.lru.invalidations).toBeGreaterThanOrEqual(1);
    expect(decodeHotValue('cfg/later', (await redis.get(valueKey(jl, 'cfg/later')))!)?.version).toBe(1);
    // And the process that held the Redis marker reads the row too (its own LRU marker dropped by the notices).
    expect(await waitFor(async () => (await jl.state.find('cfg', 'later')) ?? undefined, 'the first process to see the write')).toEqual(written);

    // A soft-deleted entry is a row, not a marker: hidden unless asked for, with its version.
    await writer.state.delete('cfg', 'later');
    const deleted = await waitFor(async () => {
      const row = await reader.state.find('cfg', 'later', { includeDeleted: true });
      return row?.deletedAt ? row : undefined;
    }, 'the reader to see the deletion');
    expect(deleted.version).toBe(2);
    expect(await reader.state.find('cfg', 'later')).toBeNull();
    await Promise.all([writer.close(), reader.close(), redis.close()]);
    await jl.close();
  });

  it('re-reads SQL once a held value is past its maximum age: a writer without Redis leaves others stale until then', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    await serving(jl);
    const redis = openClient(jl.config.redisUrl);
    // A writer with the tiers off writes SQL only: no fence, no notice, as one cut off from Redis.
    const cutOff = await openPeer(jl, { enabled: false });
    const first = await jl.state.set('cfg', 'aged', { n: 1 });
    await cutOff.state.set('cfg', 'aged', { n: 2 });
    expect(await jl.state.get('cfg', 'aged')).toEqual(first);

    // The Redis value backdated past the maximum age (30 s by default): a fresh process reads SQL.
    const key = valueKey(jl, 'cfg/aged');
    const backdated = Date.now() - 31_000;
    await redis.set(key, encodeHotValue(toHotValue(first, backdated)), 'PX', 60_000);
    const reader = await openPeer(jl);
    expect(await reader.state.get('cfg', 'aged')).toMatchObject({ version: 2, data: { n: 2 } });
    const stats = await reader.state.stats();
    expect(stats.tiers.redis.staleSkips).toBe(1);
    expect(stats.tiers.sql.reads).toBe(1);
    expect(decodeHotValue('cfg/aged', (await redis.get(key))!)?.version).toBe(2);

    // Past the maximum age at the same version: SQL again, and the value stored anew with a fresh time.
    const current = await reader.state.get('cfg', 'aged');
    await redis.set(key, encodeHotValue(toHotValue(current, backdated)), 'PX', 60_000);
    const another = await openPeer(jl);
    expect(await another.state.get('cfg', 'aged')).toEqual(current);
    expect((await another.state.stats()).tiers.sql.reads).toBe(1);
    expect(decodeHotValue('cfg/aged', (await redis.get(key))!)?.storedAt).toBeGreaterThan(backdated + 30_000);
    await Promise.all([cutOff.close(), reader.close(), another.close(), redis.close()]);
    await jl.close();
  });
});

describe('the LRU', () => {
  it('serves a value until its maximum age, then not', () => {
    let clock = 1_000_000;
    const local = new LocalTier({ maxEntries: 10, maxBytes: 1 << 20, leaseMs: 5000, maxAgeMs: 1000 }, new TierStats(), () => clock);
    local.setServing(true);
    const row = { namespace: 'n', key: 'k', status: 'active', data: 1, version: 1, deletedAt: null, createdAt: 0, updatedAt: 0 };
    local.promote(toHotValue(row, clock));
    clock += 1000;
    expect(local.get('n/k')?.version).toBe(1);
    clock += 1;
    expect(local.get('n/k')).toBeUndefined();
  });
});
