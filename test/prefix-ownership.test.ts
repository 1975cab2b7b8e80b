/**
 * A ledger owns its Redis prefix: the first worker or producer claims it for the ledger's identity,
 * one of another ledger (another database) on the same prefix refuses with a coded error naming
 * both, and the doctor shows the owner. Each ledger on its own prefix works, and the same ledger
 * opened again is welcome on its own prefix.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { JobLedger } from '../src/jobledger.js';
import { RedisPrefixTakenError } from '../src/errors.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends, testConfig } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));

describe.each(backends)('the Redis prefix of a ledger on %s', (dialect) => {
  it('is refused to a second ledger, named in the error and by the doctor, and free for the same ledger again', async () => {
    const first = await testConfig(dialect);
    const second = await testConfig(dialect, { JOBLEDGER_REDIS_PREFIX: first.redisPrefix });
    expect(second.database.url).not.toBe(first.database.url);

    const owner = track(await JobLedger.open({ jobs: [scriptedJob], config: first, migrate: true }), 'JobLedger(first)');
    await owner.createWorker().start();
    const ownerId = await owner.ledger.identity();
    expect(ownerId).toMatch(/^ldg_[0-9A-Z]{26}$/);

    // A producer of the second ledger refuses at open, naming both ledgers and the fix.
    const refused = await JobLedger.open({ jobs: [scriptedJob], config: second, migrate: true }).then(
      (jl) => jl.close().then(() => undefined),
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(RedisPrefixTakenError);
    expect((refused as RedisPrefixTakenError).code).toBe('JOBLEDGER_REDIS_PREFIX_TAKEN');
    const message = (refused as Error).message;
    expect(message).toContain(ownerId);
    expect(message).toContain('set JOBLEDGER_REDIS_PREFIX');
    const otherId = (refused as RedisPrefixTakenError).ours.ledger;
    expect(otherId).toMatch(/^ldg_/);
    expect(otherId).not.toBe(ownerId);
    expect(message).toContain(otherId);

    // Its worker refuses to start too (opened without job types, which claims nothing, then given one).
    const reader = track(await JobLedger.open({ jobs: [], config: second }), 'JobLedger(second, no job types)');
    expect(await reader.ledger.identity()).toBe(otherId);
    reader.registry.add(scriptedJob);
    await expect(reader.createWorker().start()).rejects.toMatchObject({ code: 'JOBLEDGER_REDIS_PREFIX_TAKEN' });

    // The doctor of the second ledger shows who holds the prefix.
    const doctor = await promisify(execFile)(process.execPath, [bin, 'doctor', '--json'], { env: { PATH: process.env.PATH ?? '', ...configEnv(second) } }).catch(
      (error: { stdout: string }) => error,
    );
    const checks = (JSON.parse(doctor.stdout) as { checks: { check: string; verdict: string; detail: string }[] }).checks;
    expect(checks.find((c) => c.check === 'redis prefix owner')).toMatchObject({ verdict: 'fail', detail: expect.stringContaining(`belongs to ledger ${ownerId}`) as unknown });

    // On a prefix of its own, the second ledger works.
    const own = track(
      await JobLedger.open({ jobs: [scriptedJob], config: await testConfig(dialect, { DATABASE_URL: second.database.url }) }),
      'JobLedger(second, own prefix)',
    );
    await own.createWorker().start();
    const { id } = await own.enqueue('test.scripted', { action: 'succeed', result: 'own prefix' });
    expect((await waitForStatus(own, id, 'completed')).result).toBe('own prefix');

    // The first ledger opened again (another process of it) is welcome on its prefix.
    const again = track(await JobLedger.open({ jobs: [scriptedJob], config: first }), 'JobLedger(first, again)');
    await again.createWorker().start();
    const done = await again.enqueue('test.scripted', { action: 'succeed', result: 'same ledger' });
    expect((await waitForStatus(again, done.id, 'completed')).result).toBe('same ledger');

    await Promise.all([own.close(), again.close(), reader.close()]);
    await owner.close();
  });
});
