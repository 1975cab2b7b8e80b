/**
 * examples/transactional-app, installed from the packed package and run as written, on SQLite and
 * PostgreSQL: an order placed in the app's own MikroORM transaction commits with its confirmation
 * job (a ledger row, a Redis key, and the job completes under the example's worker); an order whose
 * transaction throws leaves no order, no job, no event and no Redis key. Its code type-checks
 * against the package's published types.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { JobLedger } from '../src/index.js';
import { backends, testConfig } from './support/backends.js';
import { waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';
import { installExample, startScript, type PackedApp } from './support/packed-app.js';
import { openRedisProbe } from './support/redis.js';

let app: PackedApp;

beforeAll(async () => {
  app = await installExample('transactional-app');
}, 300_000);

it('type-checks against the packed package (the README shows its code)', async () => {
  const checked = await startScript(app, 'typecheck', [], {}).exited;
  expect(checked, checked.stdout + checked.stderr).toMatchObject({ code: 0 });
}, 120_000);

describe.each(backends)('the transactional example app on %s', (dialect) => {
  it('commits an order with its job, and a declined order leaves nothing', async () => {
    const config = await testConfig(dialect);
    const env = {
      DATABASE_URL: config.database.url,
      REDIS_URL: config.redisUrl,
      JOBLEDGER_REDIS_PREFIX: config.redisPrefix,
      LOG_LEVEL: 'silent',
    };

    // The example migrates both its own tables and the ledger's on first use.
    const placed = await startScript(app, 'place-order', ['ada@example.com', '4200'], env).exited;
    expect(placed, placed.stderr).toMatchObject({ code: 0 });
    const { orderId, jobId } = JSON.parse(placed.stdout.trim().split('\n').at(-1)!) as { orderId: string; jobId: string };

    const jl = track(await JobLedger.open({ config, jobs: [] }), 'JobLedger');
    const redis = openRedisProbe(jl);
    const orders = () => jl.ledger.read((sql) => sql.all('SELECT id, email, total_cents FROM orders'));
    const count = async (table: string) => Number((await jl.ledger.read((sql) => sql.all(`SELECT count(*) AS n FROM ${table}`)))[0]!.n);

    expect(await orders()).toEqual([{ id: orderId, email: 'ada@example.com', total_cents: 4200 }]);
    const committed = await jl.ledger.getJobDetail(jobId);
    expect(committed.job).toMatchObject({ name: 'orders.send-confirmation', status: 'queued', payload: { orderId, to: 'ada@example.com' } });
    const keysAfterCommit = (await redis.keys()).sort();
    expect(keysAfterCommit).toContain(`${config.redisPrefix}:${committed.job.queue}:${jobId}`);
    const eventsAfterCommit = await count('events');

    const declined = await startScript(app, 'place-order', ['bob@example.com', '999', '--decline'], env).exited;
    expect(declined, declined.stderr).toMatchObject({ code: 2 });
    expect(JSON.parse(declined.stdout.trim().split('\n').at(-1)!)).toEqual({ declined: 'payment declined' });
    expect(await orders()).toEqual([{ id: orderId, email: 'ada@example.com', total_cents: 4200 }]);
    expect(await count('jobs')).toBe(1);
    expect(await count('events')).toBe(eventsAfterCommit);
    expect((await redis.keys()).sort()).toEqual(keysAfterCommit);

    // The example's worker (`jobledger worker` with its configuration module) runs the job, and
    // drains on SIGTERM.
    const worker = startScript(app, 'worker', [], env);
    try {
      await waitForStatus(jl, jobId, 'completed', 60_000);
      expect((await jl.ledger.getJobDetail(jobId)).job.result).toEqual({ sentTo: 'ada@example.com' });
      worker.child.kill('SIGTERM');
      const stopped = await worker.exited;
      expect(stopped, stopped.stderr).toMatchObject({ code: 0, signal: null });
    } finally {
      if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
      await redis.close();
      await jl.close();
    }
  }, 240_000);
});
