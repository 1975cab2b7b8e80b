/**
 * Fault scenario e: enqueue while Redis is down. The producer fails fast instead of queueing
 * commands: enqueue commits the job to the ledger and returns it `pending` (the outbox), and the
 * relay hands it over once Redis is back. Two outages:
 *   - a blackhole (the proxy accepts and never answers): only a timeout can tell, once; after it
 *     the dispatcher treats Redis as down until a fresh connection is ready;
 *   - a stopped Redis (connections refused): known at once.
 * The producer is a second JobLedger in the test process whose Redis goes through the proxy; its
 * relay is the only one running (the scenario's own JobLedger runs none).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { JobLedger } from '../../src/jobledger.js';
import { loadConfig } from '../../src/config.js';
import { backends } from '../support/backends.js';
import { configEnv, type ChildWorker } from '../support/child-worker.js';
import { scriptedJob } from '../support/fixtures/scripted-job.js';
import { track } from '../support/leak-check.js';
import { between, expectClean, openFaultBackend, scaled, type FaultBackend } from '../support/fault/scenario.js';

/** The producer's hand-over gives up after this long on a silent Redis (Dispatcher default). */
const dispatchTimeoutMs = 5000;

async function openProducer(b: FaultBackend): Promise<JobLedger> {
  const config = loadConfig({}, { ...configEnv(b.config), REDIS_URL: b.proxy.url });
  return track(await JobLedger.open({ jobs: [scriptedJob], config }), 'producer JobLedger');
}

/** Enqueues one job at a time, as a request handler would; returns ids, statuses and the slowest call. */
async function enqueueOneByOne(b: FaultBackend, producer: JobLedger, count: number, tag: string) {
  const statuses: Record<string, number> = {};
  const durations: number[] = [];
  for (let i = 0; i < count; i++) {
    const startedAt = Date.now();
    const job = await producer.enqueue('test.scripted', { action: 'sleep', ms: between(10, 50), tag: `${tag}-${i}` });
    durations.push(Date.now() - startedAt);
    b.acknowledged.add(job.id);
    statuses[job.status] = (statuses[job.status] ?? 0) + 1;
  }
  return { statuses, first: durations[0] ?? 0, slowestAfterFirst: Math.max(0, ...durations.slice(1)) };
}

describe.each(backends)('fault e: enqueue while Redis is down on %s', (dialect) => {
  it('returns pending at once while Redis is blackholed or stopped; the relay hands over after recovery', async () => {
    const b = await openFaultBackend(dialect, {}, { relay: false });
    const workers: ChildWorker[] = await Promise.all([b.startWorker(), b.startWorker()]);
    const producer = await openProducer(b);

    const before = await enqueueOneByOne(b, producer, scaled(50), 'e-before');
    expect(before.statuses).toEqual({ queued: scaled(50) });

    // 1. Blackhole: the first enqueue waits out the hand-over timeout once; the rest return at once.
    b.proxy.blackhole();
    const blackholed = await enqueueOneByOne(b, producer, scaled(150), 'e-blackhole');
    expect(blackholed.statuses).toEqual({ pending: scaled(150) });
    expect(blackholed.first).toBeLessThan(dispatchTimeoutMs + 1000);
    expect(blackholed.slowestAfterFirst).toBeLessThan(500);
    await sleep(300);
    expect((await b.jl.ledger.countJobsByStatus()).pending).toBe(scaled(150)); // committed, and the relay cannot reach Redis
    b.proxy.restore();
    await b.waitAllFinal();

    // 2. A stopped Redis: known at once, every enqueue returns pending.
    await b.redis.kill();
    await sleep(200); // the connections see the close
    const stopped = await enqueueOneByOne(b, producer, scaled(150), 'e-stopped');
    expect(stopped.statuses).toEqual({ pending: scaled(150) });
    expect(Math.max(stopped.first, stopped.slowestAfterFirst)).toBeLessThan(500);
    const downAt = Date.now();
    await b.redis.restart();
    await b.waitAllFinal();
    const handedOver = await b.jl.ledger.read((sql) => sql.all(`SELECT MAX(dispatched_at) AS last FROM jobs`));
    const relayMs = Number(handedOver[0]?.last) - downAt;

    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: b.acknowledged.size });
    expectClean('e. enqueue while Redis is down (blackhole, stopped)', b, report, {
      blackholeFirstEnqueueMs: blackholed.first,
      slowestEnqueueWhileDownMs: Math.max(blackholed.slowestAfterFirst, stopped.first, stopped.slowestAfterFirst),
      lastHandOverAfterRestartMs: relayMs,
    });
    await producer.close();
    await Promise.all(workers.map((w) => w.close()));
    await b.close();
  });
});
