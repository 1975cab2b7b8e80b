/**
 * Fault scenario: PostgreSQL down for longer than calls wait for it (`JOBLEDGER_DATABASE_RETRY_MS`,
 * 0.3 s here against an outage of about 6 s; a private cluster of the test's own). What cannot wait
 * any longer fails in the designed way, never by crashing:
 *   - an enqueue throws `JOBLEDGER_DATABASE_UNAVAILABLE` (retryable) and leaves nothing behind;
 *   - a delivery that cannot record its attempt's start goes back to Redis unstarted, again and
 *     again, spending none of the job's attempts (three would fail it in BullMQ otherwise);
 *   - an attempt whose outcome cannot be written is left to BullMQ's stall recovery and runs again
 *     once the database is back, the lost attempt recorded `stalled`.
 * The worker process is never restarted, reports itself not ready meanwhile, and every acknowledged
 * job completes exactly once.
 */
import { Queue } from 'bullmq';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseHealth, workersHealthKey } from '../../src/workers/consumer-watchdog.js';
import { startPrivatePostgres } from '../support/fault/private-postgres.js';
import { expectClean, openFaultBackend } from '../support/fault/scenario.js';

describe('PostgreSQL down for longer than calls wait for it', () => {
  it('enqueue fails coded and retryable, deliveries go back unstarted, lost outcomes run again; nothing lost', async () => {
    const server = await startPrivatePostgres();
    const url = await server.createDatabase('jobledger_long_outage');
    const b = await openFaultBackend('postgresql', { DATABASE_URL: url, JOBLEDGER_DATABASE_RETRY_MS: '300' });
    const worker = await b.startWorker({ concurrency: 5 });
    const ids = await b.enqueueMany(40, (i) => ({ action: 'sleep', ms: 800, tag: `long-${i}` }));
    for (;;) {
      if ((await b.jl.ledger.countJobsByStatus()).running >= 5) break;
      await sleep(50);
    }

    await server.stop();
    const stoppedAt = Date.now();
    const refused = await b.jl.enqueue('test.scripted', { action: 'succeed', tag: 'during' }).then(
      () => undefined,
      (error: unknown) => error as { code?: string; retryable?: boolean },
    );
    let unready = false;
    while (Date.now() - stoppedAt < 6000) {
      const entries = await b.redis.withClient((redis) => redis.hvals(workersHealthKey(b.config.redisPrefix)));
      unready ||= entries.map(parseHealth).some((h) => h?.ready === false && h.database.state === 'unreachable');
      await sleep(200);
    }
    await server.start();

    // No reconcile: a job whose deliveries had failed in BullMQ (its attempts spent on starts that
    // could not be recorded) would wait for it; handed back unstarted, every job runs by itself.
    await b.waitAllFinal({ timeoutMs: 30_000 });
    const report = await b.check();
    const [row] = await b.jl.ledger.read((sql) => sql.all(`SELECT COUNT(*) AS n FROM attempts WHERE status = 'stalled'`));
    const stalled = Number(row?.n);
    // What BullMQ counted: one attempt made per job, its completion. A delivery that failed because
    // the database was down would have counted one more.
    const attemptsMade = await b.redis.withClient(async (connection) => {
      const queue = new Queue('default', { connection, prefix: b.config.redisPrefix });
      try {
        return await Promise.all(ids.map(async (id) => (await queue.getJob(id))?.attemptsMade));
      } finally {
        await queue.close();
      }
    });

    expect(refused, 'an enqueue during the outage').toMatchObject({ code: 'JOBLEDGER_DATABASE_UNAVAILABLE', retryable: true });
    expect(unready, 'the worker published itself not ready').toBe(true);
    expect(worker.lines()).toContain('READY');
    expect(await Promise.race([worker.exited, sleep(100, 'alive')])).toBe('alive');
    expect(report.byStatus).toEqual({ completed: ids.length });
    expect(new Set(attemptsMade)).toEqual(new Set([1]));
    // Only attempts whose outcome was lost ran again: at most the five running at the stop.
    expect(stalled).toBeLessThanOrEqual(5);
    expectClean('PostgreSQL down longer than calls wait', b, report, { downMs: 6000, stalledAttempts: stalled, processesExited: 0 });
    await worker.close();
    await b.close();
    await server.close();
  }, 120_000);
});
