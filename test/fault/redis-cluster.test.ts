/**
 * jobledger on a Redis Cluster (JOBLEDGER_REDIS_CLUSTER_NODES): a local cluster of six
 * `redis-server` processes (three masters, one replica each, test/support/fault/redis-cluster.ts)
 * with a SQLite ledger. The lifecycle, a reconcile and SIGKILLed workers run on it with the fault
 * checker at zero; then the master serving the prefix's hash slot is SIGKILLed mid-load, its
 * replica takes over, and the workers and the producer carry on without a restart: nothing lost,
 * one outcome per job.
 *
 * Redis replicates asynchronously, so the promoted replica may lack the last writes of the dead
 * master (a job added, a job moved to completed). The ledger is the truth: the reconcile hands every
 * non-final job Redis lost back to it, and a redelivered job already final in the ledger runs nothing.
 */
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { InvalidConfigError, RedisClusterPrefixError } from '../../src/errors.js';
import { closeRedis, createRedis } from '../../src/transport/redis-connection.js';
import { prefixOwnerKey } from '../../src/transport/prefix-claim.js';
import type { ChildWorker } from '../support/child-worker.js';
import { waitFor, waitForStatus } from '../support/harness.js';
import { expectRecoveredWithinBound, runningAttemptsOf, stallRecoveryBoundMs, type LostAttempt } from '../support/fault/recovery.js';
import { startRedisCluster, type PrivateRedisCluster } from '../support/fault/redis-cluster.js';
import { between, expectClean, openFaultBackend, type FaultBackend } from '../support/fault/scenario.js';
import { runMasterKilledMidLoad } from '../support/fault/master-failover.js';

let cluster: PrivateRedisCluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
});

afterAll(async () => {
  await cluster?.close();
});

/** The scenario's settings: the cluster's seeds and a prefix of its own, with a hash tag. */
function clusterEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { JOBLEDGER_REDIS_CLUSTER_NODES: cluster.seeds, JOBLEDGER_REDIS_PREFIX: `{jlc-${randomBytes(4).toString('hex')}}`, ...extra };
}

/** Removes jobs from Redis behind the ledger's back, as a failover that lost their writes would. */
async function removeFromRedis(b: FaultBackend, ids: readonly string[]): Promise<void> {
  const connection = createRedis(b.config, 'worker');
  const queue = new Queue('default', { connection, prefix: b.config.redisPrefix });
  try {
    for (const id of ids) await queue.remove(id);
  } finally {
    await queue.close();
    await closeRedis(connection);
  }
}

describe('configuration for a Redis Cluster', () => {
  it('refuses a prefix without a hash tag, naming what it expected and what came', () => {
    const attempt = () => loadConfig({}, { JOBLEDGER_REDIS_CLUSTER_NODES: '127.0.0.1:7000,127.0.0.1:7001', JOBLEDGER_REDIS_PREFIX: 'jobledger' });
    expect(attempt).toThrow(RedisClusterPrefixError);
    expect(attempt).toThrow(/JOBLEDGER_INVALID_CONFIG: JOBLEDGER_REDIS_PREFIX: .*expected a prefix with a hash tag such as "\{jobledger\}".*got "jobledger"/);
    // An empty tag is no tag: Redis would hash the whole key.
    expect(() => loadConfig({}, { JOBLEDGER_REDIS_CLUSTER_NODES: '127.0.0.1:7000', JOBLEDGER_REDIS_PREFIX: '{}jobledger' })).toThrow(RedisClusterPrefixError);
    // Without a cluster the same prefix is fine.
    expect(loadConfig({}, { JOBLEDGER_REDIS_PREFIX: 'jobledger' }).redisClusterNodes).toEqual([]);
  });

  it('parses the seed nodes and refuses malformed ones', () => {
    const config = loadConfig({}, { JOBLEDGER_REDIS_CLUSTER_NODES: 'redis-1:6379, [::1]:7001', JOBLEDGER_REDIS_PREFIX: 'app.{jobledger}' });
    expect(config.redisClusterNodes).toEqual([
      { host: 'redis-1', port: 6379 },
      { host: '::1', port: 7001 },
    ]);
    for (const bad of ['redis-1', 'redis-1:0', 'redis-1:70000', 'redis-1:6379,,redis-2:6379', 'redis://redis-1:6379']) {
      expect(() => loadConfig({}, { JOBLEDGER_REDIS_CLUSTER_NODES: bad, JOBLEDGER_REDIS_PREFIX: '{jobledger}' }), bad).toThrow(InvalidConfigError);
    }
  });
});

describe('jobledger on a Redis Cluster (3 masters, 3 replicas), SQLite ledger', () => {
  it('runs the lifecycle (completion, retry, failure, a cancel over pub/sub) and a reconcile that hands back jobs Redis lost', async () => {
    const b = await openFaultBackend('sqlite', clusterEnv());
    const worker = await b.startWorker();
    const succeed = await b.enqueueMany(20, (i) => ({ action: 'succeed', tag: `ok-${i}` }));
    const retried = await b.enqueueMany(5, (i) => ({ action: 'fail-until', succeedOnAttempt: 2, tag: `retry-${i}` }));
    const failed = await b.enqueueMany(2, (i) => ({ action: 'throw', tag: `fail-${i}` }));
    await b.waitAllFinal();
    for (const id of retried) expect((await b.jl.ledger.getJob(id)).attemptsStarted).toBe(2);
    for (const id of failed) expect((await b.jl.ledger.getJob(id)).status).toBe('failed');
    for (const id of succeed) expect((await b.jl.ledger.getJob(id)).status).toBe('completed');

    // A cancel reaches the worker running the job over the cluster's pub/sub: its handler is aborted.
    const [long] = await b.enqueueMany(1, () => ({ action: 'sleep', ms: 30_000, tag: 'cancelled' }));
    await waitForStatus(b.jl, long!, 'running', 30_000);
    await b.jl.cancel({ jobId: long!, reason: 'test', actor: 'test' });
    const attempt = await waitFor(async () => {
      const [a] = (await b.jl.ledger.getJobDetail(long!)).attempts;
      return a && a.status !== 'running' ? a : undefined;
    }, 'the cancelled attempt to end');
    expect(attempt.status).toBe('cancelled');
    expect(attempt.durationMs).toBeLessThan(30_000);

    // Jobs queued while no worker runs, then lost by Redis: the reconcile finds and hands them back.
    await worker.close();
    const lost = await b.enqueueMany(6, (i) => ({ action: 'succeed', tag: `lost-${i}` }));
    await removeFromRedis(b, lost);
    const counts = await b.reconcile();
    expect(counts).toMatchObject({ missing: lost.length, redispatched: lost.length, deferred: 0 });
    const again = await b.startWorker();
    await b.waitAllFinal();

    // Every key of the prefix, the claim included, is on the master of the prefix's hash slot.
    const redis = createRedis(b.config, 'worker');
    try {
      expect(await redis.get(prefixOwnerKey(b.config.redisPrefix))).toContain(await b.jl.ledger.identity());
    } finally {
      await closeRedis(redis);
    }
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: succeed.length + retried.length + lost.length, failed: failed.length, cancelled: 1 });
    expectClean('cluster: lifecycle and reconcile', b, report);
    await again.close();
    await b.close();
  });

  it('re-runs the attempts of SIGKILLed workers; nothing lost, one outcome per job', async () => {
    const b = await openFaultBackend('sqlite', clusterEnv({ JOBLEDGER_MAX_STALLED_COUNT: '50', JOBLEDGER_MAX_LOST_ATTEMPTS: '50' }));
    // Two workers to kill and one that lives throughout, whose stalled checker recovers their jobs.
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker(), b.startWorker()]);
    const ids = await b.enqueueMany(120, (i) => ({ action: 'sleep', ms: between(300, 700), tag: `kill-${i}` }));
    const kills: { lost: LostAttempt[]; killedAt: number }[] = [];
    const replacements: Promise<ChildWorker>[] = [];
    for (const victim of workers.slice(0, 2)) {
      // Killed while it runs attempts: the kill must cut work short to test anything.
      const lost = await waitFor(async () => {
        const running = await runningAttemptsOf(b.jl, victim.pid);
        return running.length > 0 ? running : undefined;
      }, `worker ${victim.pid} to run attempts`);
      victim.kill('SIGKILL');
      kills.push({ lost, killedAt: Date.now() });
      expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
      // The supervisor restarts it.
      replacements.push(b.startWorker());
    }
    await b.waitAllFinal();
    const recovery = await expectRecoveredWithinBound(b.jl, kills, 'running');
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expect(report.attempts.stalled).toBeGreaterThan(0);
    expectClean('cluster: SIGKILL workers mid-job', b, report, { recoveryMs: recovery, boundMs: stallRecoveryBoundMs });
    await Promise.all([workers[2]!, ...(await Promise.all(replacements))].map((w) => w.close()));
    await b.close();
  });
  it('survives the SIGKILL of the master serving the prefix mid-load: its replica takes over, workers and the producer carry on without a restart', async () => {
    const b = await openFaultBackend('sqlite', clusterEnv({ JOBLEDGER_MAX_STALLED_COUNT: '50', JOBLEDGER_MAX_LOST_ATTEMPTS: '50' }));
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    // The hash tag puts every key of the prefix on one master: that is the one to kill.
    const key = `${b.config.redisPrefix}:jobledger:ledger`;
    const master = await cluster.masterOf(key);
    const { report, failoverMs } = await runMasterKilledMidLoad(b, workers, {
      killMaster: () => cluster.kill(master),
      waitFailover: async () => {
        const ms = await cluster.waitOk({ key, deadPort: master });
        expect(await cluster.masterOf(key)).not.toBe(master);
        return ms;
      },
    });
    expect(Object.keys(report.byStatus)).toEqual(['completed']);
    expect(report.jobs).toBe(b.acknowledged.size);
    expectClean('cluster: master SIGKILLed mid-load, replica promoted', b, report, { failoverMs });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});
