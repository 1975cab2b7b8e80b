/**
 * A worker whose Redis password is rotated under it (CONFIG SET requirepass, then every client
 * connection killed, as an operator does after a leak): a real worker process at LOG_LEVEL=debug,
 * on a private redis-server with `requirepass`. Every line it logs is scanned for the password;
 * the lines about the refused password are counted (logged once, then once per interval with the
 * count, never once per reconnection); SIGTERM ends it within the grace plus a few seconds, with
 * the attempt it was running recorded `interrupted` in the ledger.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { RedisAuthError } from '../../src/errors.js';
import { closeAfterGraceMs } from '../../src/workers/ledger-worker.js';
import { JobLedger } from '../../src/jobledger.js';
import { backends, testConfig } from '../support/backends.js';
import { startChildWorker } from '../support/child-worker.js';
import { startPrivateRedis } from '../support/fault/redis-server.js';
import { scriptedJob } from '../support/fixtures/scripted-job.js';
import { track } from '../support/leak-check.js';

const password = 'Rot4te-me-s3cr3t';
const graceMs = 2000;
const intervalMs = 1000;
/** The promise under test: the grace, the wait for BullMQ after it, and a few seconds more. */
const exitBoundMs = graceMs + closeAfterGraceMs + 5000;

interface LogLine {
  level: number;
  msg?: string;
  repeats?: number;
  err?: { message?: string };
}

describe.each(backends)('a worker whose Redis password is rotated under it, on %s', (dialect) => {
  it('never logs the password, logs the refusal once per interval with a count, and ends on SIGTERM in time', async () => {
    const redis = await startPrivateRedis({ requirepass: password });
    const config = await testConfig(dialect, {
      REDIS_URL: redis.url,
      JOBLEDGER_SHUTDOWN_GRACE_MS: String(graceMs),
      JOBLEDGER_REDIS_ERROR_LOG_INTERVAL_MS: String(intervalMs),
      JOBLEDGER_WATCHDOG_INTERVAL_MS: '250',
    });
    expect(config.redisUrl).toContain(password);
    const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, migrate: true, relay: false }), 'JobLedger');
    const worker = await startChildWorker(config, { LOG_LEVEL: 'debug', WORKER_CONCURRENCY: '2' });

    // A job that runs through the rotation and the shutdown (it honours its abort signal).
    const job = await jl.enqueue('test.scripted', { action: 'sleep-until', ms: 120_000, succeedOnAttempt: 2 });
    for (let i = 0; i < 200 && (await jl.ledger.getJob(job.id)).status !== 'running'; i++) await sleep(50);
    expect((await jl.ledger.getJob(job.id)).status).toBe('running');

    await redis.rotatePassword('the-new-one');
    const rotatedAt = Date.now();
    // Reconnections meet the new password for a while: ioredis retries every 2 s at most, on
    // every connection of the worker (consumer, its blocking copy, subscriber, watchdog).
    await sleep(6000);

    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    const exit = await Promise.race([worker.exited, sleep(exitBoundMs + 15_000, 'still running' as const)]);
    const tookMs = Date.now() - signalledAt;
    expect(exit, `the worker must exit after SIGTERM; stderr:\n${worker.stderr().slice(-3000)}`).toEqual({ code: 0, signal: null });
    expect(tookMs, 'SIGTERM must end the worker within the grace plus a few seconds').toBeLessThan(exitBoundMs);

    const raw = worker.stderr();
    const lines = raw.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(5);
    expect(raw, 'the password must appear in no log line').not.toContain(password);
    expect(raw).not.toContain(encodeURIComponent(password));

    const parsed = lines.map((l) => JSON.parse(l) as LogLine);
    expect(parsed.some((l) => l.level === 20), 'the worker logged at debug').toBe(true);
    const refusals = parsed.filter((l) => /WRONGPASS|NOAUTH/.test(l.err?.message ?? '') || /credentials/.test(l.msg ?? ''));
    const refusalsSeen = refusals.reduce((n, l) => n + 1 + (l.repeats ?? 0), 0);
    const windowS = (Date.now() - rotatedAt) / 1000;
    // Once at first, then at most one line per interval (plus the count written at close).
    expect(refusals.length, JSON.stringify(refusals.map((l) => l.msg))).toBeGreaterThanOrEqual(2);
    expect(refusals.length).toBeLessThanOrEqual(Math.ceil(windowS / (intervalMs / 1000)) + 2);
    expect(refusals.some((l) => (l.repeats ?? 0) > 0), 'a line carries the count of repeats').toBe(true);
    expect(refusalsSeen, 'many refusals, few lines').toBeGreaterThan(refusals.length);
    expect(refusals.every((l) => l.level >= 50), 'a refused password is logged as an error').toBe(true);

    // The ledger has the outcome of the attempt the shutdown stopped, whatever Redis refused.
    const detail = await jl.ledger.getJobDetail(job.id);
    expect(detail.attempts.map((a) => a.status)).toEqual(['interrupted']);

    await jl.close();
    await redis.close();
  });

  it('a worker started with a refused password fails at once, naming the authentication failure', async () => {
    const redis = await startPrivateRedis({ requirepass: password });
    const config = await testConfig(dialect, { REDIS_URL: `redis://:${password}-stale@127.0.0.1:${redis.port}` });
    const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, migrate: true, relay: false }), 'JobLedger');
    const started = await jl
      .createWorker()
      .start()
      .then(
        () => 'started',
        (error: unknown) => error,
      );
    expect(started).toBeInstanceOf(RedisAuthError);
    expect((started as RedisAuthError).code).toBe('JOBLEDGER_REDIS_AUTH_FAILED');
    expect((started as Error).message).toContain(`redis://:***@127.0.0.1:${redis.port}`);
    expect((started as Error).message).not.toContain(password);
    await jl.close();
    await redis.close();
  });
});
