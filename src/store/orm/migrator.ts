/** Applying the committed migrations and checking that a database is current before using it. */
import { SchemaOutdatedError } from '../../errors.js';
import type { LedgerOrm } from './open-orm.js';

export async function migrate(orm: LedgerOrm): Promise<string[]> {
  const applied = await orm.getMigrator().up();
  return applied.map((m) => m.name);
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
  const pending = await pendingMigrations(orm);
  if (pending.length) throw new SchemaOutdatedError(pending);
}
