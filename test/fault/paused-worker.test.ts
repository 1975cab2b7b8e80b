/**
 * Fencing under a paused worker: SIGSTOP freezes a worker process mid-job (a long GC pause, a VM
 * migration, a laptop lid). Its locks lapse, another worker runs the jobs again and completes them.
 * Then SIGCONT: the frozen attempts finish or abort late, and their writes change nothing but their
 * own rows (`superseded`): one outcome per job, the newer attempt's.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { backends } from '../support/backends.js';
import { expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';

describe.each(backends)('fault: a worker paused past its locks on %s', (dialect) => {
  it('comes back to find its attempts superseded; the newer attempts own the outcomes', async () => {
    const b = await openFaultBackend(dialect);
    const frozen = await b.startWorker({ concurrency: scaled(50) });
    const ids = await b.enqueueMany(scaled(50), (i) => ({ action: 'sleep', ms: 2500, tag: `p-${i}` }));
    for (;;) {
      if ((await b.jl.ledger.countJobsByStatus()).running === ids.length) break;
      await sleep(50);
    }
    frozen.kill('SIGSTOP');
    const rescuer = await b.startWorker({ concurrency: scaled(50) });
    await b.waitAllFinal(); // the rescuer ran them all again
    frozen.kill('SIGCONT');
    // The frozen process catches up: its attempts end late, fenced out.
    for (;;) {
      const [row] = await b.jl.ledger.read((sql) => sql.all(`SELECT COUNT(*) AS n FROM attempts WHERE status = 'superseded'`));
      if (Number(row?.n) === ids.length) break;
      await sleep(100);
    }
    for (const id of ids.slice(0, 5)) {
      const { attempts, events } = await b.jl.ledger.getJobDetail(id);
      expect(attempts.map((a) => [a.number, a.status, a.pid])).toEqual([
        [1, 'superseded', frozen.pid],
        [2, 'succeeded', rescuer.pid],
      ]);
      expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.stalled', 'job.started', 'job.completed', 'job.superseded']);
    }
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expectClean('paused worker (SIGSTOP past its locks, then SIGCONT)', b, report);
    await Promise.all([frozen.close(), rescuer.close()]);
    await b.close();
  });
});
