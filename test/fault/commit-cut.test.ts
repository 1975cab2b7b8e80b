/**
 * A COMMIT cut off mid-flight, on PostgreSQL (SQLite has no connection to lose). A proxy that reads
 * the wire protocol (support/fault/pg-proxy.ts) cuts the ledger's connection at the commit of one
 * chosen write: after the COMMIT reached the server (it landed, unseen), before (it did not), or
 * holding it back while the server process waits in its open transaction and delivering it later
 * (what a partitioned network can do). Each time, the write's caller gets the right answer, read
 * from the ledger once the old server process is gone, and the write exists exactly once: never a
 * job inserted twice, a second attempt begun, an outcome applied twice, or an enqueue reported
 * failed that landed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { parseDatabaseUrl } from '../../src/config.js';
import { JobLedger } from '../../src/jobledger.js';
import { Ledger } from '../../src/store/ledger.js';
import { claimTick } from '../../src/store/maintenance/maintenance-runs.js';
import type { AttemptRef } from '../../src/store/attempts/attempt-writes.js';
import { freshDatabaseUrl, testConfig } from '../support/backends.js';
import { scriptedJob } from '../support/fixtures/scripted-job.js';
import { track } from '../support/leak-check.js';
import { newJob } from '../support/ledger.js';
import { startPgProxy, type CutMode, type CutPlan, type PgProxy } from '../support/fault/pg-proxy.js';

const worker = { workerId: 'commit-cut-test', host: 'test', pid: process.pid };
const modes: readonly CutMode[] = ['after', 'before', 'hold'];
const holdMs = 1500;
const isCommit = (sql: string): boolean => /^\s*COMMIT\b/i.test(sql);

let databaseUrl: string;
let direct: pg.Client;

beforeAll(async () => {
  databaseUrl = await freshDatabaseUrl('postgresql');
  await (await Ledger.open(parseDatabaseUrl(databaseUrl), { migrate: true })).close();
  direct = new pg.Client({ connectionString: databaseUrl });
  await direct.connect();
});

afterAll(async () => {
  await direct.end();
});

async function count(sql: string, params: unknown[]): Promise<number> {
  const { rows } = await direct.query<{ n: string }>(`SELECT COUNT(*) AS n FROM (${sql}) AS q`, params);
  return Number(rows[0]!.n);
}

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 10));
}

async function backendAlive(pid: number | undefined): Promise<boolean> {
  return (await direct.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 1;
}

/** A Ledger whose every connection goes through a fresh proxy. */
async function ledgerThroughProxy(): Promise<{ ledger: Ledger; proxy: PgProxy }> {
  const proxy = await startPgProxy(Number(new URL(databaseUrl).port || 5432));
  const ledger = track(await Ledger.open(parseDatabaseUrl(proxy.url(databaseUrl))), 'Ledger through the proxy');
  return { ledger, proxy };
}

/** Runs `write` with a cut armed; returns the write's result and the cut's report. */
async function withCut<T>(proxy: PgProxy, plan: Omit<CutPlan, 'holdMs'>, write: () => Promise<T>) {
  const cut = proxy.armCut({ ...plan, holdMs });
  const result = await write();
  const report = await Promise.race([cut, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 100))]);
  expect(report, 'the armed commit point was met').toBeDefined();
  return { result, report: report! };
}

/** After a held COMMIT's delay: anything it could still have done, it has done by now. */
async function afterHold(mode: CutMode): Promise<void> {
  if (mode === 'hold') await new Promise((resolve) => setTimeout(resolve, holdMs + 300));
}

describe('a COMMIT cut off mid-flight on PostgreSQL', () => {
  it.each(modes)('enqueue in a transaction (idempotency key), cut %s the COMMIT: created once, reported created', async (mode) => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const job = newJob({ idempotencyKey: `cut-tx-${mode}` });
    const { result, report } = await withCut(proxy, { match: isCommit, mode }, () => ledger.insertJobs([job]));
    expect(result).toMatchObject([{ id: job.id, created: true }]);
    // The server process that held the transaction is gone before anything was read (the fence).
    expect(await backendAlive(report.backendPid)).toBe(false);
    await afterHold(mode);
    expect(await count('SELECT id FROM jobs WHERE id = $1', [job.id])).toBe(1);
    expect(await count(`SELECT id FROM events WHERE subject_id = $1 AND type = 'job.enqueued'`, [job.id])).toBe(1);
    await ledger.close();
    await proxy.close();
  });

  it.each(modes)('enqueue as one statement that commits by itself, cut %s it commits: inserted once', async (mode) => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const jobs = [newJob(), newJob()];
    const { result } = await withCut(proxy, { match: (sql) => sql.includes('INSERT INTO jobs'), mode }, () => ledger.insertJobs(jobs));
    expect(result.map((r) => [r.id, r.created])).toEqual(jobs.map((j) => [j.id, true]));
    await afterHold(mode);
    expect(await count('SELECT id FROM jobs WHERE id = ANY($1)', [jobs.map((j) => j.id)])).toBe(2);
    expect(await count(`SELECT id FROM events WHERE subject_id = ANY($1)`, [jobs.map((j) => j.id)])).toBe(2);
    await ledger.close();
    await proxy.close();
  });

  it.each(modes)('an attempt begin cut %s it commits: one attempt, started once', async (mode) => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const job = newJob();
    await ledger.insertJobs([job]);
    const { result } = await withCut(proxy, { match: (sql) => sql.includes('WITH started AS'), mode }, () => ledger.beginAttempt(job.id, worker));
    expect(result).toMatchObject({ kind: 'started', attempt: { number: 1 } });
    await afterHold(mode);
    expect(await count('SELECT id FROM attempts WHERE job_id = $1', [job.id])).toBe(1);
    const { rows } = await direct.query('SELECT status, attempts_started, version FROM jobs WHERE id = $1', [job.id]);
    expect(rows[0]).toMatchObject({ status: 'running', attempts_started: 1, version: 2 });
    expect(await count('SELECT seq FROM events WHERE subject_id = $1', [job.id])).toBe(2);
    await ledger.close();
    await proxy.close();
  });

  it.each(modes)('an outcome cut %s it commits: applied once, reported applied', async (mode) => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const job = newJob();
    await ledger.insertJobs([job]);
    const begun = await ledger.beginAttempt(job.id, worker);
    if (begun.kind !== 'started') throw new Error(`expected a started attempt, got ${begun.kind}`);
    const ref: AttemptRef = begun.attempt;
    const { result } = await withCut(proxy, { match: (sql) => sql.includes('WITH finished AS'), mode }, () =>
      ledger.recordOutcome(ref, { type: 'completed', result: { ok: true } }),
    );
    expect(result).toMatchObject({ kind: 'applied', job: { status: 'completed' } });
    await afterHold(mode);
    const { rows } = await direct.query('SELECT status FROM attempts WHERE job_id = $1', [job.id]);
    expect(rows).toEqual([{ status: 'succeeded' }]);
    expect(await count(`SELECT id FROM events WHERE subject_id = $1 AND type = 'job.completed'`, [job.id])).toBe(1);
    expect(await count(`SELECT id FROM events WHERE subject_id = $1 AND type = 'job.superseded'`, [job.id])).toBe(0);
    const { rows: seqs } = await direct.query('SELECT seq FROM events WHERE subject_id = $1 ORDER BY seq', [job.id]);
    expect(seqs.map((r: { seq: string }) => Number(r.seq))).toEqual([1, 2, 3]);
    await ledger.close();
    await proxy.close();
  });

  it('writes with no row of their own to tell by (heartbeats, dispatched marks) run again: they change nothing twice', async () => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const job = newJob();
    await ledger.insertJobs([job]);
    await withCut(proxy, { match: (sql) => sql.includes('dispatched_at = COALESCE'), mode: 'after' }, () => ledger.markDispatched([job.id], 1_000));
    const begun = await ledger.beginAttempt(job.id, worker, 2_000);
    if (begun.kind !== 'started') throw new Error(`expected a started attempt, got ${begun.kind}`);
    await withCut(proxy, { match: isCommit, mode: 'after' }, () => ledger.recordHeartbeats([begun.attempt.attemptId]));
    const { rows } = await direct.query('SELECT j.dispatched_at, a.heartbeat_at FROM jobs j JOIN attempts a ON a.job_id = j.id WHERE j.id = $1', [job.id]);
    expect(rows).toHaveLength(1);
    expect(rows[0].dispatched_at).toBe('1000');
    // Stamped by the database's clock, once: well past the start's 2 000.
    expect(Number(rows[0].heartbeat_at)).toBeGreaterThan(1_000_000_000_000);
    await ledger.close();
    await proxy.close();
  });

  it.each(modes)("a transactional enqueue through the caller's EntityManager, cut %s the COMMIT: the job tells", async (mode) => {
    const proxy = await startPgProxy(Number(new URL(databaseUrl).port || 5432));
    const config = await testConfig('postgresql', { DATABASE_URL: proxy.url(databaseUrl) });
    const jl = track(await JobLedger.open({ jobs: [scriptedJob], config, relay: false }), 'JobLedger through the proxy');
    const tag = `cut-caller-${mode}-${Date.now()}`;
    const cut = proxy.armCut({ match: isCommit, mode, holdMs });
    const outcome = await jl
      .transaction(jl.ledger.orm.em.fork(), (tx) => tx.enqueue('test.scripted', { action: 'succeed', tag }))
      .then((job) => ({ job }), (error: unknown) => ({ error: error as { code?: string } }));
    expect(await cut).toMatchObject({ mode });
    await afterHold(mode);
    const rows = await count(`SELECT id FROM jobs WHERE payload->>'tag' = $1`, [tag]);
    if (mode === 'after') {
      // Landed: reported as enqueued, like any commit.
      expect(outcome).toMatchObject({ job: { created: true } });
      expect(rows).toBe(1);
    } else {
      // Not landed (the held COMMIT reached a server process already terminated): a retryable error.
      expect(outcome).toMatchObject({ error: { code: 'JOBLEDGER_DATABASE_UNAVAILABLE', retryable: true } });
      expect(rows).toBe(0);
    }
    await jl.close();
    await proxy.close();
  });

  it('an ORM transaction (an operator action) whose COMMIT is cut reports its outcome as unknown, not as a failure', async () => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const job = newJob();
    await ledger.insertJobs([job]);
    const cut = proxy.armCut({ match: isCommit, mode: 'after' });
    const error = await ledger.cancelJob({ jobId: job.id, actor: 'test', reason: 'cut', now: Date.now() }).then(
      () => undefined,
      (e: unknown) => e as { code?: string; retryable?: boolean },
    );
    const { backendPid } = await cut;
    expect(error).toMatchObject({ code: 'JOBLEDGER_COMMIT_OUTCOME_UNKNOWN', retryable: false });
    // It did land (the COMMIT reached the server): the caller was told "unknown", never "failed".
    await waitUntil(async () => !(await backendAlive(backendPid)));
    const { rows } = await direct.query('SELECT status FROM jobs WHERE id = $1', [job.id]);
    expect(rows).toEqual([{ status: 'cancelled' }]);
    await ledger.close();
    await proxy.close();
  });

  it.each(modes)('a maintenance claim cut %s its COMMIT finds its own row: claimed once, not taken', async (mode) => {
    const { ledger, proxy } = await ledgerThroughProxy();
    const request = { task: `cut-${mode}`, tick: 60_000, triggeredBy: 'schedule' as const, claimedBy: 'me', now: Date.now(), staleAfterMs: 600_000 };
    const { result } = await withCut(proxy, { match: isCommit, mode }, () => claimTick(ledger, request));
    expect(result).toMatchObject({ kind: 'claimed', run: { task: request.task, status: 'running', claimedBy: 'me' } });
    await afterHold(mode);
    expect(await count('SELECT id FROM maintenance_runs WHERE task = $1', [request.task])).toBe(1);
    await ledger.close();
    await proxy.close();
  });
});
