/**
 * Fault scenario h: a Redis configured to evict keys (`maxmemory-policy allkeys-lru`) could drop
 * queued jobs on its own. A worker refuses to start on it with a typed error naming the policy and
 * the fix — in process, in a worker process, and as `jobledger worker`; with the explicit
 * development flag it starts, warns loudly, and runs hundreds of jobs cleanly. A Redis that does not
 * allow CONFIG GET cannot be checked: the worker warns and starts.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { UnsafeRedisError } from '../../src/errors.js';
import { ensureNoEviction } from '../../src/transport/redis-policy.js';
import { createLogger } from '../../src/logger.js';
import { backends } from '../support/backends.js';
import { configEnv, startChildWorker } from '../support/child-worker.js';
import { between, expectClean, openFaultBackend, scaled } from '../support/fault/scenario.js';

const cli = fileURLToPath(new URL('../../bin/jobledger.js', import.meta.url));

/** Runs `jobledger <args>` with this environment; resolves with its exit code and stderr. */
function runCli(args: string[], env: Record<string, string>): Promise<{ code: number | null; stderr: string }> {
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [cli, ...args], { env: { ...inherited, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stderr })));
}

describe.each(backends)('fault h: bad Redis configuration on %s', (dialect) => {
  it('refuses maxmemory-policy allkeys-lru with a typed error; the flag starts it with a warning', async () => {
    const b = await openFaultBackend(dialect, {}, { redis: { maxmemoryPolicy: 'allkeys-lru' } });

    // In process: the typed error, naming the policy and the fix.
    const refused = await b.jl.createWorker().start().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(UnsafeRedisError);
    expect(refused).toMatchObject({ code: 'JOBLEDGER_UNSAFE_REDIS', maxmemoryPolicy: 'allkeys-lru' });
    expect((refused as Error).message).toMatch(/"allkeys-lru".*noeviction.*--allow-evicting-redis/);

    // A worker process exits before it is ready, saying why.
    const failed = await startChildWorker(b.config, { REDIS_URL: b.redis.url }).then(
      () => 'started',
      (error: unknown) => (error as Error).message,
    );
    expect(failed).toContain('JOBLEDGER_UNSAFE_REDIS');

    // `jobledger worker --demo` (the demo job types) exits non-zero with the one-line error.
    const env = { ...configEnv(b.config), REDIS_URL: b.redis.url, LOG_LEVEL: 'silent' };
    const command = await runCli(['worker', '--demo', '--no-maintenance'], env);
    expect(command.code).toBe(1);
    expect(command.stderr).toMatch(/^jobledger: JOBLEDGER_UNSAFE_REDIS: Redis maxmemory-policy is "allkeys-lru"/);

    // With the development flag: it starts, warns, and the ledger's promise still holds.
    const allowed = await startChildWorker(b.config, { REDIS_URL: b.redis.url, JOBLEDGER_ALLOW_EVICTING_REDIS: 'true', LOG_LEVEL: 'warn' });
    expect(allowed.stderr()).toContain('UNSAFE REDIS (allowed for development)');
    const ids = await b.enqueueMany(scaled(200), (i) => ({ action: 'sleep', ms: between(5, 30), tag: `h-${i}` }));
    await b.waitAllFinal();
    const report = await b.check();
    expect(report.byStatus).toEqual({ completed: ids.length });
    expectClean('h. Redis maxmemory-policy allkeys-lru, started with the flag', b, report);
    await allowed.close();
    await b.close();
  });

  it('warns and goes on when CONFIG GET is not allowed', async () => {
    const b = await openFaultBackend(dialect);
    await b.redis.withClient((redis) => redis.call('ACL', 'SETUSER', 'app', 'on', 'nopass', '~*', '&*', '+@all', '-config'));
    const url = b.redis.url.replace('redis://', 'redis://app@');
    const lines: string[] = [];
    const logger = createLogger(
      { logLevel: 'warn' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(chunk.toString());
          done();
        },
      }),
    );
    const redis = new Redis(url, { maxRetriesPerRequest: 1 });
    try {
      expect(await ensureNoEviction(redis, { allow: false, logger })).toEqual({ policy: undefined, verdict: 'unknown' });
    } finally {
      redis.disconnect();
    }
    expect(lines.join('')).toContain('cannot read Redis maxmemory-policy (CONFIG GET is not allowed)');

    const worker = await startChildWorker(b.config, { REDIS_URL: url });
    const ids = await b.enqueueMany(scaled(100), (i) => ({ action: 'succeed', tag: `h2-${i}` }));
    await b.waitAllFinal();
    expect((await b.check()).byStatus).toEqual({ completed: ids.length });
    await worker.close();
    await b.close();
  });
});
