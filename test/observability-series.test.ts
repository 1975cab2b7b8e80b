/**
 * The metrics that follow events rather than the ledger's counts, scraped over HTTP from a real
 * worker's `/metrics` and checked against the ledger: pickup latency (one observation per attempt
 * started), group-commit commit durations (one per batch), maintenance ticks by task and outcome,
 * the attempt histograms kept only once someone reads the metrics,
 * and, with no worker running, the relay's backlog, attempts past their lock and what reconcile
 * finds Redis and the ledger disagree on.
 */
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { JobLedger } from '../src/jobledger.js';
import { backends } from './support/backends.js';
import { parseExposition, scrape } from './support/exposition.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';
import { openQueue } from './support/redis.js';
import { testRedisUrl } from './support/services.js';

describe.each(backends)('event-fed metrics on %s', (dialect) => {
  it('counts one pickup latency per attempt started, one commit duration per batch, and maintenance ticks by outcome', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob], env: { JOBLEDGER_METRICS_CACHE_MS: '0' } });
    try {
      const worker = jl.createWorker({ concurrency: 4 });
      await worker.start();
      const server = await jl.serveMetrics({ port: 0 });
      const jobs = [
        ...(await Promise.all([1, 2, 3].map(() => jl.enqueue('test.scripted', { action: 'succeed' })))),
        await jl.enqueue('test.scripted', { action: 'throw-permanent' }),
        await jl.enqueue('test.scripted', { action: 'fail-until', succeedOnAttempt: 2 }),
      ];
      for (const job of jobs) await waitForStatus(jl, job.id, ['completed', 'failed']);
      await jl.maintenance.run('archive-pipelines');
      await jl.maintenance.run('archive-pipelines');
      await jl.maintenance.run('prune', { dryRun: true });

      const metrics = parseExposition((await scrape(server.port, '/metrics')).body);
      const queue = jl.registry.get('test.scripted').queue;
      const started = (await jl.ledger.listAttempts({})).length;
      expect(started).toBe(6);
      expect(metrics.types.get('jobledger_pickup_latency_seconds')).toBe('histogram');
      expect(metrics.value('jobledger_pickup_latency_seconds_count', { queue, job_type: 'test.scripted' })).toBe(started);
      expect(metrics.value('jobledger_pickup_latency_seconds_bucket', { queue, job_type: 'test.scripted', le: '+Inf' })).toBe(started);
      // Every job here was picked up well within a minute of becoming due, the retry included.
      expect(metrics.value('jobledger_pickup_latency_seconds_bucket', { queue, job_type: 'test.scripted', le: '60' })).toBe(started);
      expect(metrics.value('jobledger_pickup_latency_seconds_sum', { queue, job_type: 'test.scripted' })).toBeGreaterThanOrEqual(0);

      const batches = metrics.value('jobledger_group_commit_batches_total');
      expect(batches).toBeGreaterThan(0);
      expect(metrics.types.get('jobledger_group_commit_duration_seconds')).toBe('histogram');
      expect(metrics.value('jobledger_group_commit_duration_seconds_count')).toBe(batches);
      expect(metrics.value('jobledger_group_commit_duration_seconds_sum')).toBeGreaterThan(0);

      expect(metrics.value('jobledger_maintenance_ticks_total', { task: 'archive-pipelines', outcome: 'succeeded' })).toBe(2);
      expect(metrics.value('jobledger_maintenance_ticks_total', { task: 'prune', outcome: 'dry-run' })).toBe(1);
      expect(metrics.value('jobledger_maintenance_ticks_total', { task: 'reconcile', outcome: 'succeeded' })).toBeUndefined();
      // The watchdog replaced nothing; nothing was reconciled.
      expect(metrics.value('jobledger_watchdog_replacements_total', { queue, cause: 'not_fetching' })).toBe(0);
      expect(metrics.value('jobledger_watchdog_replacements_total', { queue, cause: 'loop_ended' })).toBe(0);
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'missing_in_redis' })).toBe(0);
      expect(metrics.value('jobledger_relay_backlog_jobs', { queue })).toBe(0);
      expect(metrics.value('jobledger_attempts_past_lock')).toBe(0);
    } finally {
      await jl.close();
    }
  });

  it('keeps the attempt histograms from the first read of the metrics when no metrics port is set', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    try {
      expect(jl.config.metricsPort).toBeNull();
      const worker = jl.createWorker({ concurrency: 2 });
      await worker.start();
      const queue = jl.registry.get('test.scripted').queue;
      const labels = { queue, job_type: 'test.scripted' };
      // The listeners run right after the histograms would have been fed: once the event is here,
      // an attempt nobody's metrics were read for has been seen (and not counted).
      const completedOnce = (id: string) =>
        new Promise<void>((resolve) => {
          const off = jl.on('job.completed', (event) => {
            if (event.jobId !== id) return;
            off();
            resolve();
          });
        });
      const unread = await jl.enqueue('test.scripted', { action: 'succeed' });
      await completedOnce(unread.id);
      const first = parseExposition(await jl.metrics());
      expect(first.value('jobledger_attempt_duration_seconds_count', { ...labels, outcome: 'completed' })).toBeUndefined();
      expect(first.value('jobledger_pickup_latency_seconds_count', labels)).toBeUndefined();
      // The group-commit figures are the ledger's own and count regardless.
      expect(first.value('jobledger_group_commit_batches_total')).toBeGreaterThan(0);

      const read = await jl.enqueue('test.scripted', { action: 'succeed' });
      await completedOnce(read.id);
      const second = parseExposition(await jl.metrics());
      expect(second.value('jobledger_attempt_duration_seconds_count', { ...labels, outcome: 'completed' })).toBe(1);
      expect(second.value('jobledger_pickup_latency_seconds_count', labels)).toBe(1);
    } finally {
      await jl.close();
    }
  });

  it('shows the relay backlog, attempts past their lock and what reconcile finds, as the ledger and Redis have them', async () => {
    // A producer whose Redis is down: its jobs stay committed and undispatched.
    const producer = await openTestJobLedger(dialect, { jobs: [scriptedJob], relay: false, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
    const config = loadConfig(
      {},
      {
        DATABASE_URL: producer.config.database.url,
        REDIS_URL: await testRedisUrl(),
        JOBLEDGER_REDIS_PREFIX: producer.config.redisPrefix,
        LOG_LEVEL: 'silent',
        JOBLEDGER_METRICS_CACHE_MS: '0',
      },
    );
    // No relay and no worker: nothing moves but what the test does.
    const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, relay: false }), 'JobLedger(metrics)');
    const queue = openQueue(jl);
    try {
      const server = await jl.serveMetrics({ port: 0 });
      const name = jl.registry.get('test.scripted').queue;
      const read = async () => parseExposition((await scrape(server.port, '/metrics')).body);

      const undispatched = [
        await producer.enqueue('test.scripted', { action: 'succeed', tag: 'u1' }),
        await producer.enqueue('test.scripted', { action: 'succeed', tag: 'u2' }),
      ];
      expect(undispatched.map((j) => j.status)).toEqual(['pending', 'pending']);
      // Committed two minutes ago, by the ledger's record: past the reconciler's grace too.
      await jl.ledger.transaction((sql) => sql.run('UPDATE jobs SET updated_at = updated_at - 120000 WHERE id = ?', [undispatched[0]!.id]));
      await jl.ledger.transaction((sql) => sql.run('UPDATE jobs SET updated_at = updated_at - 90000 WHERE id = ?', [undispatched[1]!.id]));

      // A job whose attempt began in a worker that then vanished: its heartbeat is ten minutes old.
      const abandoned = await jl.enqueue('test.scripted', { action: 'succeed', tag: 'abandoned' });
      const begun = await jl.ledger.beginAttempt(abandoned.id, { workerId: 'gone-worker', host: hostname(), pid: 1 });
      expect(begun.kind).toBe('started');
      await jl.ledger.transaction((sql) => sql.run('UPDATE attempts SET heartbeat_at = heartbeat_at - 600000 WHERE job_id = ?', [abandoned.id]));
      // A queued job Redis lost, and a Redis job the ledger never heard of.
      const lost = await jl.enqueue('test.scripted', { action: 'succeed', tag: 'lost' });
      expect(await queue.remove(lost.id)).toBe(1);
      await queue.add('test.scripted', {}, { jobId: 'job_not_in_the_ledger' });

      let metrics = await read();
      expect(metrics.value('jobledger_relay_backlog_jobs', { queue: name })).toBe(2);
      expect(await jl.ledger.countUndispatched(0)).toBe(2);
      const age = metrics.value('jobledger_relay_oldest_undispatched_age_seconds', { queue: name })!;
      expect(age).toBeGreaterThanOrEqual(120);
      expect(age).toBeLessThan(120 + 60);
      expect(metrics.value('jobledger_attempts_past_lock')).toBe(1);
      expect(await jl.ledger.countAttemptsPastLock(jl.config.lockDurationMs)).toBe(1);
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'stale_attempt' })).toBe(0);

      const reconciled = await jl.maintenance.run('reconcile');
      expect(reconciled).toMatchObject({
        outcome: 'succeeded',
        counts: { staleAttempts: 1, staleAlive: 0, staleRecovered: 1, missing: 1, outboxOverdue: 2, redisOrphans: 1 },
      });
      metrics = await read();
      expect(metrics.types.get('jobledger_reconcile_disagreements_total')).toBe('counter');
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'stale_attempt' })).toBe(1);
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'missing_in_redis' })).toBe(1);
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'undispatched' })).toBe(2);
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'unknown_in_redis' })).toBe(1);
      expect(metrics.value('jobledger_maintenance_ticks_total', { task: 'reconcile', outcome: 'succeeded' })).toBe(1);
      // Reconcile repaired what it could: the backlog went to Redis, the dead attempt is stalled.
      expect(metrics.value('jobledger_relay_backlog_jobs', { queue: name })).toBe(0);
      expect(metrics.value('jobledger_relay_oldest_undispatched_age_seconds', { queue: name })).toBe(0);
      expect(metrics.value('jobledger_attempts_past_lock')).toBe(0);

      // A dry run counts nothing.
      await queue.remove('job_not_in_the_ledger');
      await jl.maintenance.run('reconcile', { dryRun: true });
      metrics = await read();
      expect(metrics.value('jobledger_reconcile_disagreements_total', { kind: 'unknown_in_redis' })).toBe(1);
      expect(metrics.value('jobledger_maintenance_ticks_total', { task: 'reconcile', outcome: 'dry-run' })).toBe(1);
    } finally {
      await queue.close();
      await jl.close();
      await producer.close();
    }
  });
});
