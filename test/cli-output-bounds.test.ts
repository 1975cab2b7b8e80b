/**
 * What `jobledger jobs` holds in memory (issue 21, item 9): it reads the listing a page at a time
 * (src/cli/job-pages.ts), so `jobs --json --limit 10000` over jobs carrying large payloads needs
 * about one page of memory, not the whole listing. Checked through a real process with a small heap
 * cap (it used to run out of memory), and page by page through the library on both backends.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { eventPages, jobPages, writeJsonArray } from '../src/cli/job-pages.js';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';
import { testRedisUrl } from './support/services.js';
import { runNames } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));

function runCli(args: string[], env: Record<string, string>, heapMb: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`--max-old-space-size=${heapMb}`, bin, ...args],
      { env, timeout: 120_000, maxBuffer: 512 * 1024 * 1024 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe.each(backends)('jobledger jobs over large rows on %s', (dialect) => {
  it('lists 30 jobs of 1 MB payloads as JSON within a 64 MB heap', async () => {
    const url = await freshDatabaseUrl(dialect);
    const ledger = await openTestLedger(dialect, url);
    const blob = 'x'.repeat(1000 * 1000);
    for (let i = 0; i < 30; i++) await ledger.insertJobs([newJob({ payload: { blob, i }, createdAt: 1_700_000_000_000 + i })]);
    await ledger.close();

    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: url,
      REDIS_URL: await testRedisUrl(),
      JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}cli-${randomBytes(5).toString('hex')}`,
      LOG_LEVEL: 'silent',
    };
    const listed = await runCli(['jobs', '--json', '--limit', '10000'], env, 64);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    const jobs = JSON.parse(listed.stdout) as { payload: { i: number; blob: string } }[];
    expect(jobs.map((j) => j.payload.i)).toEqual(Array.from({ length: 30 }, (_, i) => 29 - i));
    expect(jobs.every((j) => j.payload.blob.length === blob.length)).toBe(true);
  });

  it('pages newest first by keyset: every job once, none of those created meanwhile, at most a page at a time', async () => {
    const ledger = await openTestLedger(dialect);
    const base = 1_700_000_000_000;
    // Pairs share a creation time, so the cursor's tie-break on id is exercised.
    const jobs = Array.from({ length: 25 }, (_, i) => newJob({ createdAt: base + Math.floor(i / 2) }));
    await ledger.insertJobs(jobs);
    const seen: string[] = [];
    const sizes: number[] = [];
    for await (const page of jobPages(ledger, {}, 10_000, 10)) {
      sizes.push(page.length);
      seen.push(...page.map((j) => j.id));
      await ledger.insertJobs([newJob({ createdAt: base + 1_000 })]); // newer than everything listed
    }
    expect(sizes).toEqual([10, 10, 5]);
    const expected = [...jobs].sort((a, b) => b.createdAt - a.createdAt || (a.id < b.id ? 1 : -1)).map((j) => j.id);
    expect(seen).toEqual(expected);

    const limited: string[] = [];
    for await (const page of jobPages(ledger, { status: 'pending' }, 12, 10)) limited.push(...page.map((j) => j.id));
    expect(limited).toHaveLength(12);

    // Events page the same way: the `job.enqueued` event of each job, newest first.
    const all = await ledger.listEvents({ type: 'job.enqueued', limit: 10_000 });
    const paged: string[] = [];
    const eventSizes: number[] = [];
    for await (const page of eventPages(ledger, { type: 'job.enqueued' }, 10_000, 10)) {
      eventSizes.push(page.length);
      paged.push(...page.map((e) => e.id));
    }
    expect(paged).toEqual(all.map((e) => e.id));
    expect(new Set(paged).size).toBe(all.length);
    expect(Math.max(...eventSizes)).toBe(10);
    await ledger.close();
  });
});

describe('writeJsonArray', () => {
  it('writes one JSON array, item by item, from pages', async () => {
    const chunks: string[] = [];
    const out = { write: (text: string) => chunks.push(text) > 0 } as unknown as NodeJS.WritableStream;
    const pages = [[{ a: 1 }, { a: 2 }], [], [{ a: 3 }]];
    await writeJsonArray(pages, out);
    expect(JSON.parse(chunks.join(''))).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
    expect(chunks.length).toBe(5);
  });
});
