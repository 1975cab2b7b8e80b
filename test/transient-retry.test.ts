import { describe, expect, it } from 'vitest';
import { createFastExecutor } from '../src/store/engine/open-executor.js';
import type { Sql } from '../src/store/engine/sql.js';
import { openTestJobLedger } from './support/harness.js';

/**
 * Two transactions lock the same two rows in opposite orders, each waiting for the other to hold
 * its first row: PostgreSQL must abort one of them as a deadlock victim (40P01). The victim is run
 * again from the start and both commit; nobody sees the deadlock.
 */
describe('a PostgreSQL deadlock victim', () => {
  for (const path of ['ORM transaction', 'prepared hot path'] as const) {
    it(`is retried as a whole on the ${path}`, async () => {
      const jl = await openTestJobLedger('postgresql', { jobs: [] });
      try {
        const transaction =
          path === 'ORM transaction'
            ? <T>(work: (sql: Sql) => Promise<T>) => jl.ledger.transaction(work)
            : createFastExecutor(jl.ledger.target, { checkpoint: false }).transaction;
        await jl.ledger.transaction((sql) => sql.run('CREATE TABLE deadlock_probe (id INT PRIMARY KEY, writes INT NOT NULL)'));
        await jl.ledger.transaction((sql) => sql.run('INSERT INTO deadlock_probe VALUES (1, 0), (2, 0)'));

        let holding = 0;
        let bothHolding: () => void = () => undefined;
        const bothHold = new Promise<void>((resolve) => (bothHolding = resolve));
        const runs = { forward: 0, backward: 0 };
        const lockInOrder = (name: keyof typeof runs, first: number, second: number) =>
          transaction(async (sql) => {
            runs[name]++;
            await sql.run('UPDATE deadlock_probe SET writes = writes + 1 WHERE id = ?', [first]);
            if (runs[name] === 1) {
              if (++holding === 2) bothHolding();
              await bothHold;
            }
            await sql.run('UPDATE deadlock_probe SET writes = writes + 1 WHERE id = ?', [second]);
            return name;
          });

        const results = await Promise.allSettled([lockInOrder('forward', 1, 2), lockInOrder('backward', 2, 1)]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
        // Exactly one side was chosen as the victim and ran again.
        expect(runs.forward + runs.backward).toBe(3);
        // The victim's first run left nothing behind: each row counts one write per committed transaction.
        const rows = await jl.ledger.read((sql) => sql.all('SELECT id, writes FROM deadlock_probe ORDER BY id'));
        expect(rows.map((r) => Number(r.writes))).toEqual([2, 2]);
      } finally {
        await jl.close();
      }
    });
  }
});
