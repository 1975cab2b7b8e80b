/**
 * Exporting the record: every matching job with its attempts and its events, exactly as the ledger
 * holds them, streamed page by page; and the `jobledger export` command's formats and refusals
 * (nothing written on a refusal or a failure).
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { JobLedger } from '../src/jobledger.js';
import type { JobDetail } from '../src/store/index.js';
import { csvCell } from '../src/cli/export/export-formats.js';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';
import { runCli } from './support/cli-run.js';
import { runDirectory } from './support/test-run.js';


async function collect(records: AsyncIterable<JobDetail>): Promise<JobDetail[]> {
  const out: JobDetail[] = [];
  for await (const record of records) out.push(record);
  return out;
}

/** Seven finished jobs, five of them in a run; one took two attempts, one failed for good. */
async function seed(jl: JobLedger): Promise<{ runId: string; inRun: string[]; others: string[] }> {
  const run = await jl.ledger.createRun({ name: 'export', actor: 'test' });
  const worker = jl.createWorker({ concurrency: 4 });
  await worker.start();
  const inRun = [];
  for (const script of [
    { action: 'succeed' },
    { action: 'fail-until', succeedOnAttempt: 2 },
    { action: 'throw-permanent' },
    { action: 'succeed' },
    { action: 'succeed' },
  ] as const) {
    inRun.push((await jl.enqueue('test.scripted', script, { runId: run.id })).id);
  }
  const others = [(await jl.enqueue('test.scripted', { action: 'succeed' })).id, (await jl.enqueue('test.scripted', { action: 'succeed' })).id];
  for (const id of [...inRun, ...others]) await waitForStatus(jl, id, ['completed', 'failed']);
  await worker.close();
  return { runId: run.id, inRun, others };
}

describe.each(backends)('export on %s', (dialect) => {
  it('streams each matching job with its attempts and events as the ledger holds them, newest first, across pages', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const { runId, inRun, others } = await seed(jl);

    const ofRun = await collect(jl.export({ runId }, { pageSize: 2 }));
    expect(ofRun.map((r) => r.job.id).sort()).toEqual([...inRun].sort());
    for (const record of ofRun) expect(record).toEqual(await jl.ledger.getJobDetail(record.job.id));
    // Newest first, with no job repeated or skipped at the page boundaries.
    const created = ofRun.map((r) => r.job.createdAt);
    expect([...created].sort((a, b) => b - a)).toEqual(created);
    const twice = ofRun.find((r) => r.attempts.length === 2);
    expect(twice?.attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
    expect(twice?.events.map((e) => e.seq)).toEqual(twice?.events.map((_, i) => i + 1));

    const all = await collect(jl.export({}, { pageSize: 3 }));
    expect(all.map((r) => r.job.id).sort()).toEqual([...inRun, ...others].sort());
    expect(await collect(jl.export({ status: 'failed' }))).toHaveLength(1);
    expect((await collect(jl.export({ jobId: others[0]! }))).map((r) => r.job.id)).toEqual([others[0]]);
    const newest = all[0]!.job.createdAt;
    expect((await collect(jl.export({ since: newest }))).every((r) => r.job.createdAt >= newest)).toBe(true);
    expect(await collect(jl.export({ until: all.at(-1)!.job.createdAt }))).toEqual([]);

    await expect(collect(jl.export({ status: 'finished' as never }))).rejects.toMatchObject({ code: expect.stringMatching(/^JOBLEDGER_/) });
    await expect(collect(jl.export({ jobId: 'nope' }))).rejects.toMatchObject({ code: expect.stringMatching(/^JOBLEDGER_/) });
    await jl.close();
  });
});



describe('jobledger export', () => {
  it('writes NDJSON, JSON and CSV, refuses what it cannot write as asked, and leaves nothing half-written', async () => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    const { runId, inRun } = await seed(jl);
    // A payload a spreadsheet would run as a formula, and text CSV must quote.
    const tricky = await jl.enqueue('test.scripted', { action: 'succeed', note: '=HYPERLINK("x"), "quoted"\nline' });
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: jl.config.database.url,
      REDIS_URL: jl.config.redisUrl,
      JOBLEDGER_REDIS_PREFIX: jl.config.redisPrefix,
      LOG_LEVEL: 'silent',
    };
    const expected = await collect(jl.export({ runId }));
    await jl.close();
    const dir = runDirectory();

    const ndjson = await runCli(['export', '--run', runId], env);
    expect(ndjson.code).toBe(0);
    expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line) as JobDetail)).toEqual(expected);
    expect(ndjson.stderr).toMatch(/^exported 5 jobs \(\d+ attempts, \d+ events\)\n$/);

    const out = join(dir, 'run.json');
    const json = await runCli(['export', '--run', runId, '--format', 'json', '--out', out], env);
    expect(json.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toEqual(expected);

    const csv = await runCli(['export', '--job', tricky.id, '--format', 'csv'], env);
    expect(csv.code).toBe(0);
    const [header, row, rest] = csv.stdout.split('\r\n');
    expect(header!.split(',')[0]).toBe('id');
    expect(row).toContain(tricky.id);
    expect(rest).toBe('');
    expect(csvCell('=1+1')).toBe("'=1+1");
    expect(csvCell('a,"b"\nc')).toBe('"a,""b""\nc"');
    expect(csvCell(-3)).toBe('-3');

    // An existing file is not replaced without --force, and is left as it was.
    writeFileSync(out, 'keep me');
    const refused = await runCli(['export', '--run', runId, '--out', out], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('--out');
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect((await runCli(['export', '--run', runId, '--out', out, '--force'], env)).code).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(inRun.length);

    // Bad filters: one line naming the option, nothing written.
    const before = readdirSync(dir).sort();
    for (const args of [
      ['--status', 'finished'],
      ['--since', 'yesterday'],
      ['--format', 'xml'],
      ['--job', 'not-an-id'],
      ['--out', join(dir, 'missing', 'x.ndjson')],
    ]) {
      const result = await runCli(['export', ...args, '--out', join(dir, 'bad.ndjson')].slice(0, args[0] === '--out' ? 3 : undefined), env);
      expect(result.code, args.join(' ')).not.toBe(0);
      expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
    }
    expect(readdirSync(dir).sort()).toEqual(before);
    expect(existsSync(join(dir, 'bad.ndjson'))).toBe(false);
  }, 300_000);
});
