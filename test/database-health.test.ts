/**
 * A worker's health includes its database (workers/database-probe.ts): `ready` and `database.state`
 * say whether the database answers, in process and in the entry published to Redis. On PostgreSQL a
 * TCP proxy in front of the server goes silent (every connection, current and new) and comes back.
 * SQLite is a file in the process: always reachable.
 */
import { describe, expect, it } from 'vitest';
import { parseHealth, workersHealthKey } from '../src/workers/consumer-watchdog.js';
import { JobLedger } from '../src/jobledger.js';
import { backends, testConfig } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';
import { startTcpProxy } from './support/fault/tcp-proxy.js';
import { testRedisUrl } from './support/services.js';
import { Redis } from 'ioredis';

const probeEnv = { JOBLEDGER_WATCHDOG_INTERVAL_MS: '100', JOBLEDGER_WATCHDOG_STUCK_AFTER_MS: '5000' };

describe.each(backends)('a worker’s database health on %s', (dialect) => {
  it('is ready while its database answers, and says not ready, database unreachable, while it does not', async () => {
    let config = await testConfig(dialect, probeEnv);
    const proxy = dialect === 'postgresql' ? await startTcpProxy(Number(new URL(config.database.url).port || 5432)) : undefined;
    if (proxy) {
      const url = new URL(config.database.url);
      url.port = String(proxy.port);
      config = await testConfig(dialect, { ...probeEnv, DATABASE_URL: url.toString(), JOBLEDGER_REDIS_PREFIX: config.redisPrefix });
    }
    const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, migrate: true, relay: false }), 'JobLedger');
    const worker = jl.createWorker({ concurrency: 2 });
    await worker.start();
    await waitFor(() => Promise.resolve(worker.health().database.state === 'ok' ? true : undefined), 'the first probe');
    expect(worker.health()).toMatchObject({ status: 'ok', ready: true, database: { state: 'ok', unreachableSince: null, error: null } });
    const redis = new Redis(await testRedisUrl());
    const published = async () => parseHealth((await redis.hget(workersHealthKey(config.redisPrefix), worker.identity.workerId)) ?? '');
    await waitFor(async () => ((await published())?.database.state === 'ok' ? true : undefined), 'published health with the database');

    if (proxy) {
      proxy.blackhole();
      const down = await waitFor(() => Promise.resolve(worker.health().database.state === 'unreachable' ? worker.health() : undefined), 'the database unreachable');
      expect(down).toMatchObject({ status: 'degraded', ready: false, database: { state: 'unreachable', error: expect.stringMatching(/no answer within/) as unknown } });
      await waitFor(async () => ((await published())?.ready === false ? true : undefined), 'published not ready');
      proxy.restore();
      await waitFor(() => Promise.resolve(worker.health().ready ? true : undefined), 'ready again');
      expect(worker.health()).toMatchObject({ status: 'ok', database: { state: 'ok', unreachableSince: null } });
    }
    redis.disconnect();
    await jl.close();
    await proxy?.close();
  });
});
