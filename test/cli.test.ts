/**
 * The `jobledger` command as a user runs it: a real process on the built package (`npm test`
 * builds first), an embedded SQLite file, the local Redis with a fresh key prefix.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliEnv, distIndexUrl } from './support/cli-run.js';
import { runDirectory } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>, cwd = process.cwd()): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('the jobledger command', () => {
  it('runs the demo to the end and prints one JSON summary as its last line', async () => {
    const env = await cliEnv('cli');
    // The demo keeps to its own ledger and Redis prefix: the test names fresh ones.
    const result = await run(['demo', '--jobs', '40', '--json', '--database', env.DATABASE_URL!, '--redis-prefix', env.JOBLEDGER_REDIS_PREFIX!], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const last = result.stdout.trim().split('\n').at(-1)!;
    const summary = JSON.parse(last) as { jobs: { completed: number; failed: number; total: number }; attempts: number; events: number };
    expect(summary.jobs.total).toBe(40);
    expect(summary.jobs.completed + summary.jobs.failed).toBe(40);
    expect(summary.attempts).toBeGreaterThanOrEqual(40);
    expect(summary.events).toBeGreaterThan(summary.attempts);
  });

  it('enqueues from the command line and shows the job, after a migrate', async () => {
    const env = await cliEnv('cli');
    expect((await run(['migrate'], env)).code).toBe(0);
    const enqueued = await run(['enqueue', 'demo.noop', '--data', '{"n":1}', '--idempotency-key', 'k1'], env);
    expect(enqueued.code).toBe(0);
    const id = enqueued.stdout.trim();
    expect(id).toMatch(/^job_[0-9A-Z]{26}$/);
    const again = await run(['enqueue', 'demo.noop', '--data', '{"n":1}', '--idempotency-key', 'k1'], env);
    expect(again.stdout.trim()).toBe(id);
    const shown = await run(['show', id, '--json'], env);
    const detail = JSON.parse(shown.stdout) as { job: { id: string; payload: unknown }; events: { type: string }[] };
    expect(detail.job.payload).toEqual({ n: 1 });
    expect(detail.events.map((e) => e.type)).toEqual(['job.enqueued']);
    const listed = await run(['jobs', '--where', 'n=1', '--json'], env);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((j) => j.id)).toEqual([id]);
  });

  it('cancels a pipeline and retries it, with the reason and actor, and wants a reason', async () => {
    const env = await cliEnv('cli');
    expect((await run(['migrate'], env)).code).toBe(0);
    const started = await run(['pipelines', 'start', 'ticket', '--context', '{"ticket":{"id":"T-7","title":"cli"}}'], env);
    expect(started.code).toBe(0);
    const id = started.stdout.trim();
    const noReason = await run(['pipelines', 'cancel', id], env);
    expect(noReason.code).toBe(1);
    expect(noReason.stderr.trim().split('\n')).toHaveLength(1);
    expect(noReason.stderr).toMatch(/--reason: expected the reason for the cancel/);
    const cancelled = await run(['pipelines', 'cancel', id, '--reason', 'wrong ticket', '--actor', 'carol', '--json'], env);
    expect(cancelled.stderr).toBe('');
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id, previousStatus: 'running', status: 'failed', state: 'cancelled', jobs: [{ status: 'cancelled' }] });
    const retried = await run(['pipelines', 'retry', id, '--reason', 'right ticket', '--actor', 'carol'], env);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toMatch(/running/);
    const shown = JSON.parse((await run(['pipelines', 'show', id, '--json'], env)).stdout) as { events: { type: string; actor: string }[] };
    expect(shown.events.map((e) => [e.type, e.actor]).slice(1)).toEqual([
      ['pipeline.cancelled', 'carol'],
      ['pipeline.retried', 'carol'],
    ]);
    const again = await run(['pipelines', 'retry', id, '--reason', 'twice'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/JOBLEDGER_ILLEGAL_TRANSITION: pipeline .* is running/);
  });

  it('fails with one line on stderr and a non-zero exit code on bad input', async () => {
    const env = await cliEnv('cli');
    expect((await run(['migrate'], env)).code).toBe(0);
    const unknown = await run(['enqueue', 'no.such.job', '--data', '{}'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('JOBLEDGER_UNKNOWN_JOB');
    const badJson = await run(['enqueue', 'demo.noop', '--data', '{nope'], env);
    expect(badJson.code).toBe(1);
    expect(badJson.stderr).toContain('--data');
    const badId = await run(['show', 'job_123'], env);
    expect(badId.code).toBe(1);
    expect(badId.stderr).toContain('JOBLEDGER_INVALID_ID');
  });

  it('refuses to run on an unmigrated database and says how to fix it', async () => {
    const env = await cliEnv('cli');
    const result = await run(['jobs'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('jobledger migrate');
  });

  it('says in one line how to start Redis when a command that needs it cannot reach it', async () => {
    const env = { ...(await cliEnv('cli')), REDIS_URL: 'redis://127.0.0.1:1' };
    const result = await run(['reconcile', '--no-config'], env);
    expect(result.code).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/JOBLEDGER_REDIS_UNAVAILABLE.*redis-server/);
  });

  it('enqueues with Redis down like the library: the job is committed pending, with a warning, exit 0', async () => {
    const env = await cliEnv('cli');
    expect((await run(['migrate'], env)).code).toBe(0);
    const down = { ...env, REDIS_URL: 'redis://127.0.0.1:1' };
    const result = await run(['enqueue', 'demo.noop', '--data', '{}', '--json'], down);
    expect(result.code, result.stderr).toBe(0);
    const job = JSON.parse(result.stdout) as { id: string; status: string; created: boolean };
    expect(job).toMatchObject({ status: 'pending', created: true });
    expect(result.stderr).toBe(`warning: ${job.id} is committed but Redis did not take it (is REDIS_URL reachable?); it stays pending until a running worker's relay hands it over\n`);
    const shown = await run(['show', job.id, '--json'], env);
    expect((JSON.parse(shown.stdout) as { job: { status: string } }).job.status).toBe('pending');
    // Once Redis answers, an enqueue is handed over at once and says nothing more.
    const up = await run(['enqueue', 'demo.noop', '--data', '{}', '--json'], env);
    expect(up.stderr).toBe('');
    expect((JSON.parse(up.stdout) as { status: string }).status).toBe('queued');
  });

  it('loads job types from a jobledger.config.mjs in the working directory', async () => {
    const env = await cliEnv('cli');
    const dir = runDirectory();
    writeFileSync(
      join(dir, 'jobledger.config.mjs'),
      `import { defineJob } from ${JSON.stringify(distIndexUrl)};
import { z } from 'zod';
export const jobs = [defineJob({ name: 'app.greet', schema: z.object({ who: z.string() }), handler: (p) => 'hi ' + p.who })];
`,
    );
    // zod must resolve from the config's folder: point it at this package's node_modules.
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
    const { symlinkSync } = await import('node:fs');
    symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), join(dir, 'node_modules'));
    expect((await run(['migrate'], env, dir)).code).toBe(0);
    const ok = await run(['enqueue', 'app.greet', '--data', '{"who":"ada"}'], env, dir);
    expect(ok.code).toBe(0);
    const demoType = await run(['enqueue', 'demo.noop', '--data', '{}'], env, dir);
    expect(demoType.code).toBe(1);
    expect(demoType.stderr).toContain('app.greet');
  });
});
