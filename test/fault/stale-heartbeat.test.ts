/**
 * The reconciler's heartbeat step (store/maintenance/stale-attempts.ts), for what BullMQ's stalled
 * checker cannot see: a worker that died while Redis lost its jobs too. Running attempts whose
 * heartbeat is older than 2 x lockDurationMs, by the DATABASE's clock, are recorded `stalled`, their
 * jobs queued and handed to Redis again — unless Redis still holds the job's lock (the worker is
 * alive, only its heartbeats are late). A dry run reports and changes nothing.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Dispatcher } from '../../src/jobs/dispatcher.js';
import { createRedis } from '../../src/transport/redis-connection.js';
import { databaseNow } from '../../src/store/maintenance/stale-attempts.js';
import { reconcileRedis } from '../../src/workers/maintenance/reconcile.js';
import { heartbeatStaleMs } from '../../src/workers/maintenance/tasks.js';
import { backends } from '../support/backends.js';
import { expectClean, faultTimings, openFaultBackend, scaled } from '../support/fault/scenario.js';
import { track } from '../support/leak-check.js';

const staleMs = heartbeatStaleMs(Number(faultTimings.JOBLEDGER_LOCK_DURATION_MS));

describe.each(backends)('reconciler: attempts whose heartbeat died, on %s', (dialect) => {
  it('recovers the jobs of a dead worker that Redis lost as well; a dry run changes nothing', async () => {
    const b = await openFaultBackend(dialect);
    const worker = await b.startWorker({ concurrency: scaled(50) });
    // Attempt 1 hangs (ignoring its signal) until the process dies; attempt 2 succeeds.
    const ids = await b.enqueueMany(scaled(50), (i) => ({ action: 'hang-until', succeedOnAttempt: 2, tag: `hb-${i}` }));
    for (;;) {
      if ((await b.jl.ledger.countJobsByStatus()).running === ids.length) break;
      await sleep(50);
    }
    worker.kill('SIGKILL');
    await worker.exited;
    const killedAt = Date.now();
    await b.redis.flushAll(); // and Redis forgets every job: no stalled checker will ever see them

    // Fresh heartbeats are nobody's business yet.
    expect(await b.reconcile()).toMatchObject({ staleAttempts: 0, staleRecovered: 0 });
    await sleep(staleMs + 100);
    const dry = await b.jl.maintenance.run('reconcile', { dryRun: true });
    expect(dry.counts).toMatchObject({ staleAttempts: ids.length, staleAlive: 0, staleRecovered: 0, redispatched: 0 });
    expect((await b.jl.ledger.countJobsByStatus()).running).toBe(ids.length);

    const real = await b.reconcile();
    expect(real).toMatchObject({ staleAttempts: ids.length, staleAlive: 0, staleRecovered: ids.length, redispatched: ids.length });
    expect((await b.jl.ledger.countJobsByStatus()).queued).toBe(ids.length);
    const { events } = await b.jl.ledger.getJobDetail(ids[0]!);
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started', 'job.stalled']);
    expect(events[2]!.payload).toMatchObject({ attempt: 1, detectedBy: 'reconciler' });

    const rescuer = await b.startWorker();
    await b.waitAllFinal();
    const [first] = await b.jl.ledger.read((sql) => sql.all('SELECT MAX(started_at) AS last FROM attempts WHERE number = 2'));
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expect(report.attempts).toEqual({ stalled: ids.length, succeeded: ids.length });
    expectClean('reconcile: dead worker + Redis flushed (heartbeat step)', b, report, {
      killToLastRestartMs: Number(first?.last) - killedAt,
      heartbeatStaleMs: staleMs,
    });
    await rescuer.close();
    await b.close();
  });

  it('leaves alone a running attempt whose heartbeat is late while Redis still holds its lock', async () => {
    const b = await openFaultBackend(dialect);
    const worker = await b.startWorker({ concurrency: 20 });
    const ids = await b.enqueueMany(20, (i) => ({ action: 'sleep', ms: 3000, tag: `alive-${i}` }));
    for (;;) {
      if ((await b.jl.ledger.countJobsByStatus()).running === ids.length) break;
      await sleep(50);
    }
    // The heartbeats are made to look ancient, as if the worker could not reach the database.
    await b.jl.ledger.transaction((sql) => sql.run(`UPDATE attempts SET heartbeat_at = heartbeat_at - 600000 WHERE status = 'running'`));
    const counts = await b.reconcile();
    expect(counts).toMatchObject({ staleRecovered: 0 });
    expect(counts?.staleAlive).toBe(counts?.staleAttempts);
    await b.waitAllFinal();
    const report = await b.check();
    expect(report.attempts).toEqual({ succeeded: ids.length });
    expectClean('reconcile: late heartbeats, lock held (left alone)', b, report);
    await worker.close();
    await b.close();
  });

  it('measures staleness on the database clock, not the reconciling process clock', async () => {
    const b = await openFaultBackend(dialect);
    expect(Math.abs((await databaseNow(b.jl.ledger)) - Date.now())).toBeLessThan(1000);
    const worker = await b.startWorker();
    const [id] = await b.enqueueMany(1, () => ({ action: 'sleep', ms: 2000, tag: 'clock' }));
    for (;;) {
      if ((await b.jl.ledger.getJob(id!)).status === 'running') break;
      await sleep(50);
    }
    // A reconciler whose own clock runs an hour ahead still sees a fresh heartbeat.
    const connection = createRedis(b.config.redisUrl, 'producer');
    const dispatcher = track(new Dispatcher({ ledger: b.jl.ledger, connection, prefix: b.config.redisPrefix, logger: b.jl.logger }), 'Dispatcher');
    const counts = await reconcileRedis(
      { ledger: b.jl.ledger, dispatcher, queues: ['default'], logger: b.jl.logger },
      { now: Date.now() + 3_600_000, heartbeatStaleMs: staleMs },
    );
    expect(counts).toMatchObject({ staleAttempts: 0, staleRecovered: 0 });
    await dispatcher.close();
    connection.disconnect();
    await b.waitAllFinal();
    await worker.close();
    await b.close();
  });
});
