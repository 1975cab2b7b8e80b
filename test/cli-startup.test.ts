/**
 * The CLI starts light: `--help`, `--version` and a usage error load commander and the CLI's own
 * modules, none of MikroORM, BullMQ, ioredis, pino or zod (their commands import them when they
 * run). How fast that is, is measured by `npm run bench:cli`, not asserted here. Real processes on
 * the built package, each traced by a loader hook that lists the modules it loads.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runDirectory } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const traceHook = fileURLToPath(new URL('./support/import-trace.mjs', import.meta.url));
const heavy = ['@mikro-orm/core', 'bullmq', 'ioredis', 'pino', 'zod', 'better-sqlite3', 'knex', 'pg'];

let traces = 0;

/** Runs the CLI; returns its exit code and the packages (under node_modules) it loaded. */
function tracedRun(args: string[], env: Record<string, string> = {}): Promise<{ code: number; packages: Set<string>; stderr: string }> {
  const dir = runDirectory();
  const file = join(dir, `import-trace-${process.pid}-${++traces}.txt`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', traceHook, bin, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: dir, IMPORT_TRACE_FILE: file, ...env }, cwd: dir, timeout: 120_000 },
      (error, _stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        let urls: string[] = [];
        try {
          urls = readFileSync(file, 'utf8').split('\n');
        } catch {
          // no module traced at all: the empty set below fails the commander check
        }
        const packages = new Set(urls.flatMap((url) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1] ?? []));
        resolve({ code, packages, stderr });
      },
    );
  });
}

describe('jobledger starts without the heavy modules', () => {
  it.each([[['--help']], [['--version']], [['jobs', '--help']], [['jobs', '--no-such-option']]])('%j loads commander and nothing heavy', async (args) => {
    const { packages } = await tracedRun(args);
    expect(packages.has('commander')).toBe(true);
    expect(heavy.filter((name) => packages.has(name))).toEqual([]);
  });

  it('a command that reads the ledger loads MikroORM when it runs (the trace sees it)', async () => {
    const database = `sqlite:${join(runDirectory(), `startup-${process.pid}.sqlite`)}`;
    expect((await tracedRun(['migrate'], { DATABASE_URL: database })).code).toBe(0);
    const { code, packages, stderr } = await tracedRun(['jobs', '--limit', '1'], { DATABASE_URL: database });
    expect(code, stderr).toBe(0);
    expect(packages.has('@mikro-orm/core')).toBe(true);
  });
});
