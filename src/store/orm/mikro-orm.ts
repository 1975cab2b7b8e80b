/**
 * MikroORM's classes and functions for the store, loaded with `require`. MikroORM 6 is CommonJS; an
 * ES module's `import` of it makes Node (20 and 22) first scan the source of the package and of
 * every module it re-exports for their export names (cjs-module-lexer), which for @mikro-orm/core
 * and @mikro-orm/knex costs more than running them, on every start of every process. `require`
 * skips the scan and returns the very module instances an application's own `import` of MikroORM
 * gets (ES modules import a CommonJS package through the same cache), so `instanceof` and an
 * application's EntityManager work across the two. Types come from `import type`, which loads
 * nothing.
 *
 * The drivers and the migrator are loaded by the dialect or the command that needs them: a SQLite
 * ledger never loads @mikro-orm/postgresql (nor a PostgreSQL one better-sqlite3's driver), and only
 * migrating loads @mikro-orm/migrations and umzug (open-orm.ts, migrator.ts).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

const core = require('@mikro-orm/core') as typeof import('@mikro-orm/core');
const knex = require('@mikro-orm/knex') as typeof import('@mikro-orm/knex');

export const { BigIntType, EntitySchema, JsonType, LockMode, MikroORM, UnderscoreNamingStrategy, UniqueConstraintViolationException, raw } = core;
export const { BaseSqlitePlatform } = knex;

/** The better-sqlite3 driver's package (SQLite ledgers only). */
export function betterSqlitePackage(): typeof import('@mikro-orm/better-sqlite') {
  return require('@mikro-orm/better-sqlite') as typeof import('@mikro-orm/better-sqlite');
}

/** The PostgreSQL driver's package (PostgreSQL ledgers only). */
export function postgresqlPackage(): typeof import('@mikro-orm/postgresql') {
  return require('@mikro-orm/postgresql') as typeof import('@mikro-orm/postgresql');
}

/** The migrator's package, with umzug beneath it (migrating only). */
export function migrationsPackage(): typeof import('@mikro-orm/migrations') {
  return require('@mikro-orm/migrations') as typeof import('@mikro-orm/migrations');
}
