/**
 * Fault scenario: PostgreSQL restarted under load, the way `pg_ctlcluster ... restart` or a stop of
 * a few seconds and a start does it (mode fast: every connection terminated, new ones refused until
 * it is back). The server is a private cluster of the test's own (support/fault/private-postgres.ts;
 * the shared one on 5432 is never stopped). Two worker processes, a producer process and the test's
 * bulk and transactional enqueues and maintenance run through it. While the server is down every
 * worker publishes itself not ready, its database unreachable, and `jobledger doctor` says so; once
 * it is back they report ready again and carry on, with no process restarted. Every acknowledged
 * job completes exactly once and the checker reads zero.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { parseHealth, workersHealthKey, type PublishedHealth } from '../../src/workers/consumer-watchdog.js';
import { configEnv, startChildProducer } from '../support/child-worker.js';
import { runDoctor } from '../support/fault/doctor.js';
import { chaosMaintenance, enqueueLoops } from '../support/fault/load.js';
import { startPrivatePostgres } from '../support/fault/private-postgres.js';
import { expectClean, openFaultBackend, scaled, type FaultBackend } from '../support/fault/scenario.js';
import { supervise } from '../support/fault/supervisor.js';

/** The health every worker published, once `accept` holds for `count` of them (or undefined after `timeoutMs`). */
async function waitForHealth(b: FaultBackend, count: number, accept: (h: PublishedHealth) => boolean, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await b.redis.withClient((redis) => redis.hvals(workersHealthKey(b.config.redisPrefix)));
    const healths = entries.map(parseHealth).filter((h): h is PublishedHealth => h !== undefined);
    if (healths.filter(accept).length >= count) return healths;
    if (Date.now() > deadline) return undefined;
    await sleep(100);
  }
}

describe('a PostgreSQL restart under load', () => {
  it('workers and producers ride it out without a restart, report not ready while it lasts, and lose nothing', async () => {
    const server = await startPrivatePostgres();
    const url = await server.createDatabase('jobledger_restart');
    const b = await openFaultBackend('postgresql', { DATABASE_URL: url, ...chaosMaintenance });
    const supervisor = await supervise(b, 2, { concurrency: 10 });
    b.jl.maintenance.start();
    expect(await waitForHealth(b, 2, (h) => h.ready && h.database.state === 'ok'), 'both workers report ready').toBeDefined();

    const singles = scaled(200);
    const producer = await startChildProducer(b.config, {
      REDIS_URL: b.redis.url,
      PRODUCER_JOBS: String(singles),
      PRODUCER_TAG: 'single',
      PRODUCER_PAYLOAD: JSON.stringify({ action: 'sleep', ms: 30 }),
    });
    const loops = enqueueLoops(b, { bulks: scaled(12), bulkSize: 40, transactions: scaled(60), transactionSize: 2, pauseMs: [100, 400] });

    await sleep(2500);
    const stoppedAt = Date.now();
    await server.stop();
    // While it is down: every worker says so, and so does the doctor.
    const unready = await waitForHealth(b, 2, (h) => !h.ready && h.database.state === 'unreachable');
    const doctor = await runDoctor({ ...configEnv(b.config), REDIS_URL: b.redis.url });
    await sleep(Math.max(0, 3000 - (Date.now() - stoppedAt)));
    await server.start();
    const downMs = Date.now() - stoppedAt;
    const ready = await waitForHealth(b, 2, (h) => h.ready && h.database.state === 'ok', 30_000);

    const producerExit = await producer.exited;
    const loaded = await loops;
    for (const line of producer.lines()) if (line.startsWith('ACK ')) b.acknowledged.add(line.split(' ')[2]!);
    await b.waitAllFinal({ timeoutMs: 90_000, onPoll: () => b.reconcile({ allowFailure: true }) });
    const report = await b.check({ inFlightTags: loaded.inFlightTags });

    expect(unready, 'both workers published themselves not ready, database unreachable').toBeDefined();
    expect(doctor.checks.find((c) => c.check === 'database reachable')).toMatchObject({
      verdict: 'fail',
      detail: expect.stringContaining('JOBLEDGER_DATABASE_UNAVAILABLE') as unknown,
    });
    expect(doctor.checks.filter((c) => c.check.startsWith('worker ') && /database unreachable/.test(c.detail))).toHaveLength(2);
    expect(doctor.code).toBe(1);
    expect(ready, 'both workers report ready again').toBeDefined();
    expect(producerExit, `the producer process ran to its end; stderr:\n${producer.stderr()}`).toEqual({ code: 0, signal: null });
    expect(supervisor.restarts, 'worker processes exited (the supervisor restarted them)').toBe(0);
    expect(loaded.unexpectedErrors).toEqual([]);
    expect(report.byStatus).toEqual({ completed: report.jobs });
    expectClean('PostgreSQL restarted under load', b, report, {
      downMs,
      processesExited: supervisor.restarts + (producerExit.code === 0 ? 0 : 1),
      jobsFailed: report.byStatus.failed ?? 0,
      acknowledged: b.acknowledged.size,
      producerErrors: loaded.errors,
    });
    await supervisor.stop();
    await b.close();
    await server.close();
  }, 240_000);
});
