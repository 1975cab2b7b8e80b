/**
 * SQLite backup and restore: a backup taken while a worker writes is one consistent, checked
 * ledger; restored into a new file and reconciled with a fresh Redis, every job in it runs to a
 * final status, none lost and none run twice. A damaged backup is refused and nothing is written.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BackupInvalidError } from '../src/errors.js';
import { backupSqlite, checkSqliteBackup, restoreSqlite } from '../src/store/index.js';
import { freshDatabaseUrl } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor } from './support/harness.js';
import { runDirectory } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 120_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('SQLite backup and restore', () => {
  it('backs up under load, restores into a new ledger, and every job reaches a final status once', async () => {
    const source = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    const worker = source.createWorker({ concurrency: 8 });
    await worker.start();
    await source.enqueueBulk(Array.from({ length: 400 }, (_, i) => ({ name: 'test.scripted', payload: { action: 'sleep', ms: 5 + (i % 7) } })));
    // Mid-run: some jobs finished, some running, some waiting.
    await waitFor(async () => ((await source.ledger.countJobsByStatus()).completed >= 50 ? true : undefined), '50 jobs completed');
    const dir = runDirectory();
    const backupPath = join(dir, 'ledger-backup.sqlite');
    const backup = await backupSqlite(source.config.database.sqlitePath!, backupPath);
    await worker.close();
    await source.close();

    expect(backup.jobs).toBe(400);
    expect(checkSqliteBackup(backupPath)).toEqual(backup);
    // One file, nothing left beside it (no temporary copy, no WAL side files).
    expect(readdirSync(dir).filter((f) => f.includes('.partial') || f.startsWith('ledger-backup.sqlite-'))).toEqual([]);

    // Restored into a new file, with a new Redis prefix: the Redis of the backup's time is gone.
    const restoredUrl = await freshDatabaseUrl('sqlite');
    const restoredPath = restoredUrl.slice('sqlite:'.length);
    expect((await restoreSqlite(backupPath, restoredPath)).jobs).toBe(400);
    const restored = await openTestJobLedger('sqlite', { jobs: [scriptedJob], env: { DATABASE_URL: restoredUrl } });
    const before = await restored.ledger.countJobsByStatus();
    expect(before.completed).toBeGreaterThanOrEqual(50);
    expect(before.completed).toBeLessThan(400);
    // Attempts that were running at backup time belong to a worker that is gone: their heartbeats
    // are backdated past the lock, as time would make them, so reconcile recovers them now.
    await restored.ledger.transaction((sql) => sql.run(`UPDATE attempts SET heartbeat_at = heartbeat_at - 3600000 WHERE status = 'running'`));
    const reconciled = await restored.maintenance.run('reconcile');
    expect(reconciled.outcome).toBe('succeeded');
    const again = restored.createWorker({ concurrency: 8 });
    await again.start();
    await waitFor(
      async () => {
        const counts = await restored.ledger.countJobsByStatus();
        return counts.completed === 400 ? counts : undefined;
      },
      'all 400 restored jobs completed',
      60_000,
    );
    // Each job has exactly one succeeded attempt.
    const attempts = await restored.ledger.listAttempts({});
    const succeeded = attempts.filter((a) => a.status === 'succeeded');
    expect(new Set(succeeded.map((a) => a.jobId)).size).toBe(400);
    expect(succeeded).toHaveLength(400);
    await restored.close();
  }, 180_000);

  it('refuses a damaged backup and writes nothing', async () => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    await jl.enqueueBulk(Array.from({ length: 200 }, () => ({ name: 'test.scripted', payload: { action: 'succeed', pad: 'x'.repeat(200) } })));
    const dir = runDirectory();
    const good = join(dir, 'good.sqlite');
    await backupSqlite(jl.config.database.sqlitePath!, good);
    await jl.close();

    const bytes = readFileSync(good);
    // Overwrite a page in the middle of the file: SQLite's integrity check or its first read fails.
    bytes.fill(0xa5, Math.floor(bytes.length / 2), Math.floor(bytes.length / 2) + 4096);
    const damaged = join(dir, 'damaged.sqlite');
    writeFileSync(damaged, bytes);
    expect(() => checkSqliteBackup(damaged)).toThrow(BackupInvalidError);
    const target = join(dir, 'restored.sqlite');
    await expect(restoreSqlite(damaged, target)).rejects.toThrow(BackupInvalidError);
    expect(existsSync(target)).toBe(false);

    writeFileSync(join(dir, 'not-a-ledger.sqlite'), 'hello');
    expect(() => checkSqliteBackup(join(dir, 'not-a-ledger.sqlite'))).toThrow(BackupInvalidError);
  });

  it('from the command line: backs up, checks, refuses to overwrite, and names pg_dump for PostgreSQL', async () => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    await jl.enqueue('test.scripted', { action: 'succeed' });
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: jl.config.database.url, REDIS_URL: jl.config.redisUrl, JOBLEDGER_REDIS_PREFIX: jl.config.redisPrefix, LOG_LEVEL: 'silent' };
    await jl.close();
    const dir = runDirectory();
    const to = join(dir, 'cli-backup.sqlite');

    const made = await run(['backup', '--to', to, '--json'], env);
    expect(made.stderr).toBe('');
    expect(JSON.parse(made.stdout)).toMatchObject({ path: to, jobs: 1 });
    expect(JSON.parse((await run(['backup', '--check', to, '--json'], env)).stdout)).toMatchObject({ jobs: 1 });

    const again = await run(['backup', '--to', to], env);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);
    expect(again.stderr).toContain('--force');

    const restoreOver = await run(['restore', '--from', to, '--no-reconcile'], env);
    expect(restoreOver.code).not.toBe(0);
    expect(restoreOver.stderr).toContain('does not exist yet');

    const postgres = await run(['backup', '--to', join(dir, 'pg.sqlite')], { ...env, DATABASE_URL: await freshDatabaseUrl('postgresql') });
    expect(postgres.code).not.toBe(0);
    expect(postgres.stderr).toContain('pg_dump');
    expect(existsSync(join(dir, 'pg.sqlite'))).toBe(false);
  }, 120_000);
});
