/**
 * Applying the committed migrations and checking that a database is current before using it.
 *
 * MikroORM's migrator (and umzug beneath it) and the migration classes are loaded only to migrate:
 * every other open, a CLI query's included, checks the schema by reading the migrations table
 * against the names of the migrations this version ships (migrations/<dialect>/names.ts), which
 * spares each such command the migrator's module loading.
 */
import type { IMigrator } from '@mikro-orm/core';
import { SchemaOutdatedError } from '../../errors.js';
import { dialectOf } from '../engine/sql.js';
import type { LedgerOrm } from './open-orm.js';
import { migrationsTable } from './ledger-tables.js';
import { migrationsPackage } from './mikro-orm.js';
import { sqliteMigrationNames } from '../../../migrations/sqlite/names.js';
import { postgresqlMigrationNames } from '../../../migrations/postgresql/names.js';

export async function migrate(orm: LedgerOrm): Promise<string[]> {
  await refuseUnrecordedTables(orm);
  const applied = await (await ledgerMigrator(orm)).up();
  return applied.map((m) => m.name);
}

/** The migrations this database has applied, oldest first (its schema version is the last). */
export async function appliedMigrations(orm: LedgerOrm): Promise<string[]> {
  return (await executedMigrations(orm)) ?? [];
}

/** The migrations this version ships that the database has not applied, oldest first. */
export async function pendingMigrations(orm: LedgerOrm): Promise<string[]> {
  const executed = new Set((await executedMigrations(orm)) ?? []);
  return shippedMigrations(orm).filter((name) => !executed.has(name));
}

/**
 * MikroORM's migrator for the ledger: on first use, its extension is registered and the dialect's
 * migration classes are put in the configuration (open-orm.ts leaves both out).
 */
export async function ledgerMigrator(orm: LedgerOrm): Promise<IMigrator> {
  const options = orm.config.get('migrations');
  if (!options.migrationsList) {
    const migrationsList =
      dialectOf(orm.em) === 'postgresql'
        ? (await import('../../../migrations/postgresql/index.js')).postgresqlMigrations
        : (await import('../../../migrations/sqlite/index.js')).sqliteMigrations;
    orm.config.set('migrations', { ...options, migrationsList });
    migrationsPackage().Migrator.register(orm);
  }
  return orm.getMigrator();
}

/** The names of the migrations this version ships, oldest first. */
function shippedMigrations(orm: LedgerOrm): readonly string[] {
  return dialectOf(orm.em) === 'postgresql' ? postgresqlMigrationNames : sqliteMigrationNames;
}

/** The names in the migrations table, in the order applied; undefined when there is no such table. */
async function executedMigrations(orm: LedgerOrm): Promise<string[] | undefined> {
  const em = orm.em.fork();
  const exists =
    dialectOf(em) === 'postgresql'
      ? `SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = '${migrationsTable}'`
      : `SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '${migrationsTable}'`;
  if (((await em.getConnection().execute(exists)) as unknown[]).length === 0) return undefined;
  const rows = (await em.getConnection().execute(`SELECT name FROM ${migrationsTable} ORDER BY id`)) as { name: string }[];
  return rows.map((row) => row.name);
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
  const executed = (await executedMigrations(orm)) ?? [];
  if (executed.length > 0 || !(await hasJobsTable(orm))) return;
  // The documented way out copies the application's records into the ledger's migrations table,
  // so that table must exist when this refusal is read: the migrator creates it.
  await (await ledgerMigrator(orm)).getExecutedMigrations();
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
