/**
 * Library query parameters (issue 21, items 6, 7 and 12): every parameter of every read query is
 * checked by its schema (src/store/query-schemas.ts) and refused with a coded error naming the
 * field, what was expected and what came; every value reaches the database bound as a parameter,
 * never written into the SQL text; lists bind as lists; driver errors come back coded, without the
 * statement or its values.
 */
import type { Knex } from '@mikro-orm/knex';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { DatabaseError, InvalidOptionError, InvalidPayloadError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import type { Ledger } from '../src/store/ledger.js';
import { StateStore } from '../src/store/state/state-store.js';
import { parseSince } from '../src/cli/parse.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';
import { newJob, openTestLedger } from './support/ledger.js';

const anything = defineJob({ name: 'test.anything', schema: z.unknown(), handler: () => null });

/** Runs `call` and returns the InvalidOptionError it must throw, after checking its code and message. */
async function refused(call: () => Promise<unknown>, option: string, ...says: string[]): Promise<InvalidOptionError> {
  const thrown = await call().then(
    () => undefined,
    (error: unknown) => error,
  );
  expect(thrown, `expected ${option} to be refused`).toBeInstanceOf(InvalidOptionError);
  const error = thrown as InvalidOptionError;
  expect(error.code).toBe('JOBLEDGER_INVALID_OPTION');
  expect(error.option).toBe(option);
  expect(error.message).toMatch(new RegExp(`^JOBLEDGER_INVALID_OPTION: ${option.replace(/[.[\]]/g, '\\$&')}: expected .+, got `));
  for (const fragment of says) expect(error.message).toContain(fragment);
  return error;
}

/** The SQL texts and bindings knex sends while `work` runs. */
async function capturingQueries<T>(ledger: Ledger, work: () => Promise<T>): Promise<{ result: T; queries: { sql: string; bindings: unknown[] }[] }> {
  const knex = (ledger.orm.em.getConnection() as unknown as { getKnex(): Knex }).getKnex();
  const queries: { sql: string; bindings: unknown[] }[] = [];
  const listener = (data: { sql: string; bindings?: unknown[] }) => queries.push({ sql: data.sql, bindings: data.bindings ?? [] });
  knex.on('query', listener);
  try {
    return { result: await work(), queries };
  } finally {
    knex.removeListener('query', listener);
  }
}

describe.each(backends)('query parameters on %s', (dialect) => {
  it('refuses bad job filters with a coded error naming the field, what was expected and what came', async () => {
    const ledger = await openTestLedger(dialect);
    await refused(() => ledger.listJobs({ since: 'x' as never }), 'since', 'a time in epoch milliseconds', 'got "x"');
    await refused(() => ledger.listJobs({ since: 1.5 }), 'since', 'got 1.5');
    await refused(() => ledger.listJobs({ until: -1 }), 'until', 'got -1');
    await refused(() => ledger.listJobs({ offset: -1 }), 'offset', 'a whole number >= 0', 'got -1');
    await refused(() => ledger.listJobs({ limit: -1 }), 'limit', 'a whole number from 1 to 10000');
    await refused(() => ledger.listJobs({ limit: '10' as never }), 'limit', 'got "10"');
    await refused(() => ledger.listJobs({ status: ['failed', 'done'] as never }), 'status', 'one of pending,');
    await refused(() => ledger.listJobs({ name: ['a', 5] as never }), 'name', 'got ["a",5]');
    await refused(() => ledger.listJobs({ name: [] }), 'name');
    await refused(() => ledger.listJobs({ name: 'a\u0000b' }), 'name', 'without NUL');
    await refused(() => ledger.listJobs({ runId: 'run-1' }), 'runId', 'a run id');
    await refused(() => ledger.listJobs({ where: { 'a.1b': 'x' } }), 'where', 'a payload path', 'got "a.1b"');
    await refused(() => ledger.listJobs({ where: { a: { nested: 1 } } as never }), 'where');
    await refused(() => ledger.listJobs({ nmae: 'x' } as never), 'nmae', 'one of the accepted fields (status, name,');
    await refused(() => ledger.listJobs('status=failed' as never), 'filter', 'expected an object');
    await refused(() => ledger.countJobsByStatus({ limit: 5 } as never), 'limit', 'one of the accepted fields');
    await refused(() => ledger.getJob(42 as never), 'jobId');
    await refused(() => ledger.countRows('jobs; DROP TABLE jobs' as never), 'table', 'one of jobs, attempts, events, runs');
    await refused(() => ledger.runFigures({ id: 1 } as never), 'runId');
    expect(await ledger.countRows('jobs')).toBe(0);
    await ledger.close();
  });

  it('caps the number of payload paths in `where` with a coded error, not a database one', async () => {
    const ledger = await openTestLedger(dialect);
    const where = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, 'x']));
    expect(await ledger.listJobs({ where: where(20) })).toEqual([]);
    await refused(() => ledger.listJobs({ where: where(21) }), 'where', 'at most 20 payload paths', 'got "21 paths"');
    await refused(() => ledger.countJobsByStatus({ where: where(2000) }), 'where', 'at most 20 payload paths');
    await ledger.close();
  });

  it('binds every filter value as a parameter, never into the SQL text, and lists as lists', async () => {
    const ledger = await openTestLedger(dialect);
    const a = newJob({ name: 'needle.a', payload: { customer: { id: 'c-7' } }, createdAt: 1_000_000_000_123 });
    const b = newJob({ name: "needle.b' OR '1'='1", payload: { customer: { id: 'c-7' } }, createdAt: 1_000_000_000_124 });
    const c = newJob({ name: 'other', payload: { customer: { id: 'c-7' } }, createdAt: 1_000_000_000_125 });
    await ledger.insertJobs([a, b, c]);
    const { result, queries } = await capturingQueries(ledger, () =>
      ledger.listJobs({ name: ['needle.a', "needle.b' OR '1'='1"], where: { 'customer.id': 'c-7' }, since: 1_000_000_000_000, status: ['pending', 'queued'] }),
    );
    expect(result.map((j) => j.id).sort()).toEqual([a.id, b.id].sort());
    const select = queries.find((q) => q.sql.includes('FROM jobs'));
    expect(select, 'the listing statement').toBeDefined();
    for (const value of ['needle', 'c-7', '1000000000000', 'pending']) expect(select!.sql).not.toContain(value);
    expect(select!.bindings).toEqual(expect.arrayContaining(['needle.a', "needle.b' OR '1'='1", 'c-7', 1_000_000_000_000, 'pending', 'queued']));
    expect(select!.sql).toMatch(/name IN \((\?|\$\d+), (\?|\$\d+)\)/);
    await ledger.close();
  });

  it('refuses bad event, attempt and run filters, an unknown subject type among them', async () => {
    const ledger = await openTestLedger(dialect);
    await refused(() => ledger.listEvents({ subjectType: 'bogus' as never }), 'subjectType', 'one of job, run, pipeline, state, operator', 'got "bogus"');
    await refused(() => ledger.listEvents({ type: 'job.fialed' }), 'type', 'one of job.enqueued,');
    await refused(() => ledger.listEvents({ since: Number.NaN }), 'since');
    await refused(() => ledger.listEvents({ limit: 10_001 }), 'limit');
    await refused(() => ledger.listAttempts({ jobIds: ['nope'] }), 'jobIds', 'job ids');
    await refused(() => ledger.listAttempts({ since: -5 }), 'since');
    await refused(() => ledger.listRuns({ limit: 0 }), 'limit');
    await refused(() => ledger.listRuns({ status: 'bogus' as never }), 'status', 'one of open, running');
    expect(await ledger.listEvents({ type: ['job.failed', 'job.cancelled'], subjectType: 'job' })).toEqual([]);
    await ledger.close();
  });

  it('refuses bad state, snapshot and pipeline query options', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const state = new StateStore(jl.ledger);
    await refused(() => state.list('orders', { limit: -1 }), 'limit');
    await refused(() => state.list('orders', { prefix: 5 as never }), 'prefix');
    await refused(() => state.list('orders', { afterKey: 'a\u0000' }), 'afterKey');
    await refused(() => state.list('orders', { includeDeleted: 'yes' as never }), 'includeDeleted', 'true or false');
    await refused(() => state.list('orders', { sort: 'key' } as never), 'sort');
    await refused(() => state.history('orders', 'o1', { afterVersion: -1 }), 'afterVersion');
    await refused(() => state.listSnapshots({ subjectType: 'bogus' as never }), 'subjectType', 'one of state, pipeline');
    await refused(() => jl.pipelines.list({ status: 'bogus' as never }), 'status', 'one of running, succeeded, failed');
    await refused(() => jl.pipelines.list({ limit: 0 }), 'limit');
    await refused(() => jl.pipelines.history({ since: 'x' as never }), 'since');
    await refused(() => jl.pipelines.find('pip_x' as never), 'pipelineIds');
    await jl.close();
  });

  it('wraps a driver error in a coded error holding neither the statement nor its values', async () => {
    const ledger = await openTestLedger(dialect);
    // Each dialect refuses this statement's value, and PostgreSQL quotes it in its own message.
    const statement = dialect === 'postgresql' ? 'SELECT CAST(? AS BIGINT) AS n' : 'SELECT json(?) AS n';
    for (const run of [
      () => ledger.read((sql) => sql.all(statement, ['hunter2'])),
      () => ledger.transaction((tx) => tx.all(statement, ['hunter2'])),
    ]) {
      const thrown = await run().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(thrown).toBeInstanceOf(DatabaseError);
      const error = thrown as DatabaseError;
      expect(error.code).toBe('JOBLEDGER_DATABASE_ERROR');
      expect(error.driverCode).toBe(dialect === 'postgresql' ? '22P02' : 'SQLITE_ERROR');
      expect(error.message).not.toContain('hunter2');
      expect(error.message).not.toMatch(/SELECT|CAST|json\(/i);
      expect(error.cause).toBeInstanceOf(Error);
      // The cause, kept for debug logs, holds the statement as written but no value.
      expect(JSON.stringify({ ...(error.cause as object), message: (error.cause as Error).message })).not.toContain('hunter2');
    }
    await ledger.close();
  });

  it('keeps a state value out of every error message, and refuses keys PostgreSQL would fold together', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const thrown = await jl.state.set('secrets', 'db', { password: 'hunter2\uD800' }).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(InvalidOptionError);
    expect((thrown as Error).message).toContain('data.password: expected a string without NUL');
    expect((thrown as Error).message).not.toContain('hunter2');
    await refused(() => jl.state.set('secrets', 'x\uD800', 1), 'key', 'lone surrogates');
    await refused(() => jl.state.set('secrets', 'x\uDBFF', 1), 'key', 'lone surrogates');
    await refused(() => jl.state.set('secrets', 'k', 1, { reason: 'r\uDC00' }), 'reason');
    await refused(() => jl.ledger.listJobs({ name: 'x\uD800' }), 'name', 'lone surrogates');
    expect(await jl.state.list('secrets')).toEqual([]);
    await jl.close();
  });

  it('refuses an idempotency key PostgreSQL would fold together, and a null payload, with coded errors', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [anything] });
    await refused(() => jl.enqueue('test.anything', {}, { idempotencyKey: 'k\uD800' }), 'idempotencyKey', 'lone surrogates');
    const thrown = await jl.enqueue('test.anything', null).catch((error: unknown) => error);
    expect(thrown).toBeInstanceOf(InvalidPayloadError);
    expect((thrown as Error).message).toBe('JOBLEDGER_INVALID_PAYLOAD: test.anything.payload: expected a JSON value other than null (use {} for "no data"), got null');
    expect(await jl.ledger.countRows('jobs')).toBe(0);
    await jl.close();
  });
});

describe.each(backends)('other stored values on %s', (dialect) => {
  it('checks run metadata, run statuses, reasons, actors and snapshot descriptions like every stored value', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    const metadata = await jl.ledger.createRun({ name: 'r', metadata: { n: 1n }, actor: 't' }).catch((error: unknown) => error);
    expect(metadata).toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION', option: 'metadata.n' });
    await refused(() => jl.ledger.createRun({ name: 'r', metadata: { at: new Date(0) }, actor: 't' }), 'metadata.at', 'got "a Date');
    await refused(() => jl.ledger.createRun({ name: 'r\uD800', actor: 't' }), 'name', 'lone surrogates');
    const run = await jl.ledger.createRun({ name: 'r', metadata: { tags: ['a'] }, actor: 't' });
    expect(run.metadata).toEqual({ tags: ['a'] });
    await refused(() => jl.ledger.setRunStatus({ runId: run.id, status: 'bogus' as never, actor: 't' }), 'status', 'one of open, running');
    await refused(() => jl.ledger.setRunStatus({ runId: run.id, status: 'running', reason: 'x\u0000', actor: 't' }), 'reason');
    await refused(() => jl.ledger.setRunStatus({ runId: run.id, status: 'running', actor: '' }), 'actor');
    await jl.state.set('docs', 'd', { v: 1 });
    await refused(() => jl.state.snapshot('docs', 'd', { description: 'd\uDFFF' }), 'description', 'lone surrogates');
    expect((await jl.ledger.getRun(run.id)).status).toBe('open');
    await jl.close();
  });
});

describe('--since on the command line', () => {
  const now = Date.UTC(2026, 10, 22);
  it('takes spans and ISO times', () => {
    expect(parseSince('2h', now)).toBe(now - 7_200_000);
    expect(parseSince('2026-11-21T00:00:00Z', now)).toBe(Date.UTC(2026, 10, 21));
    expect(parseSince('2026-11-21', now)).toBe(Date.UTC(2026, 10, 21));
    expect(parseSince('2026-11-21T10:30:00.250+02:00', now)).toBe(Date.UTC(2026, 10, 21, 8, 30, 0, 250));
    expect(parseSince('2024-02-29T23:59:59Z', now)).toBe(Date.UTC(2024, 1, 29, 23, 59, 59));
  });

  // V8's Date.parse takes "5" and "-5" as May 2001, "1.5" as January 5th 2001, and rolls a
  // 31st of February over to March: each would filter by a time nobody meant.
  it.each(['99999999999999d', '30000d', '999999999999999999999s', '1969-12-31T00:00:00Z', 'yesterday', '5', '-5', '1.5', '2026-02-31', '2025-02-29', '2026-11-22T24:00Z', 'Nov 22 2026'])('refuses %s with a coded error', (raw) => {
    expect(() => parseSince(raw, now)).toThrow(InvalidOptionError);
    expect(() => parseSince(raw, now)).toThrow(/^JOBLEDGER_INVALID_OPTION: --since: expected an ISO date .*, got /);
  });
});
