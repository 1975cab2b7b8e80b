/**
 * SIGTERM ends a worker within the shutdown grace plus a few seconds whatever its Redis does, while
 * an attempt runs: Redis goes silent (a blackholed network path), Redis is gone (killed, not
 * restarted), Redis answers every write with an error (it became a read-only replica, as after a
 * botched failover). The refused password has its own test (redis-auth-rotation.test.ts). The three
 * run side by side, each with its own private Redis, worker process and ledger. The workers log at
 * `debug`: a Redis that is gone is logged once, then once per interval with a count, never once per
 * reconnection.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { DatabaseDialect } from '../../src/config.js';
import { JobLedger } from '../../src/jobledger.js';
import { closeAfterGraceMs } from '../../src/workers/ledger-worker.js';
import { backends, testConfig } from '../support/backends.js';
import { startChildWorker } from '../support/child-worker.js';
import { startPrivateRedis, type PrivateRedis } from '../support/fault/redis-server.js';
import { startTcpProxy, type TcpProxy } from '../support/fault/tcp-proxy.js';
import { scriptedJob } from '../support/fixtures/scripted-job.js';
import { track } from '../support/leak-check.js';

const graceMs = 2000;
const exitBoundMs = graceMs + closeAfterGraceMs + 5000;

type Fault = 'silent' | 'gone' | 'answers errors';

interface Outcome {
  fault: Fault;
  exit: unknown;
  tookMs: number;
  attempts: string[];
  stderr: string;
  /** From the fault to the exit. */
  windowMs: number;
}

const intervalMs = 1000;

async function shutdownUnder(dialect: DatabaseDialect, fault: Fault): Promise<Outcome> {
  const redis: PrivateRedis = await startPrivateRedis();
  const proxy: TcpProxy = await startTcpProxy(redis.port);
  const config = await testConfig(dialect, {
    REDIS_URL: redis.url,
    JOBLEDGER_SHUTDOWN_GRACE_MS: String(graceMs),
    JOBLEDGER_WATCHDOG_INTERVAL_MS: '250',
    JOBLEDGER_REDIS_ERROR_LOG_INTERVAL_MS: String(intervalMs),
  });
  const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, migrate: true, relay: false }), `JobLedger(${fault})`);
  try {
    const worker = await startChildWorker(config, { REDIS_URL: proxy.url, WORKER_CONCURRENCY: '2', LOG_LEVEL: 'debug' });
    const job = await jl.enqueue('test.scripted', { action: 'sleep-until', ms: 120_000, succeedOnAttempt: 2 });
    for (let i = 0; i < 200 && (await jl.ledger.getJob(job.id)).status !== 'running'; i++) await sleep(50);
    const faultAt = Date.now();
    if (fault === 'silent') proxy.blackhole();
    else if (fault === 'gone') await redis.kill();
    else await redis.answerWritesWithErrors();
    await sleep(1500);
    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    const exit = await Promise.race([worker.exited, sleep(exitBoundMs + 15_000, 'still running')]);
    const tookMs = Date.now() - signalledAt;
    await worker.close();
    const attempts = (await jl.ledger.getJobDetail(job.id)).attempts.map((a) => a.status);
    return { fault, exit, tookMs, attempts, stderr: worker.stderr(), windowMs: Date.now() - faultAt };
  } finally {
    await proxy.close();
    await redis.close(); // before the ledger's own connection would wait on it
    await jl.close();
  }
}

describe.each(backends)('SIGTERM under a failing Redis on %s', (dialect) => {
  it('ends the worker within the grace plus a few seconds, the running attempt recorded, a lost Redis logged once per interval', async () => {
    const outcomes = await Promise.all((['silent', 'gone', 'answers errors'] as const).map((fault) => shutdownUnder(dialect, fault)));
    for (const o of outcomes) {
      expect(o.exit, `${o.fault}: the worker must exit 0; stderr:\n${o.stderr.slice(-2000)}`).toEqual({ code: 0, signal: null });
      expect(o.tookMs, `${o.fault}: SIGTERM to exit`).toBeLessThan(exitBoundMs);
      // The ledger has the attempt's outcome whatever Redis did: none is left `running`.
      expect(o.attempts.length, o.fault).toBeGreaterThan(0);
      expect(o.attempts.filter((s) => s === 'running'), o.fault).toEqual([]);
    }
    // Every connection of the worker that lost Redis retries every 2 s at most: one line, then a count per interval.
    const gone = outcomes.find((o) => o.fault === 'gone')!;
    const lines = gone.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind?: string; msg?: string; repeats?: number });
    const connectionLines = lines.filter((l) => /^Redis connection error/.test(l.msg ?? '') || (l.kind === 'connection' && l.repeats !== undefined));
    expect(connectionLines.length).toBeGreaterThanOrEqual(1);
    expect(connectionLines.length).toBeLessThanOrEqual(Math.ceil(gone.windowMs / intervalMs) + 2);
    expect(connectionLines.some((l) => (l.repeats ?? 0) > 0), 'a line carries the count of repeats').toBe(true);
  });
});
