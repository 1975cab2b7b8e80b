/**
 * The CLI starts light: `--help`, `--version` and a usage error load commander and the CLI's own
 * modules, none of MikroORM, BullMQ, ioredis, pino or zod (their commands import them when they
 * run); a command that only reads a SQLite ledger loads MikroORM but none of BullMQ, ioredis or pino
 * (it opens the store alone, cli/context.ts `withLedger`), nor the migrator, the PostgreSQL driver
 * or the cron libraries. How fast that is, is measured by
 * `npm run bench:cli`, not asserted here. Real processes on the built package, each traced by a
 * loader hook that lists the modules it imports and, at exit, every CommonJS module it required
 * (those a CommonJS package requires never pass the loader hook).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshDatabaseUrl } from './support/backends.js';
import { runDirectory } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const traceHook = fileURLToPath(new URL('./support/import-trace.mjs', import.meta.url));
/** Appends the path of every CommonJS module in the process's require cache to IMPORT_TRACE_FILE at exit. */
const requiredAtExit =
  'data:text/javascript,' +
  encodeURIComponent(`
import { createRequire } from 'node:module';
import { appendFileSync } from 'node:fs';
const cache = createRequire('/').cache;
process.on('exit', () => appendFileSync(process.env.IMPORT_TRACE_FILE, Object.keys(cache).join('\\n') + '\\n'));`);
const heavy = ['@mikro-orm/core', 'bullmq', 'ioredis', 'pino', 'zod', 'better-sqlite3', 'knex', 'pg'];
/**
 * What a command that only reads a SQLite ledger must not load: the Redis transport and the logger;
 * the migrator and umzug (only migrating loads them, store/orm/migrator.ts); the PostgreSQL driver
 * and its MikroORM package; the cron libraries (the configuration takes its default schedules
 * unchecked, cron-schedule.ts).
 */
const notForReads = ['bullmq', 'ioredis', 'pino', 'msgpackr', 'thread-stream', '@mikro-orm/migrations', 'umzug', '@mikro-orm/postgresql', 'pg', 'cron-parser', 'node-cron', 'luxon'];

let traces = 0;

/** Runs the CLI; returns its exit code and the packages (under node_modules) it loaded. */
function tracedRun(args: string[], env: Record<string, string> = {}): Promise<{ code: number; packages: Set<string>; stdout: string; stderr: string }> {
  const dir = runDirectory();
  const file = join(dir, `import-trace-${process.pid}-${++traces}.txt`);
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', traceHook, '--import', requiredAtExit, bin, ...args],
      { env: { PATH: process.env.PATH ?? '', HOME: dir, IMPORT_TRACE_FILE: file, ...env }, cwd: dir, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        let lines: string[] = [];
        try {
          lines = readFileSync(file, 'utf8').split('\n');
        } catch {
          // no module traced at all: the empty set below fails the commander check
        }
        const packages = new Set(lines.flatMap((line) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)?.[1] ?? []));
        resolve({ code, packages, stdout, stderr });
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

  describe('a command that reads a SQLite ledger loads MikroORM, and neither BullMQ, ioredis, pino, the migrator, pg nor cron', () => {
    let database = '';
    beforeAll(async () => {
      database = `sqlite:${join(runDirectory(), `startup-${process.pid}.sqlite`)}`;
      expect((await tracedRun(['migrate'], { DATABASE_URL: database })).code).toBe(0);
    });

    // One per kind of read (a listing, a job with its archive and lineage, the search index); the
    // others (events, runs, audit) open the ledger the same way.
    it.each([
      [['jobs', '--limit', '1']],
      [['show', 'job_01KBQ6ZV3M0000000000000000']],
      [['search', 'timeout']],
    ])('%j', async (args) => {
      const { code, packages, stderr } = await tracedRun(args, { DATABASE_URL: database });
      // `show` of a job that is not there fails after reading the ledger, which is what is traced.
      if (args[0] === 'show') expect(stderr).toMatch(/JOBLEDGER_NOT_FOUND|not found/i);
      else expect(code, stderr).toBe(0);
      expect(packages.has('@mikro-orm/core')).toBe(true);
      expect(packages.has('knex')).toBe(true); // the require-cache part of the trace sees what packages require
      expect(notForReads.filter((name) => packages.has(name))).toEqual([]);
    });
  });

  it('a command that reads a PostgreSQL ledger loads its driver, and neither the SQLite driver nor the migrator', async () => {
    const database = await freshDatabaseUrl('postgresql');
    expect((await tracedRun(['migrate'], { DATABASE_URL: database })).code).toBe(0);
    const { code, packages, stderr } = await tracedRun(['jobs', '--limit', '1'], { DATABASE_URL: database });
    expect(code, stderr).toBe(0);
    expect(packages.has('@mikro-orm/postgresql')).toBe(true);
    const postgresDriver = ['pg', '@mikro-orm/postgresql'];
    const notLoaded = ['@mikro-orm/better-sqlite', 'better-sqlite3', ...notForReads.filter((name) => !postgresDriver.includes(name))];
    expect(notLoaded.filter((name) => packages.has(name))).toEqual([]);
  });
});
