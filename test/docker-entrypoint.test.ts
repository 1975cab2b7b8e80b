/**
 * The compose worker, run the way its container runs it (there is no Docker engine in the test
 * environment): the Dockerfile's final stage laid out as its COPY lines say, the compose file's
 * configuration module mounted where it says, the image's CMD started as the init process's direct
 * child (`init: true`: the init execs nothing itself, so a shell that execs stands in for it). A
 * SIGTERM while a job runs drains it: the job completes and the worker exits 0. The compose file
 * gives the worker more stop time than its shutdown grace, and a restart policy. The form it
 * replaced, `sh -c "... && node bin/jobledger.js worker"`, leaves the worker running when the
 * shell gets the SIGTERM (so Docker SIGKILLs it at the stop timeout): the last case shows it.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JobLedger, type JobType } from '../src/index.js';
import { backends, testConfig } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { waitFor, waitForStatus } from './support/harness.js';
import { track } from './support/leak-check.js';
import { appEnv } from './support/packed-app.js';
import { openRedisProbe } from './support/redis.js';
import { runDirectory } from './support/test-run.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const compose = readFileSync(join(root, 'docker-compose.yml'), 'utf8');

/** The Dockerfile's last stage: its working directory, the files it copies in, and its CMD. */
function finalStage(): { workdir: string; copies: { from: string; to: string }[]; cmd: string[] } {
  const stage = dockerfile.split(/^FROM /m).at(-1)!;
  const workdir = [...stage.matchAll(/^WORKDIR (\S+)$/gm)].at(-1)![1]!;
  const copies = [...stage.matchAll(/^COPY (?:--from=\S+ )?(\S+) (\S+)$/gm)].map(([, from, to]) => ({
    // A path from the build stage is the same path of this checkout, built (dist/ from `npm run build`).
    from: from!.startsWith('/app/') ? from!.slice('/app/'.length) : from!,
    // `COPY x ./` puts x into the directory.
    to: to!.endsWith('/') || to === '.' ? posix.join(posix.resolve(workdir, to!), posix.basename(from!)) : posix.resolve(workdir, to!),
  }));
  const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(stage)![1]!) as string[];
  return { workdir, copies, cmd };
}

/** One top-level service's block of the compose file, as text. */
function service(name: string): string {
  const match = new RegExp(`^  ${name}:\\n((?:    .*\\n|\\n)*)`, 'm').exec(compose);
  if (!match) throw new Error(`docker-compose.yml has no service "${name}"`);
  return match[1]!;
}

/** Seconds of a compose duration such as `30s` or `1m30s`. */
function seconds(duration: string): number {
  const match = /^(?:(\d+)m)?(?:(\d+)s)?$/.exec(duration);
  if (!match) throw new Error(`unexpected duration ${duration}`);
  return Number(match[1] ?? 0) * 60 + Number(match[2] ?? 0);
}

const worker = service('worker');
const shutdownGraceMs = Number(/JOBLEDGER_SHUTDOWN_GRACE_MS: "(\d+)"/.exec(compose)![1]);
const mount = /- \.\/(\S+):(\/\S+):ro/.exec(compose)!;
const [, mountedFrom, mountedAt] = mount as unknown as [string, string, string];

/** The image's file system, laid out from this checkout (built) and the compose file's mount. */
function imageLayout(): (path: string) => string {
  const image = runDirectory();
  const inImage = (path: string) => join(image, path);
  for (const { from, to } of finalStage().copies) {
    mkdirSync(dirname(inImage(to)), { recursive: true });
    symlinkSync(join(root, from), inImage(to));
  }
  mkdirSync(dirname(inImage(mountedAt)), { recursive: true });
  copyFileSync(join(root, mountedFrom), inImage(mountedAt));
  return inImage;
}

describe('the compose worker', () => {
  it('runs the image CMD under an init, with a restart policy and more stop time than its shutdown grace', () => {
    expect(worker).toMatch(/^ {4}init: true$/m);
    expect(worker).toMatch(/^ {4}restart: unless-stopped$/m);
    expect(worker).toMatch(/<<: \*jobledger/);
    expect(worker, 'the worker runs the image CMD, not a shell command').not.toMatch(/^ {4}command:/m);
    const stopSeconds = seconds(/^ {4}stop_grace_period: (\S+)$/m.exec(worker)![1]!);
    expect(stopSeconds * 1000).toBeGreaterThan(shutdownGraceMs + 5_000);
    expect(finalStage().cmd).toEqual(['node', 'bin/jobledger.js', 'worker']);
  });

  describe.each(backends)('on %s', (dialect) => {
    it('drains a running job on SIGTERM and exits 0', async () => {
      const { workdir, cmd } = finalStage();
      const inImage = imageLayout();

      // The migrate service's work, and a producer with the mounted module's job types.
      const config = await testConfig(dialect);
      const { jobs } = (await import(pathToFileURL(join(root, mountedFrom)).href)) as { jobs: JobType[] };
      const jl = track(await JobLedger.open({ config, jobs, migrate: true }), 'JobLedger');

      const env = { ...configEnv(config), JOBLEDGER_SHUTDOWN_GRACE_MS: String(shutdownGraceMs) };
      const child = spawn('sh', ['-c', 'exec "$@"', 'sh', ...cmd], { cwd: inImage(workdir), env: appEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('close', (code, signal) => resolve({ code, signal })),
      );
      try {
        const { id } = await jl.enqueue('example.wait', { ms: 2_000 });
        await waitForStatus(jl, id, 'running', 30_000);
        const signalledAt = Date.now();
        child.kill('SIGTERM');
        expect(await exited, stderr).toEqual({ code: 0, signal: null });

        const { job, attempts } = await jl.ledger.getJobDetail(id);
        expect(job).toMatchObject({ status: 'completed', result: { waitedMs: 2_000 } });
        expect(attempts.map((a) => a.status)).toEqual(['succeeded']);
        expect(attempts[0]!.finishedAt).toBeGreaterThanOrEqual(signalledAt);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
        await jl.close();
      }
    }, 120_000);
  });
});

describe('a worker started behind a shell that does not exec it (the form the compose file avoids)', () => {
  it('never sees the SIGTERM sent to the shell: the shell dies, the worker runs on', async () => {
    const inImage = imageLayout();
    const config = await testConfig('sqlite');
    const jl = track(await JobLedger.open({ config, jobs: [], migrate: true }), 'JobLedger');
    const redis = openRedisProbe(jl);
    const env = { ...configEnv(config), JOBLEDGER_SHUTDOWN_GRACE_MS: String(shutdownGraceMs) };
    const shell = spawn('sh', ['-c', `true && ${finalStage().cmd.join(' ')}`], { cwd: inImage(finalStage().workdir), env: appEnv(env), stdio: 'ignore' });
    const shellExited = new Promise<NodeJS.Signals | null>((resolve) => shell.on('exit', (_, signal) => resolve(signal)));
    let workerPid: number | undefined;
    try {
      // The worker is the shell's child; it is up once it has published its health.
      await waitFor(async () => {
        const { stdout } = await run('ps', ['-o', 'pid=', '--ppid', String(shell.pid)]).catch(() => ({ stdout: '' }));
        workerPid = Number(stdout.trim()) || undefined;
        return workerPid && (await redis.keys()).includes(`${config.redisPrefix}:jobledger:workers`) ? true : undefined;
      }, 'the worker under the shell', 30_000);
      shell.kill('SIGTERM');
      expect(await shellExited).toBe('SIGTERM');
      expect(() => process.kill(workerPid!, 0), 'the worker still runs after its shell ended').not.toThrow();
    } finally {
      if (workerPid !== undefined) {
        try {
          process.kill(workerPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await redis.close();
      await jl.close();
    }
  }, 60_000);
});
