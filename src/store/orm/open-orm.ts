/**
 * Opens the ledger's MikroORM instance for SQLite (better-sqlite3) or PostgreSQL from one
 * `DatabaseTarget`. Dialect differences in connection setup live here and nowhere else.
 *
 * On MikroORM 6 the better-sqlite3 driver is `@mikro-orm/better-sqlite`; `@mikro-orm/sqlite` is the
 * slower node-sqlite3 one. MikroORM 7 (Node 22+) renames the better-sqlite3 driver to
 * `@mikro-orm/sqlite`.
 */
import type { Options } from '@mikro-orm/core';
import type { SqlEntityManager } from '@mikro-orm/knex';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DatabaseTarget } from '../../config.js';
import { DatabaseMissingError } from '../../errors.js';
import { ledgerEntities } from '../entities/index.js';
import { configureSqliteConnection, type SqliteDatabase } from '../engine/sqlite/connection.js';
import { migrationsTable, searchIndexTables } from './ledger-tables.js';
import { betterSqlitePackage, MikroORM, postgresqlPackage } from './mikro-orm.js';

export type LedgerOrm = import('@mikro-orm/core').MikroORM;
export type LedgerEm = SqlEntityManager;

/**
 * An in-memory SQLite database exists only in the connection that holds it: the ORM's, which the
 * hot path then shares (engine/sqlite/executor.ts). Handed over by the pool's public `afterCreate`.
 */
const inMemoryConnections = new WeakMap<LedgerOrm, SqliteDatabase>();

/** The ORM's connection to an in-memory SQLite database; undefined for a file or PostgreSQL. */
export function inMemorySqliteConnection(orm: LedgerOrm): SqliteDatabase | undefined {
  return inMemoryConnections.get(orm);
}

export interface OpenOrmOptions {
  debug?: boolean;
  /**
   * Create the SQLite file (and its directory) or the PostgreSQL database when it does not exist.
   * Default true; with false, a missing one is a `DatabaseMissingError` and nothing is created.
   */
  create?: boolean;
}

/** PostgreSQL's SQLSTATE for a database that does not exist. */
const invalidCatalogName = '3D000';

export async function openOrm(target: DatabaseTarget, options: OpenOrmOptions = {}): Promise<LedgerOrm> {
  const create = options.create ?? true;
  const common = {
    entities: ledgerEntities,
    allowGlobalContext: false,
    debug: options.debug ?? false,
    discovery: { warnWhenNoEntities: false },
    // The migrator, and the migration classes it runs, are registered when a migration runs
    // (migrator.ts), and each driver is loaded only for its dialect (mikro-orm.ts): a command that
    // only reads loads neither the other driver nor umzug.
    // The search documents' tables differ by dialect and have no entity (ledger-tables.ts).
    schemaGenerator: { skipTables: [...searchIndexTables] },
    // knex puts a failed statement in front of the driver's message; with this, the statement as
    // written (placeholders, no values), not one with the values spliced in.
    driverOptions: { compileSqlOnError: false },
    migrations: {
      tableName: migrationsTable,
      transactional: true,
      allOrNothing: true,
      snapshot: false,
      silent: true,
    },
  } satisfies Partial<Options>;

  if (target.dialect === 'sqlite') {
    const path = target.sqlitePath ?? ':memory:';
    if (path !== ':memory:') {
      if (!create && !existsSync(path)) throw new DatabaseMissingError(`the SQLite file ${path}`);
      mkdirSync(dirname(path), { recursive: true });
    }
    let created: SqliteDatabase | undefined;
    const { BetterSqliteDriver } = betterSqlitePackage();
    const orm = await MikroORM.init({
      ...common,
      driver: BetterSqliteDriver,
      dbName: path,
      pool: {
        min: 1,
        max: 1,
        // Every connection gets the settings the hot path's own gets (engine/sqlite/connection.ts).
        afterCreate(connection: SqliteDatabase, done: (error: Error | null, connection: unknown) => void) {
          try {
            configureSqliteConnection(connection);
            created = connection;
            done(null, connection);
          } catch (error) {
            done(error as Error, connection);
          }
        },
      },
    });
    if (path === ':memory:') {
      // The pool connects lazily; a trivial query makes it create the one connection now.
      await orm.em.fork().getConnection().execute('SELECT 1');
      if (!created) throw new Error('the in-memory SQLite database has no connection');
      inMemoryConnections.set(orm, created);
    }
    return orm;
  }
  const { PostgreSqlDriver } = postgresqlPackage();
  const orm = await MikroORM.init({
    ...common,
    driver: PostgreSqlDriver,
    clientUrl: target.url,
    // MikroORM creates a missing database on connect and before each migrator call; only when asked.
    ensureDatabase: create,
    pool: { min: 0, max: 10 },
    // knex warns on the console each time its pool finds a pooled connection dead and replaces it
    // ("Connection Error: ..."), which every server restart or terminated backend causes: the
    // failure that matters reaches the statement that met it (store/engine/connection-loss.ts).
    driverOptions: { ...common.driverOptions, log: knexLog },
  });
  if (!create) {
    const check = await orm.checkConnection();
    if (!check.ok) {
      await orm.close(true);
      if ((check.error as { code?: unknown } | undefined)?.code === invalidCatalogName) {
        throw new DatabaseMissingError(`the PostgreSQL database "${orm.config.get('dbName')}"`);
      }
      throw check.error ?? new Error(check.reason);
    }
  }
  return orm;
}

const knexLog = {
  warn: (message: unknown) => {
    if (!String(message).startsWith('Connection Error:')) console.warn(message);
  },
};

/** A fresh EntityManager fork: one per operation, batch or cron run, never the global context. */
export function forkEm(orm: LedgerOrm): LedgerEm {
  return orm.em.fork() as LedgerEm;
}
