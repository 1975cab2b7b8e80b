/**
 * An enqueue without idempotency keys reads nothing first, so on PostgreSQL its jobs and their
 * `job.enqueued` events go as one statement that commits by itself (`commitRows` in postgres/executor.ts),
 * not as a transaction. It must stay all or nothing: a refused event takes its job, and every other
 * job of the bulk, with it.
 */
import pg from 'pg';
import { describe, expect, it, vi } from 'vitest';
import { DatabaseError } from '../src/errors.js';
import { RowBatch, writeRows } from '../src/store/engine/row-batch.js';
import type { Ledger } from '../src/store/ledger.js';
import type { Column, RowUpdate, Sql } from '../src/store/engine/sql.js';
import { backends } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

const columns: readonly Column[] = [
  { name: 'id', type: 'text' },
  { name: 'n', type: 'int' },
];
const bump: RowUpdate = { table: 'b', columns: [{ name: 'n', type: 'int' }], condition: { column: 'status', equals: 'x' } };
const postgres = { dialect: 'postgresql', bindsArrays: true } as const;

describe('RowBatch', () => {
  it('writes the rows of several tables as one statement where arrays bind, inserts before updates', () => {
    const batch = new RowBatch().insert('a', columns, [['a1', 1], ['a2', 2]]).insert('b', columns, [['b1', 3]]).update(bump, [['b0', 4]]);
    const statements = batch.statements(postgres);
    expect(statements).toHaveLength(1);
    expect(statements[0]!.text).toMatch(/^WITH w1 AS \(INSERT INTO a .*\), w2 AS \(INSERT INTO b .*\) UPDATE b /s);
    expect(batch.witness()).toEqual({ table: 'a', id: 'a1' });
  });

  it('keeps one statement per table when an update targets a row inserted with it, or arrays do not bind', () => {
    const insertThenUpdate = new RowBatch().insert('b', columns, [['b1', 1]]).update(bump, [['b1', 2]]);
    expect(insertThenUpdate.statements(postgres).map((s) => s.text.split(' ')[0])).toEqual(['INSERT', 'UPDATE']);
    const two = new RowBatch().insert('a', columns, [['a1', 1]]).insert('b', columns, [['b1', 1]]);
    expect(two.statements({ dialect: 'sqlite' })).toHaveLength(2);
    expect(two.statements({ dialect: 'postgresql' })).toHaveLength(2);
  });

  it('writes nothing more once written: writeRows empties it', async () => {
    const run: string[] = [];
    const sql: Sql = { dialect: 'sqlite', all: () => Promise.resolve([]), run: (text) => (run.push(text), Promise.resolve(1)) };
    const batch = new RowBatch().insert('a', columns, [['a1', 1]]);
    await writeRows(sql, batch);
    await writeRows(sql, batch);
    expect(run).toHaveLength(1);
    expect(batch.empty).toBe(true);
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
    // The jobs go with ON CONFLICT ... RETURNING (job-writes.ts), then their events.
    expect(texts()).toEqual(['BEGIN', 'INSERT', 'INSERT', 'COMMIT']);
    sent.mockRestore();

    const events = await ledger.transaction((tx) => tx.all(`SELECT subject_id, type, seq FROM events WHERE subject_id = ?`, [a!.id]));
    expect(events).toEqual([{ subject_id: a!.id, type: 'job.enqueued', seq: 1 }]);
    await ledger.close();
  });
});
