/**
 * Runs the built `jobledger` command in a child process and collects its exit code and output; the
 * environment such a child gets, and a directory with a configuration module for it to load.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { testRedisUrl } from './services.js';
import { runDirectory, runNames } from './test-run.js';

export const jobledgerBin = fileURLToPath(new URL('../../bin/jobledger.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: readonly string[], env: Record<string, string>, cwd?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [jobledgerBin, ...args], { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024, ...(cwd ? { cwd } : {}) }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** This checkout's built package entry as a `file:` URL, for configuration modules to import. */
export const distIndexUrl = pathToFileURL(fileURLToPath(new URL('../../dist/src/index.js', import.meta.url))).href;

/**
 * The environment of a CLI child: PATH and HOME, a SQLite ledger in a fresh run directory, the test
 * Redis under a fresh prefix (`tag` names the test in it), silent logs; `overrides` win.
 */
export async function cliEnv(tag: string, overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const dir = runDirectory();
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? dir,
    DATABASE_URL: `sqlite:${join(dir, 'ledger.sqlite')}`,
    REDIS_URL: await testRedisUrl(),
    JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}${tag}-${randomBytes(5).toString('hex')}`,
    LOG_LEVEL: 'silent',
    ...overrides,
  };
}

/**
 * A fresh run directory holding `jobledger.config.mjs`, an ES module whose text `source` gives for
 * that directory. `zod` must resolve from the module's folder, so its node_modules is this
 * checkout's. Returns the directory and the module's path.
 */
export function configModuleDirectory(source: (dir: string) => string): { dir: string; module: string } {
  const dir = runDirectory();
  const module = join(dir, 'jobledger.config.mjs');
  writeFileSync(module, source(dir));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  symlinkSync(fileURLToPath(new URL('../../node_modules', import.meta.url)), join(dir, 'node_modules'));
  return { dir, module };
}
