/**
 * Fault scenario a: worker processes SIGKILLed mid-job, again and again, and restarted (as a
 * supervisor would). Nothing is lost, every job has exactly one outcome, and each killed attempt's
 * job starts its next attempt within the stated bound: lockDurationMs + stalledIntervalMs (the lock
 * lapses, a surviving worker's stalled checker moves the job back to wait) plus the time to start
 * the next attempt.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import type { ChildWorker } from '../support/child-worker.js';
import { expectRecoveredWithinBound, runningAttemptsOf, stallRecoveryBoundMs, type LostAttempt } from '../support/fault/recovery.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';

describe.each(backends)('fault a: workers SIGKILLed mid-job on %s', (dialect) => {
  it('re-runs every killed attempt within lock + stalled interval; nothing lost, one outcome per job', async () => {
    // A job may be on a killed worker more than once: no stall limit may end it here.
    const b = await openFaultBackend(dialect, { JOBLEDGER_MAX_STALLED_COUNT: '50', JOBLEDGER_MAX_LOST_ATTEMPTS: '50' });
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    const ids = await b.enqueueMany(scaled(300), (i) => ({ action: 'sleep', ms: between(200, 600), tag: `a-${i}` }));

    const kills: { lost: LostAttempt[]; killedAt: number }[] = [];
    for (let round = 0; round < scaled(4); round++) {
      await sleep(500);
      const slot = round % 2;
      const victim = workers[slot]!;
      const lost = await runningAttemptsOf(b.jl, victim.pid);
      victim.kill('SIGKILL');
      kills.push({ lost, killedAt: Date.now() });
      // The supervisor restarts it; the other worker kept running all along.
      const replacement = b.startWorker();
      expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
      workers[slot] = await replacement;
    }
    await b.waitAllFinal();

    const recovery = await expectRecoveredWithinBound(b.jl, kills, 'running');

    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expect(report.attempts.stalled).toBeGreaterThan(0);
    expectClean('a. SIGKILL workers mid-job', b, report, { recoveryMs: recovery, boundMs: stallRecoveryBoundMs });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});
