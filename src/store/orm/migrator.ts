/** Applying the committed migrations and checking that a database is current before using it. */
import { SchemaOutdatedError } from '../../errors.js';
import { dialectOf } from '../engine/sql.js';
import type { LedgerOrm } from './open-orm.js';

export async function migrate(orm: LedgerOrm): Promise<string[]> {
  await refuseUnrecordedTables(orm);
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
}

/** The migrations this database has applied, oldest first (its schema version is the last). */
export async function appliedMigrations(orm: LedgerOrm): Promise<string[]> {
  return (await orm.getMigrator().getExecutedMigrations()).map((m) => m.name);
}

export async function pendingMigrations(orm: LedgerOrm): Promise<string[]> {
  return (await orm.getMigrator().getPendingMigrations()).map((m) => m.name);
}

/** Refuses to run on an unmigrated or older schema, unless asked to migrate it. */
export async function ensureSchema(orm: LedgerOrm, options: { migrate: boolean }): Promise<void> {
  if (options.migrate) {
    await migrate(orm);
    return;
  }
  await refuseUnrecordedTables(orm);
  const pending = await pendingMigrations(orm);
  if (pending.length) throw new SchemaOutdatedError(pending);
}

/**
 * The ledger's tables exist but `jobledger_migrations` records none of their migrations: another
 * migrator created them (an application that listed the ledger's migrations in its own), so
 * migrating would fail on the first `create table`. Says so, and where the way out is documented.
 */
async function refuseUnrecordedTables(orm: LedgerOrm): Promise<void> {
  const executed = await orm.getMigrator().getExecutedMigrations();
  if (executed.length > 0 || !(await hasJobsTable(orm))) return;
  throw new SchemaOutdatedError(await pendingMigrations(orm), { tablesExist: true });
}

async function hasJobsTable(orm: LedgerOrm): Promise<boolean> {
  const em = orm.em.fork();
  const query =
    dialectOf(em) === 'postgresql'
      ? `SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'jobs'`
      : `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'`;
  const rows = (await em.getConnection().execute(query)) as unknown[];
  return rows.length > 0;
}
