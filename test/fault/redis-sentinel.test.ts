/**
 * jobledger on a Sentinel-watched Redis (JOBLEDGER_REDIS_SENTINELS): a master, its replica and
 * three Sentinels of the test's own (test/support/fault/redis-sentinel.ts), with a SQLite ledger.
 * The master is SIGKILLed mid-load, the Sentinels promote the replica, and the workers and the
 * producer carry on without a restart: nothing lost, one outcome per job.
 *
 * Redis replicates asynchronously, so the promoted replica may lack the dead master's last writes.
 * The ledger is the truth: the reconcile hands every non-final job Redis lost back to it, and a
 * redelivered job already final in the ledger runs nothing.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { InvalidConfigError } from '../../src/errors.js';
import { describeRedisTarget } from '../../src/transport/redis-connection.js';
import type { ChildWorker } from '../support/child-worker.js';
import { sentinelMasterName, startSentinelRedis, type PrivateSentinelRedis } from '../support/fault/redis-sentinel.js';
import { expectClean, openFaultBackend } from '../support/fault/scenario.js';
import { runMasterKilledMidLoad } from '../support/fault/master-failover.js';

let setup: PrivateSentinelRedis;

beforeAll(async () => {
  setup = await startSentinelRedis();
});

afterAll(async () => {
  await setup?.close();
});

describe('configuration for Redis Sentinel', () => {
  it('parses the Sentinels and the master name, and refuses malformed ones or a cluster beside them', () => {
    const config = loadConfig({}, { JOBLEDGER_REDIS_SENTINELS: 'sentinel-1:26379, [::1]:26380', JOBLEDGER_REDIS_SENTINEL_MASTER: 'cache-1' });
    expect(config.redisSentinels).toEqual([
      { host: 'sentinel-1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    expect(config.redisSentinelMaster).toBe('cache-1');
    expect(loadConfig({}, {}).redisSentinels).toEqual([]);
    // Messages name the Sentinels and the master, never REDIS_URL's host (it is not used).
    expect(describeRedisTarget(config)).toBe('redis-sentinel://sentinel-1:26379/?master=cache-1&sentinels=sentinel-1:26379,[::1]:26380');
    for (const bad of ['sentinel-1', 'sentinel-1:0', 'redis://sentinel-1:26379', 'a:1,,b:2']) {
      expect(() => loadConfig({}, { JOBLEDGER_REDIS_SENTINELS: bad }), bad).toThrow(/JOBLEDGER_REDIS_SENTINELS: expected host:port Sentinels/);
    }
    expect(() => loadConfig({}, { JOBLEDGER_REDIS_SENTINELS: 'a:1', JOBLEDGER_REDIS_SENTINEL_MASTER: 'my master' })).toThrow(/JOBLEDGER_REDIS_SENTINEL_MASTER: expected a master name/);
    expect(() => loadConfig({}, { JOBLEDGER_REDIS_SENTINELS: 'a:1', JOBLEDGER_REDIS_CLUSTER_NODES: 'b:2', JOBLEDGER_REDIS_PREFIX: '{jl}' })).toThrow(InvalidConfigError);
  });
});

describe('jobledger through Redis Sentinel (a master, a replica, three Sentinels), SQLite ledger', () => {
  it('survives the SIGKILL of the master mid-load: the Sentinels promote the replica, workers and the producer carry on without a restart', async () => {
    const env = {
      JOBLEDGER_REDIS_SENTINELS: setup.sentinels,
      JOBLEDGER_REDIS_SENTINEL_MASTER: sentinelMasterName,
      // REDIS_URL's host and port are not used with Sentinels: a port nothing listens on proves it.
      REDIS_URL: 'redis://127.0.0.1:1',
      JOBLEDGER_REDIS_PREFIX: `jls-${randomBytes(4).toString('hex')}`,
      JOBLEDGER_MAX_STALLED_COUNT: '50',
      JOBLEDGER_MAX_LOST_ATTEMPTS: '50',
    };
    const b = await openFaultBackend('sqlite', env);
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    const master = await setup.masterPort();
    const { report, failoverMs } = await runMasterKilledMidLoad(b, workers, {
      killMaster: () => setup.kill(master),
      waitFailover: async () => {
        const ms = await setup.waitFailover(master);
        expect(await setup.masterPort()).not.toBe(master);
        return ms;
      },
    });
    expect(Object.keys(report.byStatus)).toEqual(['completed']);
    expect(report.jobs).toBe(b.acknowledged.size);
    expectClean('sentinel: master SIGKILLed mid-load, replica promoted', b, report, { failoverMs });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});
