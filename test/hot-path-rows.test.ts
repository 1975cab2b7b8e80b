/**
 * The hot path's batched statements: rows go to PostgreSQL as one array per column through
 * `unnest`, and to SQLite as the parameters of a VALUES list (sql.ts), so every value must survive
 * that encoding unchanged; SQLite must look the batch's rows up by id, not walk an index of the
 * extra condition; and a job's starts and finishes touch no index (no index names `status`), which
 * on PostgreSQL makes them HOT updates.
 */
import { describe, expect, it } from 'vitest';
import { createFastExecutor } from '../src/store/engine/open-executor.js';
import { newId } from '../src/store/ids.js';
import { backends } from './support/backends.js';
import { decodeJson, insertRows, updateFromRows, updateRowsById, type RowUpdate } from '../src/store/engine/sql.js';
import { newJob, openTestLedger } from './support/ledger.js';
import { staleAttemptsQuery } from '../src/store/maintenance/stale-attempts.js';

const worker = { workerId: 'w "quoted", {braced}', host: 'h\\back', pid: 1 };

/** Strings that array literals must quote or escape: quotes, backslashes, braces, commas, NULL-like words. */
const awkward = ['"', '\\', '{', '}', ',', ' ', 'NULL', 'null', "it's", '\\"{,}\\', 'ünïcødé ✓', '', '\n\t'];

describe.each(backends)('hot-path rows on %s', (dialect) => {
  it('round-trip awkward strings and JSON through batched inserts and updates', async () => {
    const ledger = await openTestLedger(dialect);
    const jobs = awkward.map((s) => newJob({ payload: { s, nested: { list: [s, null, 1.5], [s || 'empty']: s } } }));
    await ledger.insertJobs(jobs);
    const begun = await Promise.all(jobs.map((j) => ledger.beginAttempt(j.id, worker)));
    const refs = begun.map((b) => {
      if (b.kind !== 'started') throw new Error(b.kind);
      return b.attempt;
    });
    await Promise.all(
      refs.map((ref, i) =>
        i % 2 === 0
          ? ledger.recordOutcome(ref, { type: 'completed', result: { echo: awkward[i] } })
          : ledger.recordOutcome(ref, {
              type: 'retry',
              attemptStatus: 'failed',
              error: { name: 'Error', message: `failed on ${awkward[i]!}` },
              delayMs: 1000,
            }),
      ),
    );
    for (const [i, job] of jobs.entries()) {
      const detail = await ledger.getJobDetail(job.id);
      expect(detail.job.payload).toEqual(job.payload);
      if (i % 2 === 0) expect(detail.job.result).toEqual({ echo: awkward[i] });
      else expect(detail.job.lastError).toEqual({ name: 'Error', message: `failed on ${awkward[i]!}` });
      expect(detail.attempts[0]).toMatchObject({ workerId: worker.workerId, host: worker.host, status: i % 2 === 0 ? 'succeeded' : 'failed' });
      expect(detail.events.map((e) => e.seq)).toEqual(i % 2 === 0 ? [1, 2, 3] : [1, 2, 3, 4]);
      expect(detail.events[1]!.payload).toMatchObject({ workerId: worker.workerId, host: worker.host });
    }
    await ledger.close();
  });

  it('start and finish a batch larger than one SQLite statement takes, each row to its own job', async () => {
    // 150 starts and 150 outcomes in one turn: on SQLite three statements each (64 + 64 + 22 rows),
    // whose returned rows must still reach the attempts they belong to.
    const ledger = await openTestLedger(dialect);
    const jobs = Array.from({ length: 150 }, (_, i) => newJob({ payload: { i } }));
    await ledger.insertJobs(jobs);
    const begun = await Promise.all(jobs.map((j) => ledger.beginAttempt(j.id, worker)));
    const refs = begun.map((b, i) => {
      if (b.kind !== 'started') throw new Error(b.kind);
      expect(b.job.id).toBe(jobs[i]!.id);
      expect(b.job.payload).toEqual({ i });
      return b.attempt;
    });
    expect(new Set(refs.map((r) => r.attemptId)).size).toBe(150);
    const recorded = await Promise.all(refs.map((ref, i) => ledger.recordOutcome(ref, { type: 'completed', result: { i } })));
    expect(recorded.every((r) => r.kind === 'applied')).toBe(true);
    const rows = await ledger.read((sql) => sql.all(`SELECT id, status, result FROM jobs`));
    const byId = new Map(rows.map((r) => [r.id, r]));
    for (const [i, job] of jobs.entries()) {
      const row = byId.get(job.id)!;
      expect(row.status).toBe('completed');
      expect(decodeJson(dialect, row.result)).toEqual({ i });
    }
    expect(await ledger.countRows('events')).toBe(450);
    await ledger.close();
  });

  it('apply a held update to a row inserted in the same transaction, and to older rows beside it', async () => {
    const ledger = await openTestLedger(dialect);
    const executor = createFastExecutor(ledger.target, { checkpoint: false });
    const columns = [
      { name: 'id', type: 'text' },
      { name: 'name', type: 'text' },
      { name: 'status', type: 'text' },
      { name: 'created_at', type: 'bigint' },
      { name: 'updated_at', type: 'bigint' },
      { name: 'version', type: 'int' },
    ] as const;
    const rename: RowUpdate = {
      table: 'runs',
      columns: [
        { name: 'name', type: 'text' },
        { name: 'updated_at', type: 'bigint' },
      ],
      condition: { column: 'status', equals: 'open' },
    };
    const [older, fresh] = [newId('run'), newId('run')];
    await executor.transaction((sql) => insertRows(sql, 'runs', columns, [[older, 'a', 'open', 1, 1, 1]]));
    await executor.transaction(async (sql) => {
      await insertRows(sql, 'runs', columns, [[fresh, 'b', 'open', 2, 2, 1]]);
      await updateRowsById(sql, rename, [
        [older, 'a renamed', 3],
        [fresh, 'b renamed', 3],
      ]);
    });
    const rows = await ledger.read((sql) => sql.all('SELECT id, name FROM runs ORDER BY created_at'));
    expect(rows.map((r) => [r.id, r.name])).toEqual([
      [older, 'a renamed'],
      [fresh, 'b renamed'],
    ]);
    await executor.close();
    await ledger.close();
  });

  it('index no column that a start or a finish changes', async () => {
    const ledger = await openTestLedger(dialect);
    const indexed = await ledger.read(async (sql) => {
      if (dialect === 'postgresql') {
        const rows = await sql.all(
          `SELECT a.attname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY(i.indkey) WHERE c.relname = 'jobs'`,
        );
        const predicates = await sql.all(`SELECT pg_get_expr(i.indpred, i.indrelid) AS p FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname = 'jobs' AND i.indpred IS NOT NULL`);
        return [...rows.map((r) => String(r.name)), ...predicates.map((r) => String(r.p))];
      }
      const indexes = await sql.all(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'jobs'`);
      const names: string[] = [];
      for (const index of indexes) {
        const columns = await sql.all(`SELECT name FROM pragma_index_info(?)`, [index.name]);
        names.push(...columns.map((c) => String(c.name)), typeof index.sql === 'string' ? index.sql : '');
      }
      return names;
    });
    const changedByStartOrFinish = ['status', 'status_reason', 'attempts_started', 'attempts_failed', 'current_attempt', 'started_at',
      'finished_at', 'updated_at', 'version', 'result', 'last_error', 'progress', 'run_at'];
    for (const column of changedByStartOrFinish) {
      expect(indexed.filter((entry) => new RegExp(`\\b${column}\\b`).test(entry)), column).toEqual([]);
    }
    await ledger.close();
  });
});

describe.each(backends)('the index of attempts by heartbeat on %s', (dialect) => {
  it('holds running attempts only, and the stale-attempt scan takes it', async () => {
    const ledger = await openTestLedger(dialect);
    const definitions = await ledger.read(async (sql) => {
      const rows =
        dialect === 'postgresql'
          ? await sql.all(`SELECT indexname AS name, indexdef AS sql FROM pg_indexes WHERE tablename = 'attempts' AND indexdef LIKE '%heartbeat_at%'`)
          : await sql.all(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'attempts' AND sql LIKE '%heartbeat_at%'`);
      return rows.map((r) => `${String(r.name)}: ${String(r.sql)}`);
    });
    expect(definitions).toHaveLength(1);
    expect(definitions[0]).toMatch(/^attempts_running_heartbeat_at_index: .* WHERE .*status.* = 'running'/i);
    if (dialect === 'sqlite') {
      const plan = await ledger.read((sql) => sql.all(`EXPLAIN QUERY PLAN ${staleAttemptsQuery('sqlite')}`, [0, '', 10]));
      expect(plan.map((row) => String(row.detail)).join('\n')).toMatch(/SEARCH a USING INDEX attempts_running_heartbeat_at_index/);
    }
    await ledger.close();
  });
});

describe.runIf(backends.includes('sqlite'))('batched statements on sqlite', () => {
  it('find each row of the batch by id even where the extra condition has an index', async () => {
    const ledger = await openTestLedger('sqlite');
    // An index of the extra condition (attempts_status_heartbeat_at_index led with `status`): given the choice, the planner walked
    // every running attempt and joined the batch to each.
    const finish: RowUpdate = { table: 'attempts', columns: [{ name: 'finished_at', type: 'bigint' }], condition: { column: 'status', equals: 'running' } };
    const [statement] = updateFromRows('sqlite', finish, [['att_x', 1], ['att_y', 2]]);
    const plan = await ledger.read((sql) => sql.all(`EXPLAIN QUERY PLAN ${statement!.text}`, statement!.params));
    const details = plan.map((row) => String(row.detail));
    expect(details.join('\n')).toMatch(/SEARCH attempts USING INDEX sqlite_autoindex_attempts_1 \(id=\?\)/);
    expect(details.join('\n')).not.toMatch(/heartbeat_at_index/);
    await ledger.close();
  });
});

describe.runIf(backends.includes('postgresql'))('job updates on postgresql', () => {
  it('keep working when a migration adds a column under a running worker (prepared statements)', async () => {
    const ledger = await openTestLedger('postgresql');
    const run = async (count: number) => {
      const jobs = Array.from({ length: count }, () => newJob());
      await ledger.insertJobs(jobs);
      // One by one and in batches: both the single and the batched statements get prepared.
      for (const job of jobs.slice(0, 8)) {
        const begun = await ledger.beginAttempt(job.id, worker);
        if (begun.kind !== 'started') throw new Error(begun.kind);
        await ledger.recordOutcome(begun.attempt, { type: 'completed', result: null });
      }
      const begun = await Promise.all(jobs.slice(8).map((j) => ledger.beginAttempt(j.id, worker)));
      return Promise.all(
        begun.map((b) => {
          if (b.kind !== 'started') throw new Error(b.kind);
          return ledger.recordOutcome(b.attempt, { type: 'completed', result: null });
        }),
      );
    };
    for (let round = 0; round < 6; round++) await run(16);
    await ledger.transaction((sql) => sql.run('ALTER TABLE jobs ADD COLUMN added_later int'));
    const after = await run(16);
    expect(after.every((r) => r.kind === 'applied')).toBe(true);
    await ledger.close();
  });

  it('leave room on each page of jobs for the new versions of HOT updates', async () => {
    // Whether a given update is HOT also depends on what else runs on the server (pruning waits
    // for older snapshots), so the test checks the two conditions the ledger controls: this
    // fillfactor, and no indexed column changed by a start or a finish (above).
    const ledger = await openTestLedger('postgresql');
    const [row] = await ledger.read((sql) => sql.all(`SELECT reloptions FROM pg_class WHERE relname = 'jobs'`));
    expect(row!.reloptions).toEqual(['fillfactor=70']);
    await ledger.close();
  });
});
