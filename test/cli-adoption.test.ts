/**
 * The paths a new user takes with the `jobledger` command (issue 24): a typo in DATABASE_URL never
 * creates a ledger, the demo keeps to its own job types, database and Redis prefix, a worker with
 * no configuration module refuses, and the CLI's smaller promises (`--version`, `types` with JSON
 * Schema, one-line errors, `--json` on subcommands, quiet logs). Real processes on the built package;
 * each command is a process of its own, hence the long timeouts.
 */
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { testPostgresAdminUrl, testRedisUrl } from './support/services.js';
import { runDirectory, runNames } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const distIndex = pathToFileURL(fileURLToPath(new URL('../dist/src/index.js', import.meta.url))).href;
const packageJson = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function freshPrefix(): string {
  return `${runNames().redisPrefix}adopt-${randomBytes(5).toString('hex')}`;
}

async function baseEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const dir = runDirectory();
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    REDIS_URL: await testRedisUrl(),
    JOBLEDGER_REDIS_PREFIX: freshPrefix(),
    ...extra,
  };
}

function run(args: string[], env: Record<string, string>, cwd = runDirectory()): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function lines(text: string): string[] {
  return text.split('\n').filter(Boolean);
}

/** A PostgreSQL database name of this run (removed at its end should it be created). */
function missingPostgresName(): string {
  return `${runNames().databasePrefix}missing_${randomBytes(4).toString('hex')}`;
}

async function postgresDatabaseExists(name: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: await testPostgresAdminUrl() });
  await client.connect();
  try {
    return (await client.query('select 1 from pg_database where datname = $1', [name])).rowCount === 1;
  } finally {
    await client.end();
  }
}

async function missingDatabase(dialect: (typeof backends)[number]): Promise<{ url: string; exists: () => Promise<boolean> }> {
  if (dialect === 'sqlite') {
    const path = join(runDirectory(), 'typo', 'ledger.sqlite');
    return { url: `sqlite:${path}`, exists: () => Promise.resolve(existsSync(join(path, '..')) || existsSync(path)) };
  }
  const name = missingPostgresName();
  const url = new URL(await testPostgresAdminUrl());
  url.pathname = `/${name}`;
  return { url: url.toString(), exists: () => postgresDatabaseExists(name) };
}

/** A directory with an application's configuration module (job type `app.greet`). */
function appDirectory(): string {
  const dir = runDirectory();
  writeFileSync(
    join(dir, 'jobledger.config.mjs'),
    `import { defineJob } from ${JSON.stringify(distIndex)};
import { z } from 'zod';
export const jobs = [defineJob({ name: 'app.greet', schema: z.object({ who: z.string() }), handler: (p) => 'hi ' + p.who })];
`,
  );
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  symlinkSync(fileURLToPath(new URL('../node_modules', import.meta.url)), join(dir, 'node_modules'));
  return dir;
}

describe.each(backends)('the jobledger command on %s', (dialect) => {
  it('read-only commands on a missing database create nothing and say so in one line; migrate creates it', { timeout: 240_000 }, async () => {
    const missing = await missingDatabase(dialect);
    const env = await baseEnv({ DATABASE_URL: missing.url });
    for (const args of [['jobs'], ['runs'], ['show', 'job_01JAAAAAAAAAAAAAAAAAAAAAAA'], ['pipelines'], ['maintenance'], ['retry', 'job_01JAAAAAAAAAAAAAAAAAAAAAAA', '--reason', 'x']]) {
      const result = await run(args, env);
      expect(result.code, args.join(' ')).toBe(1);
      expect(lines(result.stderr), args.join(' ')).toHaveLength(1);
      expect(result.stderr).toMatch(/^jobledger: JOBLEDGER_DATABASE_MISSING: DATABASE_URL names .* which does not exist.*jobledger migrate/);
    }
    const doctor = await run(['doctor', '--json'], env);
    expect(doctor.code).toBe(1);
    expect(doctor.stdout).toContain('JOBLEDGER_DATABASE_MISSING');
    expect(await missing.exists()).toBe(false);

    expect((await run(['migrate'], env)).code).toBe(0);
    expect(await missing.exists()).toBe(true);
    expect(await run(['jobs', '--json'], env)).toMatchObject({ code: 0, stdout: '[]\n' });
  });

  it('the demo uses its own job types, database and Redis prefix; a failed demo leaves no run open', { timeout: 240_000 }, async () => {
    const dir = appDirectory();
    // The application's ledger: DATABASE_URL names it, and the demo must not touch it.
    const appDatabase = await missingDatabase(dialect);
    const demoDatabase = await freshDatabaseUrl(dialect);
    const env = await baseEnv({ DATABASE_URL: appDatabase.url, LOG_LEVEL: 'silent' });
    const demo = await run(['demo', '--jobs', '20', '--pipelines', '1', '--database', demoDatabase, '--redis-prefix', freshPrefix(), '--json'], env, dir);
    expect(demo.stderr).toBe('');
    expect(demo.code).toBe(0);
    const summary = JSON.parse(lines(demo.stdout).at(-1)!) as { jobs: { completed: number; failed: number } };
    expect(summary.jobs.completed + summary.jobs.failed).toBe(20);
    expect(await appDatabase.exists()).toBe(false);

    // A demo that stops half-way (its payloads are over the size limit) marks its run failed.
    const failed = await run(['demo', '--jobs', '5', '--database', demoDatabase, '--redis-prefix', freshPrefix()], { ...env, JOBLEDGER_MAX_PAYLOAD_BYTES: '10' }, dir);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('JOBLEDGER_INVALID_PAYLOAD');
    const runs = await run(['runs', '--json'], { ...env, DATABASE_URL: demoDatabase }, dir);
    const listed = JSON.parse(runs.stdout) as { name: string; status: string; statusReason: string | null }[];
    expect(listed.filter((r) => r.status === 'open' || r.status === 'running')).toEqual([]);
    expect(listed.filter((r) => r.status === 'failed' && r.statusReason?.includes('JOBLEDGER_INVALID_PAYLOAD'))).toHaveLength(1);
  });
});

describe('the jobledger worker without a configuration module', () => {
  it('refuses, naming where it looked and --config; with --demo it serves the demo job types', { timeout: 240_000 }, async () => {
    const dir = runDirectory();
    const env = await baseEnv({ DATABASE_URL: `sqlite:${join(dir, 'ledger.sqlite')}`, LOG_LEVEL: 'silent' });
    expect((await run(['migrate'], env, dir)).code).toBe(0);
    const refused = await run(['worker', '--no-maintenance'], env, dir);
    expect(refused.code).toBe(1);
    expect(lines(refused.stderr)).toHaveLength(1);
    expect(refused.stderr).toContain(join(dir, 'jobledger.config.{ts,mjs,js}'));
    expect(refused.stderr).toMatch(/JOBLEDGER_CONFIG_MODULE.*--config <path>.*--demo/);
    const noConfig = await run(['--no-config', 'worker', '--no-maintenance'], env, dir);
    expect(noConfig.code).toBe(1);
    expect(noConfig.stderr).toMatch(/JOBLEDGER_CONFIG_MODULE: --no-config.*--demo/);

    // --demo: it runs a demo job to the end, then drains on SIGTERM and exits 0.
    const id = (await run(['enqueue', 'demo.noop', '--data', '{}'], env, dir)).stdout.trim();
    const worker = spawn(process.execPath, [bin, 'worker', '--demo', '--no-maintenance'], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    worker.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('exit', (code) => resolve(code)));
    try {
      const deadline = Date.now() + 30_000;
      let status = '';
      while (status !== 'completed' && Date.now() < deadline) {
        const shown = await run(['show', id, '--json'], env, dir);
        if (shown.code === 0) status = (JSON.parse(shown.stdout) as { job: { status: string } }).job.status;
        if (status !== 'completed') await new Promise((r) => setTimeout(r, 200));
      }
      expect(status, stderr).toBe('completed');
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

describe('the jobledger command line', () => {
  it('prints its version, the job types with their payload schema, and one-line errors; --json reaches subcommands; logs stay at warn', { timeout: 240_000 }, async () => {
    const dir = runDirectory();
    const env = await baseEnv({ DATABASE_URL: `sqlite:${join(dir, 'ledger.sqlite')}` });
    const version = await run(['--version'], env, dir);
    expect(version).toMatchObject({ code: 0, stdout: `${packageJson.version}\n` });

    const types = await run(['--no-config', 'types', '--json'], env, dir);
    expect(types.code).toBe(0);
    const listed = JSON.parse(types.stdout) as { jobs: { name: string; payloadSchema: Record<string, unknown> }[] };
    expect(listed.jobs.find((j) => j.name === 'demo.charge-card')?.payloadSchema).toMatchObject({
      type: 'object',
      properties: { cardId: { type: 'string' } },
      required: expect.arrayContaining(['cardId', 'amountCents']) as unknown,
    });

    expect((await run(['migrate'], env, dir)).code).toBe(0);
    for (const action of ['retry', 'cancel']) {
      const result = await run([action, 'job_01JAAAAAAAAAAAAAAAAAAAAAAA'], env, dir);
      expect(result.code).toBe(1);
      expect(lines(result.stderr)).toEqual([expect.stringMatching(/^jobledger: JOBLEDGER_INVALID_OPTION: --reason: .*required/)]);
    }

    // `--json` after a subcommand of `pipelines` is the subcommand's.
    const started = await run(['--no-config', 'pipelines', 'start', 'ticket', '--context', '{"ticket":{"id":"T-1","title":"one"}}', '--json'], env, dir);
    expect(started.code, started.stderr).toBe(0);
    const pipelineId = (JSON.parse(started.stdout) as { id: string }).id;
    const shown = await run(['pipelines', 'show', pipelineId, '--json'], env, dir);
    expect((JSON.parse(shown.stdout) as { pipeline: { id: string } }).pipeline.id).toBe(pipelineId);
    const archived = await run(['pipelines', 'archive', '--older-than', '0', '--json'], env, dir);
    expect(JSON.parse(archived.stdout)).toMatchObject({ archived: 0 });

    // A PostgreSQL that does not answer: one line naming its host, port and DATABASE_URL.
    const unreachable = await run(['jobs'], { ...env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/ledger' }, dir);
    expect(unreachable.code).toBe(1);
    expect(lines(unreachable.stderr)).toEqual([expect.stringMatching(/^jobledger: JOBLEDGER_DATABASE_UNAVAILABLE: cannot reach PostgreSQL at 127\.0\.0\.1:1 \(from DATABASE_URL\)/)]);

    // No LOG_LEVEL: a maintenance run prints its table and no log lines.
    const maintenance = await run(['maintenance', 'prune'], env, dir);
    expect(maintenance.code, maintenance.stderr).toBe(0);
    expect(maintenance.stderr).toBe('');
  });
});
