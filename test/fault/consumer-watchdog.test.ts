/**
 * The consumer watchdog, against the incident users fear most: a worker that stays connected and
 * stops fetching. The proxy silences every connection the worker has (half-open sockets after a
 * network drop: no error, no close) while new connections work. Jobs then wait in Redis while the
 * worker has free slots; the watchdog notices, replaces the BullMQ worker with one on a fresh
 * connection, and the jobs complete without a restart of the process. Health shows it, in process
 * (`LedgerWorker.health()`), in Redis (the hash workers publish) and in `jobledger doctor`.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { JobLedger } from '../../src/jobledger.js';
import { parseHealth, workersHealthKey } from '../../src/workers/consumer-watchdog.js';
import { backends } from '../support/backends.js';
import { configEnv } from '../support/child-worker.js';
import { parseExposition } from '../support/exposition.js';
import { scriptedJob } from '../support/fixtures/scripted-job.js';
import { track } from '../support/leak-check.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';

const cli = fileURLToPath(new URL('../../bin/jobledger.js', import.meta.url));
const intervalMs = 250;
const stuckAfterMs = 1500;

function runDoctor(env: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [cli, 'doctor', '--json'], { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'ignore'] });
  let stdout = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout })));
}

describe.each(backends)('consumer watchdog on %s', (dialect) => {
  it('replaces a consumer that stopped fetching on a silent connection; jobs complete without a restart', async () => {
    const timings = { JOBLEDGER_WATCHDOG_INTERVAL_MS: String(intervalMs), JOBLEDGER_WATCHDOG_STUCK_AFTER_MS: String(stuckAfterMs) };
    const b = await openFaultBackend(dialect, timings);
    // The worker's Redis goes through the proxy; the test enqueues directly.
    const config = loadConfig({}, { ...configEnv(b.config), ...timings, REDIS_URL: b.proxy.url });
    const workerSide = track(await JobLedger.open({ jobs: [scriptedJob], config, relay: false }), 'worker JobLedger');
    const worker = workerSide.createWorker({ concurrency: 10 });
    await worker.start();
    const warmup = await b.enqueueMany(20, (i) => ({ action: 'succeed', tag: `w-${i}` }));
    await b.waitAllFinal();
    expect(worker.health()).toMatchObject({ status: 'ok', queues: [{ queue: 'default', replacements: 0, running: 0 }] });

    b.proxy.blackholeExisting();
    const silencedAt = Date.now();
    const ids = await b.enqueueMany(scaled(200), (i) => ({ action: 'sleep', ms: between(5, 30), tag: `wd-${i}` }));
    await b.waitAllFinal({ timeoutMs: 30_000 });
    const [firstAfter] = await b.jl.ledger.read((sql) => sql.all('SELECT MIN(started_at) AS first FROM attempts WHERE started_at > ?', [silencedAt]));
    const resumedAfterMs = Number(firstAfter?.first) - silencedAt;

    const health = worker.health();
    expect(health.queues[0]!.replacements).toBeGreaterThanOrEqual(1);
    expect(health.queues[0]!.lastReplacement?.reason).toMatch(/waiting and \d+ free slot\(s\), but nothing fetched for \d+ ms/);
    // The metric counts the same replacements, by cause.
    const metrics = parseExposition(await workerSide.metrics());
    expect(metrics.value('jobledger_watchdog_replacements_total', { queue: 'default', cause: 'not_fetching' })).toBe(health.queues[0]!.replacements);
    // The same process ran them all: nothing restarted it.
    const pids = await b.jl.ledger.read((sql) => sql.all('SELECT DISTINCT pid FROM attempts'));
    expect(pids.map((r) => Number(r.pid))).toEqual([process.pid]);

    // What it published, and what the doctor makes of it.
    await new Promise((resolve) => setTimeout(resolve, 2 * intervalMs));
    const published = await b.redis.withClient((redis) => redis.hget(workersHealthKey(b.config.redisPrefix), worker.identity.workerId));
    expect(parseHealth(published ?? '')?.queues[0]?.replacements).toBeGreaterThanOrEqual(1);
    const doctor = await runDoctor({ ...configEnv(b.config), REDIS_URL: b.redis.url });
    const checks = (JSON.parse(doctor.stdout) as { checks: { check: string; verdict: string; detail: string }[] }).checks;
    expect(checks.find((c) => c.check === `worker ${worker.identity.workerId}`)).toMatchObject({
      verdict: 'warn',
      detail: expect.stringMatching(/default: consumer replaced \dx, last because/),
    });

    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: warmup.length + ids.length });
    expectClean('watchdog: consumer silenced (half-open connections)', b, report, { resumedAfterMs, stuckAfterMs, intervalMs });
    await workerSide.close();
    // A closed worker removes its entry.
    expect(await b.redis.withClient((redis) => redis.hlen(workersHealthKey(b.config.redisPrefix)))).toBe(0);
    await b.close();
  });
});
