/**
 * An enqueue without idempotency keys reads nothing first, so on PostgreSQL its jobs and their
 * `job.enqueued` events go as one statement that commits by itself (`writeAlone` in postgres/executor.ts),
 * not as a transaction. It must stay all or nothing: a refused event takes its job, and every other
 * job of the bulk, with it.
 */
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { DatabaseError } from '../src/errors.js';
import { writtenAsOneStatement } from '../src/store/engine/deferring-sql.js';
import type { Ledger } from '../src/store/ledger.js';
import { insertRows, updateRowsById, type Column, type RowUpdate, type Sql } from '../src/store/engine/sql.js';
import { backends } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

const columns: readonly Column[] = [
  { name: 'id', type: 'text' },
  { name: 'n', type: 'int' },
];
const bump: RowUpdate = { table: 'b', columns: [{ name: 'n', type: 'int' }], condition: { column: 'status', equals: 'x' } };
const postgres = { dialect: 'postgresql', bindsArrays: true } as const;

describe('writtenAsOneStatement', () => {
  it('returns the rows held for several tables as one statement, and the work result', async () => {
    const held = await writtenAsOneStatement(postgres, async (sql) => {
      await insertRows(sql, 'a', columns, [['a1', 1], ['a2', 2]]);
      await insertRows(sql, 'b', columns, [['b1', 3]]);
      await updateRowsById(sql, bump, [['b0', 4]]);
      return 'done';
    });
    expect(held?.result).toBe('done');
    expect(held?.statement.text).toMatch(/^WITH w1 AS \(INSERT INTO a .*\), w2 AS \(INSERT INTO b .*\) UPDATE b /s);
  });

  it('gives up, having run nothing, when the work runs a statement of its own', async () => {
    let after = false;
    const held = await writtenAsOneStatement(postgres, async (sql) => {
      await insertRows(sql, 'a', columns, [['a1', 1]]);
      await sql.all('SELECT 1');
      after = true;
    });
    expect(held).toBeUndefined();
    expect(after).toBe(false);
  });

  it('gives up when an update targets a row inserted with it, or arrays do not bind', async () => {
    const insertThenUpdate = async (sql: Sql): Promise<void> => {
      await insertRows(sql, 'b', columns, [['b1', 1]]);
      await updateRowsById(sql, bump, [['b1', 2]]);
    };
    expect(await writtenAsOneStatement(postgres, insertThenUpdate)).toBeUndefined();
    const holdOne = (sql: Sql): Promise<void> => insertRows(sql, 'a', columns, [['a1', 1]]);
    expect(await writtenAsOneStatement({ dialect: 'sqlite' }, holdOne)).toBeUndefined();
  });

  it('passes on what the work throws', async () => {
    await expect(
      writtenAsOneStatement(postgres, () => {
        throw new Error('bad input');
      }),
    ).rejects.toThrow('bad input');
  });
});

/** Makes inserting the `job.enqueued` event of a job named `name` fail, on either dialect. */
async function refuseEventsOf(ledger: Ledger, name: string): Promise<void> {
  await ledger.transaction(async (tx) => {
    if (tx.dialect === 'sqlite') {
      await tx.run(
        `CREATE TRIGGER refuse_event BEFORE INSERT ON events WHEN json_extract(NEW.payload, '$.name') = '${name}'
         BEGIN SELECT RAISE(ABORT, 'event refused by the test'); END`,
      );
    } else {
      await tx.run(
        `CREATE OR REPLACE FUNCTION refuse_event() RETURNS trigger AS $$
         BEGIN RAISE EXCEPTION 'event refused by the test'; END $$ LANGUAGE plpgsql`,
      );
      await tx.run(`CREATE TRIGGER refuse_event BEFORE INSERT ON events FOR EACH ROW WHEN (NEW.payload->>'name' = '${name}') EXECUTE FUNCTION refuse_event()`);
    }
  });
}

describe.each(backends)('enqueue without idempotency keys (%s)', (dialect) => {
  it('writes a bulk all or nothing: a refused event leaves no job and no event of the bulk', async () => {
    const ledger = await openTestLedger(dialect);
    await refuseEventsOf(ledger, 'refused');
    const jobs = [newJob(), newJob({ name: 'refused' }), newJob()];

    // A coded error whose message leaves the database's own text out; the driver's error is its cause.
    const refused = await ledger.insertJobs(jobs).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(DatabaseError);
    expect(((refused as DatabaseError).cause as Error).message).toMatch(/event refused by the test/);

    const ids = jobs.map((j) => j.id);
    expect(await ledger.transaction((tx) => tx.all(`SELECT id FROM jobs WHERE id IN (?, ?, ?)`, ids))).toEqual([]);
    expect(await ledger.transaction((tx) => tx.all(`SELECT id FROM events WHERE subject_id IN (?, ?, ?)`, ids))).toEqual([]);
    // The ledger goes on: a bulk the trigger lets through is written whole.
    const [ok] = await ledger.insertJobs([newJob()]);
    expect((await ledger.getJob(ok!.id))?.status).toBe('pending');
    await ledger.close();
  });
});

describe('enqueue on PostgreSQL', () => {
  it('inserts jobs without keys in one statement outside a transaction, and keyed jobs in a transaction', async () => {
    const ledger = await openTestLedger('postgresql');
    // What reaches the driver (the spy calls through): the hot path's pool uses this pg module.
    const sent = vi.spyOn(pg.Client.prototype, 'query');
    const texts = (): string[] =>
      sent.mock.calls.map(([query]) => (typeof query === 'string' ? query : (query as { text: string }).text).trim().split(/\s+/)[0]!);

    const [a] = await ledger.insertJobs([newJob(), newJob()]);
    expect(texts()).toEqual(['WITH']);
    sent.mockClear();
    await ledger.insertJobs([newJob({ idempotencyKey: 'order-1' })]);
    // The jobs go with ON CONFLICT ... RETURNING (job-writes.ts); their events are held to the commit.
    expect(texts()).toEqual(['BEGIN', 'INSERT', 'INSERT', 'COMMIT']);
    sent.mockRestore();

    const events = await ledger.transaction((tx) => tx.all(`SELECT subject_id, type, seq FROM events WHERE subject_id = ?`, [a!.id]));
    expect(events).toEqual([{ subject_id: a!.id, type: 'job.enqueued', seq: 1 }]);
    await ledger.close();
  });
});
