/**
 * The committed migrations and the entity schemas describe the same database: after migrating a
 * fresh database, MikroORM's schema diff has nothing to add, on either dialect.
 */
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../src/config.js';
import { Ledger } from '../src/store/ledger.js';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { track } from './support/leak-check.js';

describe.each(backends)('schema on %s', (dialect) => {
  it('matches the entities after all migrations, and migrating again applies nothing', async () => {
    const ledger = track(await Ledger.open(parseDatabaseUrl(await freshDatabaseUrl(dialect)), { migrate: true }), 'Ledger');
    const diff = await ledger.orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
    expect(await ledger.pendingMigrations()).toEqual([]);
    expect(await ledger.migrate()).toEqual([]);
    await ledger.close();
  });

  it('refuses to open an unmigrated database, naming the missing migrations', async () => {
    const target = parseDatabaseUrl(await freshDatabaseUrl(dialect));
    await expect(Ledger.open(target)).rejects.toMatchObject({ code: 'JOBLEDGER_SCHEMA_OUTDATED' });
  });
});
