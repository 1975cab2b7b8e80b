/**
 * PostgreSQL's one-statement batches (attempt-batch-alone.ts): they must leave exactly the rows the
 * transactional path leaves, and their plans, cached once per connection and made while the tables
 * may still be small, must reach rows by primary key at any size.
 */
import { describe, expect, it } from 'vitest';
import pg from 'pg';
import { beginAttempts, recordOutcomes } from '../src/store/attempts/attempt-batch.js';
import { beginAlone, outcomeAlone } from '../src/store/engine/postgres/attempt-statements.js';
import { waitingSources, type AttemptRef, type BeginResult } from '../src/store/attempts/attempt-writes.js';
import { positional } from '../src/store/engine/postgres/executor.js';
import type { Outcome } from '../src/store/attempts/outcome.js';
import type { Statement } from '../src/store/engine/sql.js';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';

const worker = { workerId: 'w-1', host: 'host-1', pid: 4242 };
const error = { name: 'TypeError', message: 'bad input', code: 'E_BAD' };
const outcomes: Outcome[] = [
  { type: 'completed', result: { n: 1 } },
  { type: 'retry', attemptStatus: 'timed_out', error, delayMs: 750 },
  { type: 'failed', attemptStatus: 'failed', error, reason: 'attempts exhausted' },
  { type: 'interrupted', reason: 'worker shutting down' },
];

function started(results: BeginResult[]): AttemptRef[] {
  return results.map((r) => {
    if (r.kind !== 'started') throw new Error(`expected started, got ${r.kind}`);
    return r.attempt;
  });
}

describe.runIf(backends.includes('postgresql'))('one-statement batches on postgresql', () => {
  it('leave the same job, attempt and event rows as the transactional path', async () => {
    const ledger = await openTestLedger('postgresql');
    // Jobs i and i + 4 get the same start and outcome: i in one statement alone, i + 4 in a transaction.
    const jobs = [...outcomes, ...outcomes].map((_, i) => newJob({ payload: { i: i % 4 }, runAt: 1_000, createdAt: 1_000 }));
    await ledger.insertJobs(jobs);
    const alone = jobs.slice(0, 4);
    const inTransaction = jobs.slice(4);

    const before = ledger.groupCommitStats.aloneWrites;
    const aloneRefs = started(await Promise.all(alone.map((j) => ledger.beginAttempt(j.id, worker, 2_000))));
    const txRefs = started(await ledger.transaction((sql) => beginAttempts(sql, inTransaction.map((j) => ({ jobId: j.id, worker, now: 2_000 })))));
    const progress = { step: 'last' };
    const aloneRecorded = await Promise.all(aloneRefs.map((ref, i) => ledger.recordOutcome(ref, outcomes[i]!, i === 0 ? progress : undefined, 2_500)));
    const txRecorded = await ledger.transaction((sql) =>
      recordOutcomes(sql, txRefs.map((ref, i) => ({ ref, outcome: outcomes[i]!, now: 2_500, progress: i === 0 ? progress : undefined, hooks: [] }))),
    );
    expect(ledger.groupCommitStats.aloneWrites - before).toBe(8);
    expect(aloneRecorded.map((r) => ({ ...r, job: { ...(r as { job: object }).job, id: 'x' } }))).toEqual(
      txRecorded.map((r) => ({ ...r, job: { ...(r as { job: object }).job, id: 'x' } })),
    );

    // Everything but the ids each path makes for itself must match, row by row.
    const masked = async (jobId: string) => {
      const detail = await ledger.getJobDetail(jobId);
      return {
        job: { ...detail.job, id: 'job', payload: null },
        // The first heartbeat is the database's clock (not the fake 2_000), on both paths.
        attempts: detail.attempts.map((a) => ({ ...a, id: 'att', jobId: 'job', heartbeatAt: a.heartbeatAt > 1e12 ? 'database clock' : a.heartbeatAt })),
        events: detail.events.map((e) => ({ ...e, id: 'evt', subjectId: 'job' })),
      };
    };
    for (let i = 0; i < 4; i++) {
      const [viaAlone, viaTransaction] = [await masked(alone[i]!.id), await masked(inTransaction[i]!.id)];
      expect(viaAlone.events.length).toBeGreaterThanOrEqual(3);
      expect(viaAlone, outcomes[i]!.type).toEqual(viaTransaction);
    }
    await ledger.close();
  });

  it('find jobs by a bound id through the primary key once the table has grown, whatever plan the empty table gave', async () => {
    const url = await freshDatabaseUrl('postgresql');
    const ledger = await openTestLedger('postgresql', url);
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      // An empty jobs table with statistics, as autovacuum leaves a new ledger's. A generic plan of
      // `id = ANY($ids)` made now scans a whole index on (queue, created_at, id) for the ids: cheap
      // while the table is empty, and a scan of every job for every mark once it holds millions.
      await admin.query('ANALYZE jobs');
      // More than the five runs after which PostgreSQL may keep a generic plan, on the pool's
      // connections (an idle connection is reused last-in, first-out): marks (`id = ANY($ids)`)
      // and progress updates (`id = $id`) of jobs that are not there.
      const missing = (i: number) => ({ jobId: `job_missing_${i}`, attemptId: `att_missing_${i}`, number: 1, startedAt: 1_000 });
      for (let i = 0; i < 12; i++) {
        await ledger.markDispatched([`job_missing_${i}`]);
        expect(await ledger.recordProgress(missing(i), { step: i }, false)).toBe(false);
      }
      const jobs = Array.from({ length: 3000 }, () => newJob());
      await ledger.insertJobs(jobs);
      await ledger.markDispatched(jobs.slice(0, 200).map((j) => j.id));
      expect((await ledger.getJob(jobs[0]!.id)).dispatchedAt).not.toBeNull();
      expect((await ledger.getJob(jobs[200]!.id)).dispatchedAt).toBeNull();
      for (let i = 0; i < 5; i++) expect(await ledger.recordProgress({ ...missing(0), jobId: jobs[2999 - i]!.id }, { step: i }, false)).toBe(false);
    } finally {
      await ledger.close();
    }
    try {
      // A backend reports its statistics as it exits: wait until the ledger's have.
      const database = new URL(url).pathname.slice(1);
      for (let i = 0; i < 200; i++) {
        const { rows } = await admin.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
        if (rows[0]!.n === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await admin.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await admin.query<{ indexrelname: string; idx_tup_read: string }>(
        "SELECT indexrelname, idx_tup_read FROM pg_stat_user_indexes WHERE relname = 'jobs' AND indexrelname <> 'jobs_pkey' AND idx_tup_read > 0",
      );
      // The marks and progress updates read jobs through the primary key alone; no other index of jobs was read.
      expect(rows).toEqual([]);
    } finally {
      await admin.end();
    }
  });

  it('plan each statement on primary keys even while the tables are empty (generic plans)', async () => {
    const url = await freshDatabaseUrl('postgresql');
    const ledger = await openTestLedger('postgresql', url);
    await ledger.close();
    // The settings of the hot path's connections (postgres/executor.ts), and a generic plan made at once.
    const client = new pg.Client({ connectionString: url, options: '-c enable_seqscan=off -c plan_cache_mode=force_generic_plan' });
    await client.connect();
    try {
      const statements: [string, Statement][] = [
        ['begin', beginAlone.statements('arrays', [], waitingSources)[0]!],
        ['outcome', outcomeAlone.statements('arrays', [], ['[]'])[0]!],
      ];
      for (const [name, statement] of statements) {
        await client.query({ name, text: positional(statement.text), values: statement.params });
        const nulls = statement.params.map(() => 'NULL').join(', ');
        const plan = (await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE ${name}(${nulls})`)).rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan, name).toContain('Index Scan using jobs_pkey on jobs');
        expect(plan, name).not.toMatch(/Seq Scan|heartbeat_at_index/);
        if (name === 'outcome') expect(plan).toContain('Index Scan using attempts_pkey on attempts');
      }
    } finally {
      await client.end();
    }
  });
});
