// The application's MikroORM on the database the ledger uses (DATABASE_URL). It knows only its own
// entities and migrations; `skipTables` keeps its schema tool (schema:update, getUpdateSchemaSQL)
// from dropping the ledger's tables, which it would otherwise take for stale ones.
import { MikroORM, type Options } from '@mikro-orm/core';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { ledgerTables, parseDatabaseUrl } from 'jobledger';
import { Order } from './order.entity.js';
import { Migration20261206000000Orders } from './migrations/Migration20261206000000Orders.js';

export async function openOrm(databaseUrl: string): Promise<MikroORM> {
  const options = {
    entities: [Order],
    extensions: [Migrator],
    migrations: {
      migrationsList: [{ name: 'Migration20261206000000Orders', class: Migration20261206000000Orders }],
      snapshot: false,
      silent: true,
    },
    schemaGenerator: { skipTables: [...ledgerTables] },
  } satisfies Partial<Options>;
  // One application uses one of these; this example runs on both.
  const database = parseDatabaseUrl(databaseUrl);
  return database.dialect === 'sqlite'
    ? MikroORM.init({ ...options, driver: BetterSqliteDriver, dbName: database.sqlitePath })
    : MikroORM.init({ ...options, driver: PostgreSqlDriver, clientUrl: database.url });
}
