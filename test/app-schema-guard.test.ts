/**
 * An application's own MikroORM on the ledger's database, configured as the README says
 * (`schemaGenerator: { skipTables: [...ledgerTables] }`): its schema tool (`schema:update`,
 * `getUpdateSchemaSQL()`) leaves every ledger table alone, with or without the ledger's entities
 * registered, and the ledger keeps working after the application's schema update. Without the
 * setting, the same tool drops the ledger, which is what the setting is for. A database whose
 * ledger migrations an application's own migrator applied is refused with a message that says so,
 * and the statement docs/transactional-enqueue.md gives makes it current.
 */
import { EntitySchema, MikroORM, type Options } from '@mikro-orm/core';
import { BetterSqliteDriver } from '@mikro-orm/better-sqlite';
import { PostgreSqlDriver } from '@mikro-orm/postgresql';
import { Migrator } from '@mikro-orm/migrations';
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { JobLedger, SchemaOutdatedError, ledgerEntities, ledgerTables, postgresqlMigrations, sqliteMigrations } from '../src/index.js';
import type { Config } from '../src/config.js';
import { backends, testConfig } from './support/backends.js';
import { track } from './support/leak-check.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { sqliteOnlyTables } from '../src/store/orm/ledger-tables.js';

/** The ledger's tables on `dialect`: PostgreSQL has none of the FTS5 tables. */
const ledgerTablesOn = (dialect: string): string[] => ledgerTables.filter((t) => dialect === 'sqlite' || !sqliteOnlyTables.includes(t));

interface Order {
  id: number;
  email: string;
}

const OrderSchema = new EntitySchema<Order>({
  name: 'Order',
  tableName: 'orders',
  properties: {
    id: { type: 'number', primary: true, autoincrement: true },
    email: { type: 'string' },
  },
});

/** The application's ORM on the ledger's database, with its own migrations table (MikroORM's default). */
async function openAppOrm(config: Readonly<Config>, options: Partial<Options>): Promise<MikroORM> {
  const common = { allowGlobalContext: false, extensions: [Migrator], ...options } satisfies Partial<Options>;
  const orm =
    config.database.dialect === 'sqlite'
      ? await MikroORM.init({ ...common, driver: BetterSqliteDriver, dbName: config.database.sqlitePath ?? ':memory:' })
      : await MikroORM.init({ ...common, driver: PostgreSqlDriver, clientUrl: config.database.url });
  return track(orm, 'application MikroORM');
}

/** The statements of a schema diff that name a ledger table or one of its indexes. */
function touchingLedger(diff: string): string[] {
  const statements = diff.split(/;\s*\n?/).map((s) => s.trim()).filter(Boolean);
  return statements.filter((statement) => ledgerTables.some((table) => new RegExp(`["\`]${table}(["\`]|_)`).test(statement)));
}

async function tablesIn(orm: MikroORM, dialect: string): Promise<string[]> {
  const rows: { name: string }[] = await orm.em.fork().getConnection().execute(
    dialect === 'sqlite'
      ? `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`
      : `SELECT table_name AS name FROM information_schema.tables WHERE table_schema = current_schema()`,
  );
  return rows.map((r) => r.name).sort();
}

describe.each(backends)('an application schema tool beside the ledger on %s', (dialect) => {
  async function migratedLedger() {
    const config = await testConfig(dialect);
    const jl = track(await JobLedger.open({ config, jobs: [scriptedJob], migrate: true }), 'JobLedger');
    return { config, jl };
  }

  it('ledgerTables lists exactly the tables the ledger migrations create', async () => {
    const { config, jl } = await migratedLedger();
    const orm = await openAppOrm(config, { entities: [OrderSchema] });
    expect(await tablesIn(orm, dialect)).toEqual(ledgerTablesOn(dialect).sort());
    await orm.close();
    await jl.close();
  });

  it('drops the ledger when not told about it (what the guard is for)', async () => {
    const { config, jl } = await migratedLedger();
    const orm = await openAppOrm(config, { entities: [OrderSchema] });
    if (dialect === 'sqlite') {
      // MikroORM cannot read the full-text search index's FTS5 tables (their columns have no declared
      // type, which its SQLite introspection requires), so on SQLite the unguarded tool fails before
      // it can propose anything; with skipTables it never reads them (below). Without the search
      // tables it drops the ledger as on PostgreSQL.
      await expect(orm.schema.getUpdateSchemaSQL({ wrap: false })).rejects.toThrow(TypeError);
      const bare = await openAppOrm(config, { entities: [OrderSchema], schemaGenerator: { skipTables: [...sqliteOnlyTables] } });
      const dropped = touchingLedger(await bare.schema.getUpdateSchemaSQL({ wrap: false }));
      expect(dropped.some((s) => /drop table/i.test(s) && /["`]jobs["`]/.test(s))).toBe(true);
      await bare.close();
    } else {
      const dropped = touchingLedger(await orm.schema.getUpdateSchemaSQL({ wrap: false }));
      expect(dropped.some((s) => /drop table/i.test(s) && /["`]jobs["`]/.test(s))).toBe(true);
    }
    await orm.close();
    await jl.close();
  });

  it.each([
    ['its own entities only', [OrderSchema]],
    ['the ledger entities registered too', [OrderSchema, ...ledgerEntities]],
  ])('leaves every ledger table alone with skipTables, %s', async (_, entities) => {
    const { config, jl } = await migratedLedger();
    const orm = await openAppOrm(config, { entities, schemaGenerator: { skipTables: [...ledgerTables] } });
    const diff = await orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff).toMatch(/create table ["`]orders["`]/);
    expect(touchingLedger(diff)).toEqual([]);

    await orm.schema.updateSchema();
    expect(await tablesIn(orm, dialect)).toEqual([...ledgerTablesOn(dialect), 'orders'].sort());
    expect(touchingLedger(await orm.schema.getUpdateSchemaSQL({ wrap: false }))).toEqual([]);
    await orm.close();

    // The ledger is intact and current: it opens without migrating and takes jobs.
    await jl.close();
    const reopened = track(await JobLedger.open({ config, jobs: [scriptedJob] }), 'JobLedger');
    const { id } = await reopened.enqueue('test.scripted', { action: 'succeed' });
    expect((await reopened.ledger.getJobDetail(id)).job.status).toMatch(/pending|queued/);
    await reopened.close();
  });
});

/** The SQL block of docs/transactional-enqueue.md's "A database set up the other way". */
function documentedRecordingStatement(): string {
  const doc = readFileSync(new URL('../docs/transactional-enqueue.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## A database set up the other way'));
  return /```sql\n([\s\S]*?)```/.exec(section)![1]!.trim().replace(/;$/, '');
}

describe.each(backends)('a ledger migrated by the application\'s own migrator on %s', (dialect) => {
  it('is refused with a message naming the cause, and the documented statement makes it current', async () => {
    const config = await testConfig(dialect);
    const orm = await openAppOrm(config, {
      entities: [OrderSchema, ...ledgerEntities],
      migrations: { migrationsList: dialect === 'sqlite' ? sqliteMigrations : postgresqlMigrations, snapshot: false, silent: true },
    });
    await orm.getMigrator().up(); // recorded in mikro_orm_migrations

    for (const migrate of [false, true]) {
      const opening = JobLedger.open({ config, jobs: [scriptedJob], migrate });
      await expect(opening).rejects.toBeInstanceOf(SchemaOutdatedError);
      await expect(opening).rejects.toThrow(/tables exist, but jobledger_migrations records none/);
    }

    await orm.em.fork().getConnection().execute(documentedRecordingStatement());
    await orm.close();
    const jl = track(await JobLedger.open({ config, jobs: [scriptedJob] }), 'JobLedger');
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed' });
    expect((await jl.ledger.getJobDetail(id)).job.name).toBe('test.scripted');
    await jl.close();
  });
});
