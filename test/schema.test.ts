/**
 * The committed migrations and the entity schemas describe the same database: after migrating a
 * fresh database, MikroORM's schema diff has nothing to add, on either dialect. A database on an
 * older schema migrates to the current one with its rows.
 */
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../src/config.js';
import { Ledger } from '../src/store/ledger.js';
import { ledgerMigrator } from '../src/store/orm/migrator.js';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { track } from './support/leak-check.js';
import { newJob } from './support/ledger.js';

/** The columns of the attempts table, by name. */
async function attemptColumns(ledger: Ledger): Promise<string[]> {
  const rows = await ledger.read((sql) =>
    sql.dialect === 'sqlite'
      ? sql.all(`SELECT name FROM pragma_table_info('attempts')`)
      : sql.all(`SELECT column_name AS name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'attempts'`),
  );
  return rows.map((r) => r.name as string);
}

describe.each(backends)('schema on %s', (dialect) => {
  it('matches the entities after all migrations, and migrating again applies nothing', async () => {
    const ledger = track(await Ledger.open(parseDatabaseUrl(await freshDatabaseUrl(dialect)), { migrate: true }), 'Ledger');
    const diff = await ledger.orm.schema.getUpdateSchemaSQL({ wrap: false });
    expect(diff.trim()).toBe('');
    expect(await ledger.pendingMigrations()).toEqual([]);
    expect(await ledger.migrate()).toEqual([]);
    await ledger.close();
  });

  it('drops the unused attempt columns from a database on the previous schema, keeping its attempts', async () => {
    const ledger = track(await Ledger.open(parseDatabaseUrl(await freshDatabaseUrl(dialect)), { skipSchemaCheck: true }), 'Ledger');
    await (await ledgerMigrator(ledger.orm)).up({ to: 'Migration20261204000000RunningAttempts' });
    await ledger.transaction((sql) =>
      sql.run(
        `INSERT INTO attempts (id, job_id, number, status, worker_id, host, pid, fencing_token, started_at, heartbeat_at, result)
         VALUES ('att_1', 'job_1', 1, 'running', 'w', 'h', 1, 'token', 1000, 2000, NULL)`,
      ),
    );
    expect(await attemptColumns(ledger)).toEqual(expect.arrayContaining(['fencing_token', 'result']));

    const applied = await ledger.migrate();
    expect(applied[0]).toBe('Migration20261206000000UnusedAttemptColumns');
    const columns = await attemptColumns(ledger);
    expect(columns).not.toContain('fencing_token');
    expect(columns).not.toContain('result');
    const rows = await ledger.read((sql) => sql.all('SELECT id, number, status, started_at, heartbeat_at FROM attempts'));
    expect(rows.map((r) => [r.id, Number(r.number), r.status, Number(r.started_at), Number(r.heartbeat_at)])).toEqual([
      ['att_1', 1, 'running', 1000, 2000],
    ]);

    // Down adds them back, empty; up drops them again.
    await (await ledgerMigrator(ledger.orm)).down({ to: 'Migration20261206000000UnusedAttemptColumns' });
    expect(await attemptColumns(ledger)).toEqual(expect.arrayContaining(['fencing_token', 'result']));
    expect(await ledger.migrate()).toEqual(applied);
    await ledger.close();
  });

  it('adds and drops the nullable trace context column of jobs, keeping the jobs', async () => {
    const ledger = track(await Ledger.open(parseDatabaseUrl(await freshDatabaseUrl(dialect)), { migrate: true }), 'Ledger');
    expect((await ledger.orm.schema.getUpdateSchemaSQL({ wrap: false })).trim()).toBe('');
    await ledger.insertJobs([newJob({ id: 'job_traced', traceContext: '{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}' })]);
    expect((await ledger.getJob('job_traced')).traceContext).toBe('{"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}');
    const executed = (await (await ledgerMigrator(ledger.orm)).getExecutedMigrations()).map((m) => m.name);
    await (await ledgerMigrator(ledger.orm)).down({ to: 'Migration20261207000000JobTraceContext' });
    // That migration and every later one.
    const reverted = executed.slice(executed.indexOf('Migration20261207000000JobTraceContext'));
    expect(reverted.slice(0, 2)).toEqual(['Migration20261207000000JobTraceContext', 'Migration20261207010000EventCommitOrder']);
    expect(await ledger.pendingMigrations()).toEqual(reverted);
    expect((await ledger.read((sql) => sql.all('SELECT id FROM jobs'))).map((r) => r.id)).toEqual(['job_traced']);
    expect(await ledger.migrate()).toEqual(reverted);
    expect((await ledger.getJob('job_traced')).traceContext).toBeNull();
    await ledger.close();
  });

  it('gives an existing database one identity of its own when it migrates, kept from then on', async () => {
    const url = await freshDatabaseUrl(dialect);
    const older = track(await Ledger.open(parseDatabaseUrl(url), { skipSchemaCheck: true }), 'Ledger');
    await (await ledgerMigrator(older.orm)).up({ to: 'Migration20261206000000UnusedAttemptColumns' });
    expect(await older.migrate()).toContain('Migration20261210000000LedgerIdentity');
    const identity = await older.identity();
    expect(identity).toMatch(/^ldg_[0-9A-Z]{26}$/);
    await older.close();

    const reopened = track(await Ledger.open(parseDatabaseUrl(url)), 'Ledger');
    expect(await reopened.identity()).toBe(identity);
    expect(await reopened.read((sql) => sql.all('SELECT id FROM ledger_identity'))).toEqual([{ id: identity }]);
    await reopened.close();

    const other = track(await Ledger.open(parseDatabaseUrl(await freshDatabaseUrl(dialect)), { migrate: true }), 'Ledger');
    expect(await other.identity()).not.toBe(identity);
    await other.close();
  });

  it('refuses to open an unmigrated database, naming the missing migrations', async () => {
    const target = parseDatabaseUrl(await freshDatabaseUrl(dialect));
    await expect(Ledger.open(target)).rejects.toMatchObject({ code: 'JOBLEDGER_SCHEMA_OUTDATED' });
  });
});
