/**
 * `jobledger backup` and `jobledger restore` for SQLite ledgers (store/maintenance/sqlite-backup.ts).
 * A restore is followed by a reconcile, which hands every job that is not final back to Redis: the
 * Redis of the backup's time is gone or has moved on.
 */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import { maskUrl } from '../../mask-url.js';
import type { BackupSummary } from '../../store/index.js';
import { cliConfig, withJobLedger, type GlobalOptions } from '../context.js';
import { printJson, printTable } from '../output.js';

const postgresAdvice = 'a SQLite ledger (back up PostgreSQL with pg_dump: docs/operations.md#backup-and-restore)';

export function registerBackupCommands(program: Command, global: () => GlobalOptions): void {
  program
    .command('backup')
    .description('SQLite: copy the ledger to a file, consistent while workers run, and check the copy')
    .option('--to <file>', 'where to write the backup')
    .option('--force', 'replace --to if it exists')
    .option('--check <file>', 'only check an existing backup file')
    .option('--json', 'print JSON')
    .action(async (opts: { to?: string; force?: boolean; check?: string; json?: boolean }) => {
      // The store (MikroORM, better-sqlite3) is imported when the command runs (cli/context.ts).
      const { backupSqlite, checkSqliteBackup } = await import('../../store/index.js');
      if (opts.check !== undefined) return print(checkSqliteBackup(resolve(opts.check)), opts.json);
      if (opts.to === undefined) throw new InvalidOptionError('--to', 'the file to write the backup to (or --check <file>)', undefined);
      const source = await sqliteLedgerPath();
      print(await backupSqlite(source, resolve(opts.to), { replace: opts.force === true }), opts.json);
    });

  program
    .command('restore')
    .description('SQLite: write a backup to DATABASE_URL (a file that does not exist yet), then reconcile it with Redis')
    .requiredOption('--from <file>', 'the backup to restore (required)')
    .option('--no-reconcile', 'do not hand the restored ledger\'s unfinished jobs back to Redis')
    .option('--json', 'print JSON')
    .action(async (opts: { from: string; reconcile: boolean; json?: boolean }) => {
      const { restoreSqlite } = await import('../../store/index.js');
      const restored = await restoreSqlite(resolve(opts.from), await sqliteLedgerPath());
      if (!opts.reconcile) return print(restored, opts.json);
      // The backup may predate the running version's schema: migrate it, then reconcile with Redis.
      await withJobLedger(global(), { migrate: true, needsRedis: true, jobTypes: true }, async (jl) => {
        const reconciled = await jl.maintenance.run('reconcile', { source: 'cli' });
        if (reconciled.outcome === 'failed') process.exitCode = 1;
        if (opts.json) return printJson({ ...restored, reconcile: { outcome: reconciled.outcome, counts: reconciled.counts } });
        print(restored, false);
        process.stdout.write(`reconcile: ${reconciled.outcome} ${JSON.stringify(reconciled.counts ?? {})}\n`);
      });
    });
}

async function sqliteLedgerPath(): Promise<string> {
  const { database } = await cliConfig();
  if (database.dialect !== 'sqlite' || !database.sqlitePath || database.sqlitePath === ':memory:') {
    throw new InvalidOptionError('DATABASE_URL', postgresAdvice, maskUrl(database.url));
  }
  return resolve(database.sqlitePath);
}

function print(summary: BackupSummary, json: boolean | undefined): void {
  if (json) return printJson(summary);
  printTable([{ file: summary.path, bytes: summary.bytes, jobs: summary.jobs, attempts: summary.attempts, events: summary.events, schema: summary.lastMigration }]);
}
