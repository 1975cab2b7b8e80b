/**
 * The benchmark's CPU meters read real figures: Redis's own CPU from INFO, and a local PostgreSQL's
 * from /proc. The bench divides their growth over the end-to-end phase by the jobs it ran.
 */
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { localPostgresCpuSeconds, redisCpuSeconds } from '../bench/cpu-meters.js';
import { testPostgresAdminUrl, testRedisUrl } from './support/services.js';

describe('the bench CPU meters', () => {
  it("reads Redis's CPU, and it grows with work done", async () => {
    const redis = new Redis(await testRedisUrl());
    const before = await redisCpuSeconds(redis);
    expect(before).toBeGreaterThanOrEqual(0);
    // About 100 ms of Redis CPU: a Lua loop runs inside the server.
    await redis.eval('local n = 0 for i = 1, 20000000 do n = n + i end return 1', 0);
    const after = await redisCpuSeconds(redis);
    await redis.quit();
    expect(after! - before!).toBeGreaterThan(0);
  });

  it('gives no Redis figure when Redis does not answer', async () => {
    const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    expect(await redisCpuSeconds(redis)).toBeUndefined();
    redis.disconnect();
  });

  it("reads a local PostgreSQL's CPU from /proc, and it grows with a query's work", async (context) => {
    const url = new URL(await testPostgresAdminUrl());
    // Only a server on the same host has processes to read; one elsewhere gives no figure at all.
    if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(url.hostname)) context.skip();
    const before = localPostgresCpuSeconds();
    expect(before).toBeGreaterThanOrEqual(0);
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    await client.query('SELECT count(*) FROM generate_series(1, 5000000)');
    // Read while the backend lives: an exited process's CPU leaves /proc with it (the bench reads
    // before the worker's connections close, for the same reason).
    const after = localPostgresCpuSeconds();
    await client.end();
    expect(after! - before!).toBeGreaterThan(0);
  });
});
