/**
 * Fault scenario g: poison jobs among normal ones. A poison job kills its worker process every time
 * it starts (the scripted `exit` action). A supervisor restarts the workers, so without a bound the
 * fleet would crash-loop forever. With the defaults (JOBLEDGER_MAX_LOST_ATTEMPTS 3, BullMQ's stall
 * limit a backstop behind it) each poison job is started three times, the third time alone in its
 * process, then failed at its fourth delivery with the reason in the ledger. The normal jobs that
 * shared a process with it were lost too, some more than once, yet every one of them completes:
 * only a loss suffered alone is blamed on the job.
 */
import { describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';
import { supervise } from '../support/fault/supervisor.js';

describe.each(backends)('fault g: poison jobs on %s', (dialect) => {
  it('fails a job that kills its process on every start after a bounded number of starts; the others complete', async () => {
    const b = await openFaultBackend(dialect);
    const fleet = await supervise(b, 2, { concurrency: 10 });
    const startedAt = Date.now();
    const normal = await b.enqueueMany(scaled(300), (i) => ({ action: 'sleep', ms: between(20, 120), tag: `g-${i}` }));
    const poison = await b.enqueueMany(scaled(2), (i) => ({ action: 'exit', tag: `poison-${i}` }));
    await b.waitAllFinal();
    const elapsedMs = Date.now() - startedAt;

    for (const id of poison) {
      const { job, attempts, events } = await b.jl.ledger.getJobDetail(id);
      expect(job.status).toBe('failed');
      expect(job.statusReason).toMatch(/^lost 3 attempts in a row .*JOBLEDGER_MAX_LOST_ATTEMPTS=3\)$/);
      expect(job.lastError).toMatchObject({ name: 'StalledJobError', message: job.statusReason });
      expect(attempts.map((a) => a.status)).toEqual(['stalled', 'stalled', 'stalled']);
      expect(events.map((e) => e.type)).toEqual([
        'job.enqueued',
        ...['job.started', 'job.stalled', 'job.started', 'job.stalled', 'job.started', 'job.stalled'],
        'job.failed',
      ]);
    }
    // Each poison start took a process down (both at once, if both were in it): three starts per poison job, no more.
    expect(fleet.restarts).toBeGreaterThanOrEqual(3);
    expect(fleet.restarts).toBeLessThanOrEqual(3 * poison.length);
    // How long the normal jobs took, for the report ("without slowing other jobs much").
    const [done] = await b.jl.ledger.read((sql) => sql.all(`SELECT MAX(finished_at) AS last FROM jobs WHERE status = 'completed'`));
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: normal.length, failed: poison.length });
    expectClean('g. poison jobs among normal ones', b, report, { restarts: fleet.restarts, elapsedMs, normalDoneMs: Number(done?.last) - startedAt });
    await fleet.stop();
    await b.close();
  });
});
