/**
 * Fault scenario: PostgreSQL connections terminated under load, on PostgreSQL (what a restart, a
 * failover, a pooler or an idle timeout does to a client). A random half of the test database's
 * server processes is terminated every 0.2-1 s (`pg_terminate_backend`, this database only), and
 * every few seconds Redis drops every client (`CLIENT KILL`, on the scenario's private Redis),
 * while two worker processes run jobs, a producer process enqueues one job at a time, the test
 * enqueues in bulk and through its own transactions, and maintenance runs every few seconds. No
 * process may exit, every acknowledged job completes exactly once, and the checker reads zero.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { startChildProducer } from '../support/child-worker.js';
import { testPostgresAdminUrl } from '../support/services.js';
import { startBackendKiller } from '../support/fault/backend-killer.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';
import { supervise } from '../support/fault/supervisor.js';
import { chaosMaintenance, enqueueLoops } from '../support/fault/load.js';

function databaseOf(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1));
}

describe('PostgreSQL connections terminated under load', () => {
  it('no process exits, every acknowledged job completes once, the checker reads zero', async () => {
    const b = await openFaultBackend('postgresql', chaosMaintenance);
    const database = databaseOf(b.config.database.url);
    const supervisor = await supervise(b, 2, { concurrency: 10 });
    b.jl.maintenance.start();
    const killer = await startBackendKiller({ adminUrl: await testPostgresAdminUrl(), database, intervalMs: [200, 1000], share: 0.5 });
    let redisKills = 0;
    let chaos = true;
    const redisKiller = (async () => {
      while (chaos) {
        await sleep(between(2000, 4000));
        if (!chaos) break;
        await b.redis.withClient(async (redis) => {
          redisKills += Number(await redis.client('KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
          redisKills += Number(await redis.client('KILL', 'TYPE', 'pubsub'));
        });
      }
    })();

    const singles = scaled(200);
    const producer = await startChildProducer(b.config, {
      REDIS_URL: b.redis.url,
      PRODUCER_JOBS: String(singles),
      PRODUCER_TAG: 'single',
      PRODUCER_PAYLOAD: JSON.stringify({ action: 'sleep', ms: 20 }),
    });
    const loops = await enqueueLoops(b, { bulks: scaled(10), bulkSize: 40, transactions: scaled(80), transactionSize: 2, pauseMs: [50, 250] });
    const producerExit = await producer.exited;
    await sleep(1000); // the last jobs run under the same faults
    chaos = false;
    const { terminated } = await killer.stop();
    await redisKiller;

    for (const line of producer.lines()) if (line.startsWith('ACK ')) b.acknowledged.add(line.split(' ')[2]!);
    await b.waitAllFinal({ timeoutMs: 90_000, onPoll: () => b.reconcile({ allowFailure: true }) });
    const report = await b.check({ inFlightTags: loops.inFlightTags });
    const exits = supervisor.restarts;
    const figures = {
      backendsTerminated: terminated,
      redisClientsKilled: redisKills,
      processesExited: exits + (producerExit.code === 0 ? 0 : 1),
      jobsFailed: report.byStatus.failed ?? 0,
      acknowledged: b.acknowledged.size,
      producerErrors: loops.errors,
    };
    expect(producerExit, `the producer process ran to its end; stderr:\n${producer.stderr()}`).toEqual({ code: 0, signal: null });
    expect(producer.lines()).toContain('DONE');
    expect(exits, 'worker processes exited (the supervisor restarted them)').toBe(0);
    expect(terminated, 'the faults must land').toBeGreaterThan(20);
    expect(loops.unexpectedErrors).toEqual([]);
    expect(b.acknowledged.size).toBeGreaterThanOrEqual(singles + loops.acknowledged);
    expect(report.byStatus).toEqual({ completed: report.jobs });
    expectClean('PostgreSQL backends terminated under load', b, report, figures);
    await supervisor.stop();
    await b.close();
  }, 240_000);
});
