/**
 * Full-text search from its three surfaces, on both backends: `jl.search` and the `search-index`
 * maintenance task, the console's error-text filter (`GET /api/jobs?error=` and a bulk action's
 * filter, through the search index), and `jobledger search` (table, --json, paging, filters, bad
 * input in one line).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsole } from '../src/console/index.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { JobLedger } from '../src/jobledger.js';
import type { TextSearchResult } from '../src/store/index.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends, testConfig } from './support/backends.js';
import { runCli } from './support/cli-run.js';
import { testRedisUrl } from './support/services.js';
import { runNames } from './support/test-run.js';

const secret = 'alice-secret-0123456789';
const tokens = parseConsoleTokens(`alice:operator:${secret}`);
const worker = { workerId: 'w-1', host: 'host-1', pid: 1 };

/** Runs one attempt of job `id` to a final failure with `message`. */
async function failJob(jl: JobLedger, id: string, message: string): Promise<void> {
  const begun = await jl.ledger.beginAttempt(id, worker);
  if (begun.kind !== 'started') throw new Error(`expected the attempt to start, got ${begun.kind}`);
  await jl.ledger.recordOutcome(begun.attempt, { type: 'failed', attemptStatus: 'failed', error: { name: 'Error', message }, reason: 'attempts exhausted' });
}

describe.each(backends)('search surfaces on %s', (dialect) => {
  let jl: JobLedger;
  let env: Record<string, string>;
  const ids: Record<'declined' | 'timeout' | 'paid', string> = { declined: '', timeout: '', paid: '' };

  beforeAll(async () => {
    const config = await testConfig(dialect);
    jl = await JobLedger.open({ jobs: [scriptedJob], migrate: true, relay: false, config });
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATABASE_URL: dialect === 'sqlite' ? `sqlite:${config.database.sqlitePath}` : config.database.url,
      REDIS_URL: await testRedisUrl(),
      JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}search-${randomBytes(5).toString('hex')}`,
      LOG_LEVEL: 'silent',
    };
    // Delayed an hour, so no worker anywhere takes them; the test records their attempts itself.
    const enqueue = (tag: string) => jl.enqueue('test.scripted', { action: 'succeed', tag }, { delayMs: 3_600_000 });
    ids.declined = (await enqueue('invoice for Ada')).id;
    ids.timeout = (await enqueue('invoice for Grace')).id;
    ids.paid = (await enqueue('card already paid')).id;
    await failJob(jl, ids.declined, 'card declined by issuer');
    await failJob(jl, ids.timeout, 'gateway timeout after 30000 ms');
  });

  afterAll(async () => {
    await jl?.close();
  });

  it('searches through the library, and the maintenance task keeps the index up', async () => {
    const indexed = await jl.maintenance.run('search-index');
    expect(indexed).toMatchObject({ outcome: 'succeeded', counts: { documents: 3 } });
    expect((await jl.maintenance.run('search-index')).counts).toEqual({ events: 0, documents: 0 });
    const found = await jl.search('card');
    expect(found.hits.map((h) => [h.jobId, h.fields])).toEqual([
      [ids.paid, ['payload']],
      [ids.declined, ['error']],
    ]);
    expect((await jl.search('invoice', { status: 'failed', fields: ['payload'] })).hits.map((h) => h.jobId)).toEqual([ids.timeout, ids.declined]);
  });

  it('filters the console listing by error words through the index, and refuses bad text naming error', async () => {
    const app = createConsole({ jl, tokens });
    const get = async (query: string) => {
      const response = await app.inject({ method: 'GET', url: `/api/jobs?${query}`, headers: { authorization: `Bearer ${secret}` } });
      return { status: response.statusCode, body: response.json<{ items: { id: string }[]; partial: boolean; message?: string }>() };
    };
    const listed = async (error: string) => (await get(`error=${encodeURIComponent(error)}`)).body.items.map((j) => j.id);
    expect(await listed('declined')).toEqual([ids.declined]);
    expect(await listed('CARD')).toEqual([ids.declined]); // errors only: the paid job's payload says "card"
    expect(await listed('"timeout after"')).toEqual([ids.timeout]);
    expect(await listed('"after timeout"')).toEqual([]);
    expect(await listed('"card declined')).toEqual([ids.declined]);
    expect(await listed('a AND (')).toEqual([]);
    expect((await get(`error=card&status=failed`)).body).toMatchObject({ items: [{ id: ids.declined }], partial: false });
    for (const bad of ['(((', '"', '*']) {
      const refused = await get(`error=${encodeURIComponent(bad)}`);
      expect(refused.status, bad).toBe(400);
      expect(refused.body.message, bad).toMatch(/^JOBLEDGER_INVALID_OPTION: error: expected words or "quoted phrases"/);
    }
    // A bulk action's filter takes the same path: only the job whose error says so is retried.
    const bulk = await app.inject({
      method: 'POST',
      url: '/api/jobs/bulk',
      headers: { authorization: `Bearer ${secret}` },
      payload: { action: 'retry', reason: 'issuer fixed', filter: { error: 'declined issuer' } },
    });
    expect(bulk.statusCode, bulk.body).toBe(200);
    expect(bulk.json()).toMatchObject({ matched: 1, affected: 1 });
    expect((await jl.ledger.getJob(ids.declined)).status).not.toBe('failed');
    expect((await jl.ledger.getJob(ids.timeout)).status).toBe('failed');
    await app.close();
  });

  it('jobledger search prints a table, JSON pages and one-line errors', async () => {
    const table = await runCli(['search', 'invoice'], env);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/CREATED\s+ID\s+TYPE\s+STATUS\s+MATCHED\s+SNIPPET/i);
    expect(lines.slice(1).map((l) => l.split(/\s+/).find((w) => w.startsWith('job_')))).toEqual([ids.timeout, ids.declined]);

    const first = await runCli(['search', 'invoice', '--limit', '1', '--json'], env);
    expect(first.code, first.stderr).toBe(0);
    const page = JSON.parse(first.stdout) as Omit<TextSearchResult, 'next'> & { next: string };
    expect(page.hits).toEqual([expect.objectContaining({ jobId: ids.timeout, name: 'test.scripted', fields: ['payload'] })]);
    expect(page.indexBehind).toBe(false);
    const second = JSON.parse((await runCli(['search', 'invoice', '--limit', '1', '--before', page.next, '--json'], env)).stdout) as TextSearchResult;
    expect(second.hits.map((h) => h.jobId)).toEqual([ids.declined]);

    const filtered = JSON.parse((await runCli(['search', 'card', '--field', 'error', '--since', '1h', '--type', 'test.scripted', '--json'], env)).stdout) as TextSearchResult;
    expect(filtered.hits.map((h) => h.jobId)).toEqual([ids.declined]);
    expect(JSON.parse((await runCli(['search', 'card', '--until', '1h', '--json'], env)).stdout)).toMatchObject({ hits: [] });
    expect((await runCli(['search', 'nothing-says-this'], env)).stdout).toBe('no matching jobs\n');

    for (const bad of [['((('], ['card', '--field', 'stack'], ['card', '--since', 'yesterday'], ['card', '--before', 'junk'], ['card', '--limit', '0']]) {
      const refused = await runCli(['search', ...bad], env);
      expect(refused.code, bad.join(' ')).not.toBe(0);
      expect(refused.stderr.trim().split('\n'), bad.join(' ')).toHaveLength(1);
      expect(refused.stderr, bad.join(' ')).toMatch(/^jobledger: /);
    }
    // A handful of CLI processes, each opening the ledger: slow on a loaded machine.
  }, 240_000);
});
