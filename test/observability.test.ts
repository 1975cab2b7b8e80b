/**
 * Observability against real workers, Redis and both ledgers: `/metrics` scraped over HTTP after a
 * known workload says what the ledger says; `/health/ready` turns 503 while the database is
 * unreachable and 200 once it is back; job events arrive after their commit, and a listener that
 * throws does not stop the worker.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rename } from 'node:fs/promises';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JobLedger } from '../src/jobledger.js';
import type { JobEvent } from '../src/observability/job-events.js';
import { backends, testConfig } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { startTcpProxy } from './support/fault/tcp-proxy.js';
import { JobLedger as JobLedgerClass } from '../src/jobledger.js';
import { track } from './support/leak-check.js';
import { createLogger } from '../src/logger.js';
import { readLedgerFigures } from '../src/store/index.js';
import { testRedisUrl } from './support/services.js';
import { runDirectory, runNames } from './support/test-run.js';
import { parseExposition, scrape } from './support/exposition.js';

async function runWorkload(jl: JobLedger): Promise<void> {
  const jobs = [
    ...(await Promise.all([1, 2, 3].map(() => jl.enqueue('test.scripted', { action: 'succeed' })))),
    ...(await Promise.all([1, 2].map(() => jl.enqueue('test.scripted', { action: 'throw-permanent' })))),
    await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 2 }),
  ];
  for (const job of jobs) await waitForStatus(jl, job.id, ['completed', 'failed']);
}

describe.each(backends)('observability on %s', (dialect) => {
  it('serves /metrics whose numbers are the ledger’s after a known workload', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], env: { JOBLEDGER_METRICS_CACHE_MS: '0' } });
    const worker = jl.createWorker({ concurrency: 4 });
    await worker.start();
    const server = await jl.serveMetrics({ port: 0 });
    await runWorkload(jl);

    const scraped = await scrape(server.port, '/metrics');
    expect(scraped.status).toBe(200);
    expect(scraped.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const metrics = parseExposition(scraped.body);
    const queue = jl.registry.get('test.scripted').queue;
    const counts = await jl.ledger.countJobsByStatus();
    expect(counts).toMatchObject({ completed: 4, failed: 2 });
    for (const status of ['pending', 'queued', 'delayed', 'running', 'completed', 'failed', 'cancelled'] as const) {
      expect(metrics.value('jobledger_jobs', { queue, status }), status).toBe(counts[status]);
    }
    const attempts = await jl.ledger.listAttempts({});
    const byStatus = (s: string) => attempts.filter((a) => a.status === s).length;
    expect(byStatus('succeeded')).toBe(4);
    expect(byStatus('failed')).toBe(3);
    expect(metrics.value('jobledger_attempts_total', { status: 'succeeded' })).toBe(4);
    expect(metrics.value('jobledger_attempts_total', { status: 'failed' })).toBe(3);
    expect(metrics.value('jobledger_attempts_total', { status: 'stalled' })).toBe(0);
    expect(metrics.types.get('jobledger_attempts_total')).toBe('counter');
    // The histogram counts this process's committed outcomes.
    expect(metrics.value('jobledger_attempt_duration_seconds_count', { queue, job_type: 'test.scripted', outcome: 'completed' })).toBe(4);
    expect(metrics.value('jobledger_attempt_duration_seconds_count', { queue, job_type: 'test.scripted', outcome: 'failed' })).toBe(2);
    expect(metrics.value('jobledger_attempt_duration_seconds_count', { queue, job_type: 'test.scripted', outcome: 'retry_scheduled' })).toBe(1);
    expect(metrics.value('jobledger_attempt_duration_seconds_bucket', { queue, job_type: 'test.scripted', outcome: 'completed', le: '+Inf' })).toBe(4);
    expect(metrics.types.get('jobledger_attempt_duration_seconds')).toBe('histogram');
    expect(metrics.value('jobledger_oldest_waiting_job_age_seconds', { queue, status: 'queued' })).toBe(0);
    expect(metrics.value('jobledger_ledger_up')).toBe(1);
    expect(metrics.value('jobledger_worker_attempts_running')).toBe(0);
    expect(metrics.value('jobledger_event_loop_delay_max_seconds')).toBeGreaterThanOrEqual(0);
    expect(metrics.value('process_resident_memory_bytes')).toBeGreaterThan(0);

    // SQLite reads in rowid ranges: ranges of 2 rows count what one statement counts.
    const sort = (f: Awaited<ReturnType<typeof readLedgerFigures>>) => ({ ...f, jobs: [...f.jobs].sort((a, b) => a.status.localeCompare(b.status)) });
    const figuresOptions = { lockDurationMs: jl.config.lockDurationMs };
    const whole = sort(await readLedgerFigures((work) => jl.ledger.read(work), 'postgresql', figuresOptions));
    expect(sort(await readLedgerFigures((work) => jl.ledger.read(work), dialect, figuresOptions, 2))).toEqual(whole);
    expect(whole.attempts).toEqual({ succeeded: 4, failed: 3 });

    const live = await scrape(server.port, '/health/live');
    expect(live.status).toBe(200);
    expect(await scrape(server.port, '/healthz')).toEqual(live);
    const ready = await scrape(server.port, '/health/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({
      status: 'ready',
      database: { ok: true },
      redis: { ok: true },
      schema: { ok: true },
      workers: { ok: true },
      consumers: { ok: true },
    });
    expect(await scrape(server.port, '/readyz')).toEqual(ready);
    expect((await scrape(server.port, '/nope')).status).toBe(404);
    await jl.close();
    // Closing the JobLedger closed its server.
    await expect(fetch(`http://127.0.0.1:${server.port}/health/live`)).rejects.toThrow();
  });

  it('answers /health/ready 503 with the reason while the database is unreachable, and 200 once it is back', async () => {
    let config = await testConfig(dialect);
    const proxy = dialect === 'postgresql' ? await startTcpProxy(Number(new URL(config.database.url).port || 5432)) : undefined;
    if (proxy) {
      const url = new URL(config.database.url);
      url.port = String(proxy.port);
      config = await testConfig(dialect, { DATABASE_URL: url.toString(), JOBLEDGER_REDIS_PREFIX: config.redisPrefix });
    }
    const jl = track(await JobLedgerClass.open({ jobs: [scriptedJob], config, migrate: true, relay: false }), 'JobLedger');
    const worker = jl.createWorker({ concurrency: 1 });
    await worker.start();
    const server = await jl.serveMetrics({ port: 0 });
    const ready = await scrape(server.port, '/health/ready');
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toMatchObject({ status: 'ready', database: { ok: true }, redis: { ok: true }, workers: { ok: true } });

    const sqlitePath = config.database.sqlitePath;
    if (proxy) proxy.blackhole();
    else await rename(sqlitePath!, `${sqlitePath!}.away`);
    const down = await scrape(server.port, '/health/ready');
    expect(down.status).toBe(503);
    const body = JSON.parse(down.body) as { status: string; database: { ok: boolean; error: string }; redis: { ok: boolean } };
    expect(body).toMatchObject({ status: 'not ready', database: { ok: false }, redis: { ok: true } });
    expect(body.database.error).toMatch(dialect === 'sqlite' ? /file is gone/ : /no answer within/);
    // Liveness does not depend on the database.
    expect((await scrape(server.port, '/health/live')).status).toBe(200);

    if (proxy) proxy.restore();
    else await rename(`${sqlitePath!}.away`, sqlitePath!);
    await waitFor(async () => ((await scrape(server.port, '/health/ready')).status === 200 ? true : undefined), '/health/ready 200 again');
    await jl.close();
    await proxy?.close();
  });

  it('answers /readyz and /health/ready 503 while the schema lacks a migration this version knows', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false });
    const server = await jl.serveMetrics({ port: 0 });
    const [last] = await jl.ledger.read((sql) => sql.all('SELECT * FROM jobledger_migrations ORDER BY id DESC LIMIT 1'));
    await jl.ledger.read((sql) => sql.run('DELETE FROM jobledger_migrations WHERE id = ?', [last!.id]));
    const outdated = await scrape(server.port, '/readyz');
    expect(outdated.status).toBe(503);
    expect(JSON.parse(outdated.body)).toMatchObject({ status: 'not ready', database: { ok: true }, schema: { ok: false, error: `1 migration(s) not applied: ${String(last!.name)}` } });
    expect((await scrape(server.port, '/health/ready')).status).toBe(503);
    await jl.ledger.read((sql) => sql.run('INSERT INTO jobledger_migrations (id, name, executed_at) VALUES (?, ?, ?)', [last!.id, last!.name, last!.executed_at]));
    expect((await scrape(server.port, '/readyz')).status).toBe(200);
    await jl.close();
  });

  it('delivers job events after their commit, in order, and a throwing listener does not stop the worker', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const seen: JobEvent[] = [];
    const checks: Promise<void>[] = [];
    jl.on('*', (event) => {
      seen.push(event);
      // What the event announces is in the ledger already.
      if (event.type === 'job.completed' || event.type === 'job.failed') {
        const expected = event.type === 'job.completed' ? 'completed' : 'failed';
        checks.push(jl.ledger.getJob(event.jobId).then((job) => expect(job.status).toBe(expected)));
      }
    });
    let thrown = 0;
    jl.on('job.completed', () => {
      thrown += 1;
      throw new Error('a listener that throws');
    });
    jl.on('job.failed', () => Promise.reject(new Error('a listener whose promise rejects')));
    const worker = jl.createWorker({ concurrency: 2 });
    await worker.start();
    await runWorkload(jl);
    await waitFor(() => Promise.resolve(seen.filter((e) => e.type !== 'job.started').length === 7 ? true : undefined), 'seven outcome events');
    await Promise.all(checks);
    expect(thrown).toBe(4);

    const ends = seen.filter((e) => e.type !== 'job.started');
    expect(ends.filter((e) => e.type === 'job.completed')).toHaveLength(4);
    expect(ends.filter((e) => e.type === 'job.failed')).toHaveLength(2);
    const retry = ends.find((e) => e.type === 'job.retry_scheduled');
    expect(retry).toMatchObject({ attempt: 1, name: 'test.scripted', error: { message: 'not yet (attempt 1)' } });
    for (const event of ends) expect(event.durationMs).toBeGreaterThanOrEqual(0);
    // Per job, each attempt's start comes before its end, and attempts in order.
    for (const jobId of new Set(seen.map((e) => e.jobId))) {
      const ofJob = seen.filter((e) => e.jobId === jobId).map((e) => `${e.attempt}:${e.type}`);
      const expected = ofJob.length === 4 ? ['1:job.started', '1:job.retry_scheduled', '2:job.started', '2:job.completed'] : [`1:job.started`, ofJob[1]];
      expect(ofJob).toEqual(expected);
    }
    // The worker carried on after the throwing listeners.
    const after = await jl.enqueue('test.scripted', { action: 'succeed' });
    await waitForStatus(jl, after.id, 'completed');
    expect(() => jl.on('job.nope' as 'job.failed', () => undefined)).toThrow(/JOBLEDGER_INVALID_OPTION: on: expected '\*' or a job event type .*, got "job.nope"/);
    await jl.close();
  });
});

describe.each(backends)('attempt log lines on %s', (dialect) => {
  it('writes one info line per attempt outcome, with the hostname', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = createLogger({ logLevel: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], logger });
    const worker = jl.createWorker({ concurrency: 2 });
    await worker.start();
    await runWorkload(jl);
    const finished = lines.filter((l) => l.msg === 'attempt finished');
    expect(finished).toHaveLength(7);
    for (const line of finished) {
      expect(line).toMatchObject({ level: 30, hostname: hostname(), pid: process.pid, job: 'test.scripted', queue: expect.any(String) as unknown });
      expect(typeof line.jobId).toBe('string');
      expect(typeof line.durationMs).toBe('number');
    }
    expect(finished.map((l) => l.outcome).sort()).toEqual([
      'job.completed',
      'job.completed',
      'job.completed',
      'job.completed',
      'job.failed',
      'job.failed',
      'job.retry_scheduled',
    ]);
    await jl.close();
  });
});

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('jobledger worker with JOBLEDGER_METRICS_PORT', () => {
  it('serves /metrics and the health endpoints until it is stopped', async () => {
    const port = await freePort();
    const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'worker', '--demo', '--migrate', '--no-maintenance'], {
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: `sqlite:${runDirectory()}/cli-metrics.sqlite`,
        REDIS_URL: await testRedisUrl(),
        JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}metrics-cli`,
        JOBLEDGER_METRICS_PORT: String(port),
        LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = once(child, 'exit');
    try {
      await waitFor(
        async () => ((await fetch(`http://127.0.0.1:${port}/health/ready`).catch(() => undefined))?.status === 200 ? true : undefined),
        `the worker's /health/ready (stderr: ${stderr})`,
      );
      const metrics = await scrape(port, '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('# TYPE jobledger_jobs gauge');
      expect(parseExposition(metrics.body).value('jobledger_ledger_up')).toBe(1);
    } finally {
      child.kill('SIGTERM');
      const [code] = await exited;
      expect(code).toBe(0);
    }
    await expect(fetch(`http://127.0.0.1:${port}/health/live`)).rejects.toThrow();
  });
});

describe('readiness and Redis', () => {
  it('answers /health/ready 503 while Redis does not answer, and 200 once it does', async () => {
    const redisPort = Number(new URL(await testRedisUrl()).port || 6379);
    const proxy = await startTcpProxy(redisPort);
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob], relay: false, env: { REDIS_URL: proxy.url } });
    const worker = jl.createWorker({ concurrency: 1 });
    await worker.start();
    const server = await jl.serveMetrics({ port: 0 });
    expect((await scrape(server.port, '/health/ready')).status).toBe(200);
    proxy.blackhole();
    const down = await scrape(server.port, '/health/ready');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({ status: 'not ready', database: { ok: true }, redis: { ok: false, error: expect.any(String) as unknown } });
    proxy.restore();
    await waitFor(async () => ((await scrape(server.port, '/health/ready')).status === 200 ? true : undefined), '/health/ready 200 again');
    await jl.close();
    await proxy.close();
  });
});
