/**
 * Fault scenarios b and c, with hundreds of jobs (test/shutdown.test.ts covers the same paths job by
 * job):
 *   b. SIGTERM while jobs shorter and longer than the grace period run: the short ones finish, the
 *      long ones are interrupted (attempt `interrupted`, job queued again without spending its
 *      budget) and complete on another worker; the worker exits 0.
 *   c. SIGKILL during the drain: the attempts still draining are lost, recovered as `stalled`
 *      within the stall bound, and complete.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { decodeJson, toNumber } from '../../src/store/engine/sql.js';
import { backends } from '../support/backends.js';
import type { ChildWorker } from '../support/child-worker.js';
import { expectRecoveredWithinBound, runningAttemptsOf, stallRecoveryBoundMs, type LostAttempt } from '../support/fault/recovery.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';

describe.each(backends)('fault b/c: shutdown under load on %s', (dialect) => {
  it('b. SIGTERM: shorter jobs finish within the grace, longer ones are interrupted and run again', async () => {
    const graceMs = 1000;
    const b = await openFaultBackend(dialect, { JOBLEDGER_SHUTDOWN_GRACE_MS: String(graceMs) });
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    // One job in eight sleeps (honouring its signal) far past the grace on its first attempt.
    const ids = await b.enqueueMany(scaled(300), (i) =>
      i % 8 === 0
        ? { action: 'sleep-until', ms: 2500, succeedOnAttempt: 2, tag: `long-${i}` }
        : { action: 'sleep', ms: between(20, 200), tag: `short-${i}` },
    );

    for (let round = 0; round < scaled(2); round++) {
      await sleep(500);
      const slot = round % 2;
      const victim = workers[slot]!;
      const replacement = b.startWorker(); // the supervisor's new process, starting meanwhile
      victim.kill('SIGTERM');
      expect(await victim.exited).toEqual({ code: 0, signal: null });
      workers[slot] = await replacement;
    }
    await b.waitAllFinal();

    const rows = await b.jl.ledger.read((sql) =>
      sql.all(`SELECT j.payload, a.status FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.status = 'interrupted'`),
    );
    expect(rows.length, 'the signals must catch long attempts running').toBeGreaterThan(0);
    // Only attempts longer than the grace were interrupted: every short one finished in time.
    const interruptedTags = rows.map((r) => (decodeJson(dialect, r.payload) as { tag: string }).tag);
    expect(interruptedTags.filter((tag) => !tag.startsWith('long-'))).toEqual([]);
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expect(await budgetSpent(b.jl)).toBe(0);
    expectClean('b. SIGTERM, jobs shorter and longer than the grace', b, report, { interrupted: rows.length });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });

  it('c. SIGKILL during the drain: the draining attempts are recovered as stalled within the bound', async () => {
    const b = await openFaultBackend(dialect, {
      JOBLEDGER_SHUTDOWN_GRACE_MS: '10000',
      JOBLEDGER_MAX_STALLED_COUNT: '50',
      JOBLEDGER_MAX_LOST_ATTEMPTS: '50',
    });
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    const ids = await b.enqueueMany(scaled(300), (i) => ({ action: 'sleep', ms: i % 8 === 0 ? between(1000, 2000) : between(50, 250), tag: `c-${i}` }));

    const kills: { lost: LostAttempt[]; killedAt: number }[] = [];
    for (let round = 0; round < scaled(2); round++) {
      await sleep(500);
      const slot = round % 2;
      const victim = workers[slot]!;
      const replacement = b.startWorker();
      victim.kill('SIGTERM');
      await victim.waitForLine('SIGNAL SIGTERM');
      await sleep(200); // draining now: no new fetches, running attempts finishing
      const lost = await runningAttemptsOf(b.jl, victim.pid);
      victim.kill('SIGKILL');
      kills.push({ lost, killedAt: Date.now() });
      expect(await victim.exited).toEqual({ code: null, signal: 'SIGKILL' });
      workers[slot] = await replacement;
    }
    await b.waitAllFinal();

    const recovery = await expectRecoveredWithinBound(b.jl, kills, 'draining');
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expectClean('c. SIGKILL during the drain', b, report, { recoveryMs: recovery, boundMs: stallRecoveryBoundMs });
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});

/** Failed attempts counted against retry budgets, across all jobs: interruptions and stalls spend none. */
async function budgetSpent(jl: Parameters<typeof runningAttemptsOf>[0]): Promise<number> {
  const [row] = await jl.ledger.read((sql) => sql.all('SELECT COALESCE(SUM(attempts_failed), 0) AS n FROM jobs'));
  return toNumber(row?.n ?? 0);
}
