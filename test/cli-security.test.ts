/**
 * The `jobledger` command and what it executes and shows, as a user runs it (a real process on the
 * built package): read-only commands never run the configuration module (a module that leaves a
 * marker file when it runs tells), the module that does run is named at `info`, `--no-config`
 * turns it off; doctor, migrate and every error show URLs masked and never a password; a refused
 * Redis password is named as such; `sqlite:~/` and `sqlite:file:` DATABASE_URLs never create
 * folders named `~` or `file:`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cliEnv, configModuleDirectory, distIndexUrl } from './support/cli-run.js';
import { freshDatabaseUrl } from './support/backends.js';
import { startPrivateRedis } from './support/fault/redis-server.js';
import { runDirectory } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const password = 'Cli-s3cr3t-pw';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: Record<string, string>, cwd = process.cwd()): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, cwd, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Runs the commands a few at a time (each is a node process that loads the package). */
async function runAll(commands: string[][], env: Record<string, string>, cwd: string): Promise<Map<string, CliResult>> {
  const results = new Map<string, CliResult>();
  for (let i = 0; i < commands.length; i += 6) {
    const batch = commands.slice(i, i + 6);
    const done = await Promise.all(batch.map((args) => run(args, env, cwd)));
    batch.forEach((args, k) => results.set(args.join(' '), done[k]!));
  }
  return results;
}

/** A directory with a jobledger.config.mjs that writes `marker` whenever it is executed. */
function configDirectory(): { dir: string; marker: string; module: string } {
  let marker = '';
  const { dir, module } = configModuleDirectory((at) => {
    marker = join(at, 'config-module-ran');
    return `import { appendFileSync } from 'node:fs';
import { defineJob } from ${JSON.stringify(distIndexUrl)};
import { z } from 'zod';
appendFileSync(${JSON.stringify(marker)}, process.argv.slice(2).join(' ') + '\\n');
export const jobs = [defineJob({ name: 'app.greet', schema: z.object({ who: z.string() }), handler: (p) => 'hi ' + p.who })];
`;
  });
  return { dir, marker, module };
}

const someJob = 'job_01JAAAAAAAAAAAAAAAAAAAAAAA';
const somePipeline = 'pip_01JAAAAAAAAAAAAAAAAAAAAAAA';

describe('what the jobledger command executes', () => {
  // About twenty processes, each loading the package: generous on a busy machine.
  it('read-only commands never run the configuration module; commands that need job types do, and say which', { timeout: 240_000 }, async () => {
    const { dir, marker, module } = configDirectory();
    const env = await cliEnv('clisec');
    expect((await run(['migrate'], env, dir)).code).toBe(0);
    const readOnly = [
      ['jobs', '--json'],
      ['show', someJob],
      ['events'],
      ['runs'],
      ['state', 'list', 'orders'],
      ['state', 'get', 'orders', 'o-1'],
      ['snapshots', 'list'],
      ['pipelines'],
      ['pipelines', 'show', somePipeline],
      ['history'],
      ['maintenance'],
      ['doctor', '--json'],
    ];
    const results = await runAll(readOnly, env, dir);
    for (const [command, result] of results) {
      // Each ran for real: a table, JSON, or a coded error (NOT_FOUND for the ids that do not exist).
      expect(result.stderr.includes('jobledger: ') ? result.stderr : 'ok', command).toMatch(/^ok$|JOBLEDGER_NOT_FOUND/);
    }
    expect(existsSync(marker), 'a read-only command ran the configuration module').toBe(false);

    // --no-config: even commands that need job types run no module (they get the demo types).
    const noConfig = await runAll([['--no-config', 'types', '--json'], ['--no-config', 'enqueue', 'demo.noop', '--data', '{}']], env, dir);
    expect([...noConfig.values()].map((r) => r.code)).toEqual([0, 0]);
    expect(JSON.parse(noConfig.get('--no-config types --json')!.stdout)).toMatchObject({ source: null });
    expect(existsSync(marker)).toBe(false);

    // `types` needs them: the module runs, and its path is logged at info before it does.
    const types = await run(['types', '--json'], { ...env, LOG_LEVEL: 'info' }, dir);
    expect(types.code).toBe(0);
    expect(JSON.parse(types.stdout)).toMatchObject({ source: module, jobs: [{ name: 'app.greet', queue: 'default' }] });
    const logged = types.stderr
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { level: number; configModule?: string });
    expect(logged).toContainEqual(expect.objectContaining({ level: 30, configModule: module }));
    expect(existsSync(marker)).toBe(true);
  });
});

describe('what the jobledger command shows', () => {
  it('doctor, migrate and errors never show a password; a refused password is named as such', { timeout: 240_000 }, async () => {
    const redis = await startPrivateRedis({ requirepass: password });
    try {
      const postgres = new URL(await freshDatabaseUrl('postgresql'));
      postgres.password = password; // the test server trusts local connections: the password is ignored
      postgres.searchParams.set('password', password);
      const good = await cliEnv('clisec', { REDIS_URL: redis.url, DATABASE_URL: postgres.toString() });
      const wrong = { ...good, REDIS_URL: `redis://:${password}-old@127.0.0.1:${redis.port}` };
      const results = await runAll(
        [
          ['migrate', '--json'],
          ['doctor', '--json'],
        ],
        good,
        process.cwd(),
      );
      const wrongResults = await runAll([['doctor', '--json'], ['enqueue', 'demo.noop', '--data', '{}']], wrong, process.cwd());
      const configErrors = await Promise.all([
        run(['jobs'], { ...good, REDIS_URL: `http://:${password}@127.0.0.1:${redis.port}` }),
        run(['jobs'], { ...good, REDIS_URL: `redis://:${password}@[bad` }),
        run(['jobs'], { ...good, DATABASE_URL: `postgres://:${password}@[bad` }),
        run(['jobs'], { ...good, DATABASE_URL: `mysql://root:s3c@${password}@db/app` }),
      ]);

      const migrate = results.get('migrate --json')!;
      expect(migrate.code, migrate.stderr).toBe(0);
      expect(JSON.parse(migrate.stdout)).toMatchObject({ database: expect.stringContaining('postgres:***@') });
      const doctor = JSON.parse(results.get('doctor --json')!.stdout) as { checks: { check: string; verdict: string; detail: string }[] };
      expect(doctor.checks).toContainEqual({ check: 'redis reachable', verdict: 'ok', detail: `redis://:***@127.0.0.1:${redis.port}` });
      expect(doctor.checks.find((c) => c.check === 'database reachable')?.detail).toMatch(/^postgres(ql)?:\/\/postgres:\*\*\*@.*\?password=\*\*\*$/);

      const refusedDoctor = JSON.parse(wrongResults.get('doctor --json')!.stdout) as typeof doctor;
      expect(refusedDoctor.checks.find((c) => c.check === 'redis reachable')).toMatchObject({ verdict: 'fail', detail: expect.stringContaining('JOBLEDGER_REDIS_AUTH_FAILED') });
      const refusedEnqueue = wrongResults.get('enqueue demo.noop --data {}')!;
      expect(refusedEnqueue.code).toBe(1);
      expect(refusedEnqueue.stderr.trim().split('\n')).toHaveLength(1);
      expect(refusedEnqueue.stderr).toContain('JOBLEDGER_REDIS_AUTH_FAILED');
      expect(refusedEnqueue.stderr).toContain('refused the credentials');
      expect(refusedEnqueue.stderr).not.toMatch(/start one|redis-server/);

      for (const result of configErrors) {
        expect(result.code).toBe(1);
        expect(result.stderr).toContain('JOBLEDGER_INVALID_CONFIG');
      }
      for (const result of [...results.values(), ...wrongResults.values(), ...configErrors]) {
        expect(result.stdout + result.stderr).not.toContain(password);
        expect(result.stdout + result.stderr).not.toContain(encodeURIComponent(password));
      }
    } finally {
      await redis.close();
    }
  });

  it('expands sqlite:~/ to the home directory and refuses sqlite:file: URIs, creating no folder named ~ or file:', async () => {
    const home = runDirectory();
    const cwd = runDirectory();
    mkdirSync(join(cwd, 'empty'));
    const env = await cliEnv('clisec', { HOME: home });
    const tilde = await run(['migrate'], { ...env, DATABASE_URL: 'sqlite:~/ledgers/ledger.sqlite' }, join(cwd, 'empty'));
    expect(tilde.code, tilde.stderr).toBe(0);
    expect(existsSync(join(home, 'ledgers', 'ledger.sqlite'))).toBe(true);
    const fileUri = await run(['migrate'], { ...env, DATABASE_URL: `sqlite:file:${join(home, 'x.sqlite')}?mode=ro` }, join(cwd, 'empty'));
    expect(fileUri.code).toBe(1);
    expect(fileUri.stderr).toContain('JOBLEDGER_INVALID_CONFIG');
    expect(fileUri.stderr).toContain('"file:" URIs are not supported');
    expect(readdirSync(join(cwd, 'empty'))).toEqual([]);
  });
});
