/**
 * The SQLite WAL is checkpointed by a thread of its own once the hot path writes, so that commits
 * on the worker's event loop do not pay for checkpoints; the writing connection's own automatic
 * checkpoint is only a fallback at a far higher threshold.
 */
import { statSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDatabaseUrl } from '../src/config.js';
import { Ledger } from '../src/store/ledger.js';
import { fallbackAutocheckpointPages } from '../src/store/engine/sqlite/checkpointer.js';
import { createFastExecutor } from '../src/store/engine/open-executor.js';
import { freshDatabaseUrl } from './support/backends.js';
import { waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';
import { newJob } from './support/ledger.js';

describe('the SQLite checkpointer', () => {
  it('copies the WAL into the database file while the writer keeps only a high fallback threshold', async () => {
    const target = parseDatabaseUrl(await freshDatabaseUrl('sqlite'));
    const ledger = track(await Ledger.open(target, { migrate: true }), 'Ledger');
    const path = target.sqlitePath!;
    const sizeBefore = statSync(path).size;

    // About 2 MB of rows: far below the fallback threshold (~40 MB), so only the thread can have
    // copied them into the database file.
    for (let i = 0; i < 4; i++) await ledger.insertJobs(Array.from({ length: 1000 }, () => newJob({ payload: { pad: 'x'.repeat(500) } })));
    // The hot path writes on a connection of its own; that connection is the one that must not checkpoint.
    const executor = createFastExecutor(target);
    const [pragma] = await executor.transaction((sql) => sql.all('PRAGMA wal_autocheckpoint'));
    await executor.close();
    expect(Object.values(pragma ?? {})).toEqual([fallbackAutocheckpointPages]);

    const grown = await waitFor(
      () => Promise.resolve(statSync(path).size > sizeBefore + 1_000_000 ? statSync(path).size : undefined),
      'the database file to receive the checkpointed pages',
      10_000,
    );
    expect(grown).toBeGreaterThan(sizeBefore);
    // Everything written is readable and the file is sound after the thread's checkpoints.
    const [count] = await ledger.read((sql) => sql.all('SELECT COUNT(*) AS n FROM jobs'));
    expect(Number(count?.n)).toBe(4000);
    const [integrity] = await ledger.read((sql) => sql.all('PRAGMA integrity_check'));
    expect(Object.values(integrity ?? {})).toEqual(['ok']);
    await ledger.close();
  });
});
