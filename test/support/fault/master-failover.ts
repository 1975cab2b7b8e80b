/**
 * The Redis failover scenario shared by the cluster and Sentinel tests: load runs (this process
 * enqueues batches while two worker children run them), the Redis master is SIGKILLed, a replica
 * takes over, and the workers and the producer must carry on without a restart. Checks on the way
 * that enqueue never failed, that the producer hands a job straight to Redis again, and that the
 * same worker processes ran jobs after the failover; returns the checker's report and how long the
 * failover took, for the caller's `expectClean`.
 *
 * Redis replicates asynchronously, so the promoted replica may lack the dead master's last writes:
 * reconciles while waiting hand every job the ledger still expects back to Redis.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { toNumber } from '../../../src/store/engine/sql.js';
import type { ChildExit, ChildWorker } from '../child-worker.js';
import { waitFor } from '../harness.js';
import type { CheckReport } from './checker.js';
import { between, type FaultBackend } from './scenario.js';

export interface MasterFailover {
  /** SIGKILLs the master serving the ledger's prefix. */
  killMaster(): Promise<void>;
  /** Waits until a replica serves the prefix as master; returns how long that took. */
  waitFailover(): Promise<number>;
}

export async function runMasterKilledMidLoad(b: FaultBackend, workers: readonly ChildWorker[], failover: MasterFailover): Promise<{ report: CheckReport; failoverMs: number }> {
  let loading = true;
  const loadErrors: unknown[] = [];
  const load = (async () => {
    for (let round = 0; loading; round++) {
      await b.enqueueMany(10, (i) => ({ action: 'sleep', ms: between(50, 250), tag: `load-${round}-${i}` })).catch((error: unknown) => loadErrors.push(error));
      await sleep(100);
    }
  })();
  await waitFor(async () => ((await b.jl.ledger.countJobsByStatus()).completed >= 30 ? true : undefined), 'jobs completed before the kill', 60_000);

  await failover.killMaster();
  const killedAt = Date.now();
  const failoverMs = await failover.waitFailover();
  await sleep(1000);
  loading = false;
  await load;
  // Enqueue never failed: while no master answered, jobs waited in the outbox (status pending).
  expect(loadErrors).toEqual([]);

  // The producer's own connection reaches the new master: an enqueue is handed over at once again.
  let handedOver = false;
  for (let tries = 0; !handedOver && tries < 50; tries++) {
    const [job] = await b.jl.enqueueBulk([{ name: 'test.scripted', payload: { action: 'succeed', tag: `after-${tries}` } }]);
    b.acknowledged.add(job!.id);
    handedOver = job!.status === 'queued';
    if (!handedOver) await sleep(200);
  }
  expect(handedOver, 'an enqueue after the failover is handed to Redis by the producer itself').toBe(true);

  let lastReconcile = 0;
  await b.waitAllFinal({
    timeoutMs: 60_000,
    onPoll: async () => {
      if (Date.now() - lastReconcile < 2000) return;
      lastReconcile = Date.now();
      await b.reconcile({ allowFailure: true });
    },
  });

  // The same worker processes, never restarted, ran the jobs after the failover.
  const stillRunning = await Promise.all(workers.map((w) => Promise.race([w.exited, sleep(0, 'alive' as const)])));
  expect(stillRunning).toEqual(workers.map(() => 'alive') satisfies ('alive' | ChildExit)[]);
  const after = await b.jl.ledger.read((sql) => sql.all('SELECT DISTINCT pid FROM attempts WHERE started_at > ?', [killedAt + failoverMs]));
  expect(after.map((r) => toNumber(r.pid)).sort()).toEqual(workers.map((w) => w.pid).sort());

  return { report: await b.check(), failoverMs };
}
