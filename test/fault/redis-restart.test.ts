/**
 * Fault scenario d: Redis is SIGKILLed under load and restarted empty (no persistence: everything it
 * carried is gone). The worker processes ride it out without a restart of their own: they reconnect
 * and fetch again. What Redis lost comes back from the ledger: attempts running at the kill lose
 * their lock (aborted and recorded `interrupted`, or lost and recovered by their dead heartbeat),
 * and the reconcile task (called directly here, as its cron would) hands every queued job over again.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import type { ChildWorker } from '../support/child-worker.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';

function alive(worker: ChildWorker): boolean {
  try {
    process.kill(worker.pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe.each(backends)('fault d: Redis killed and restarted under load on %s', (dialect) => {
  it('workers resume without a restart; reconcile hands back what Redis lost; nothing lost', async () => {
    const b = await openFaultBackend(dialect);
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    const pids = workers.map((w) => w.pid);
    // One job in ten is still running when Redis dies: it loses its lock with it.
    await b.enqueueMany(scaled(300), (i) => ({ action: 'sleep', ms: i % 10 === 0 ? 3000 : between(100, 400), tag: `d-${i}` }));

    for (let round = 0; round < scaled(1); round++) {
      await sleep(1500);
      await b.redis.kill();
      await sleep(1000); // down for a second: workers and the producer see their connections close
      await b.redis.restart();
    }
    const restartedAt = Date.now();
    // More work after the outage, handed over by the producer to the restarted Redis.
    await b.enqueueMany(scaled(100), (i) => ({ action: 'sleep', ms: between(50, 150), tag: `d-after-${i}` }));

    let redispatched = 0;
    let lastReconcile = 0;
    await b.waitAllFinal({
      timeoutMs: 90_000,
      onPoll: async () => {
        if (Date.now() - lastReconcile < 1000) return;
        lastReconcile = Date.now();
        // Until the producer connection is back, a run fails (and is recorded so); the next one retries.
        const counts = await b.reconcile({ allowFailure: true });
        redispatched += Number(counts?.redispatched ?? 0);
      },
    });

    expect(redispatched, 'Redis lost queued jobs: reconcile must have handed some back').toBeGreaterThan(0);
    expect(workers.map(alive)).toEqual([true, true]);
    // The same two processes ran the jobs after the restart: they reconnected by themselves.
    const after = await b.jl.ledger.read((sql) => sql.all('SELECT DISTINCT pid FROM attempts WHERE started_at > ?', [restartedAt]));
    expect(after.map((r) => Number(r.pid)).sort()).toEqual([...pids].sort());

    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: b.acknowledged.size });
    expect(report.attempts.interrupted ?? 0, 'attempts running at the kill lose their lock').toBeGreaterThan(0);
    expectClean('d. Redis killed and restarted under load', b, report, { redispatched });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});
