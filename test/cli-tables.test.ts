/**
 * The CLI's tables fit 120 columns (src/cli/table.ts): cut cells end in `…`, ids and times are never
 * cut, and a table that cannot fit is printed vertically. Checked on the renderer, then through every
 * table-printing command on a real SQLite ledger holding the demo's jobs and pipelines plus rows with
 * long names, reasons and data. Also `jobs --kind job|stage` (JobFilter.kind) on both backends.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderTable } from '../src/cli/table.js';
import { loadConfig } from '../src/config.js';
import { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/index.js';
import { backends } from './support/backends.js';
import { newJob, openTestLedger } from './support/ledger.js';
import { testRedisUrl } from './support/services.js';
import { runDirectory, runNames } from './support/test-run.js';

const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
const long = (label: string, n = 300) => `${label}-${'long words and more '.repeat(Math.ceil(n / 20))}`.slice(0, n);

function run(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('renderTable', () => {
  const id = 'job_01M95NAF8JRQV7G2QTY0B22K59';
  const time = '2026-12-06 12:30:07Z';

  it('leaves a table that fits as it is', () => {
    expect(renderTable([{ id, status: 'failed' }])).toEqual([`ID${' '.repeat(30)}STATUS`, `${id}  failed`]);
  });

  it('cuts the widest column with an ellipsis and keeps ids and times whole', () => {
    const rows = [1, 2].map((n) => ({ id, created: time, name: `type-${n}`, reason: long(`reason ${n}`) }));
    const lines = renderTable(rows);
    expect(Math.max(...lines.map((l) => l.length))).toBe(120);
    expect(lines[1]).toContain(id);
    expect(lines[1]).toContain(time);
    expect(lines[1]).toMatch(/reason 1-long words.*…$/);
  });

  it('prints vertically, wrapping and losing nothing, when the columns cannot fit', () => {
    const rows = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`column${i}`, long(`value ${i}`, 40)]));
    const lines = renderTable([rows, rows], { keep: Object.keys(rows) });
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(120);
    expect(lines[0]).toBe(`column0: ${rows.column0}`);
    expect(lines).toContain('');
  });

  it('prints a single record vertically rather than cut it, its long values wrapped whole', () => {
    const counts = Array.from({ length: 20 }, (_, i) => `count${i}=${i}`).join(' ');
    const lines = renderTable([{ task: 'reconcile', tick: time, counts }]);
    expect(Math.max(...lines.map((l) => l.length))).toBeLessThanOrEqual(120);
    expect(lines[0]).toBe('task:   reconcile');
    const countLines = lines.slice(2).map((l) => l.replace(/^counts: |^ {8}/, ''));
    expect(countLines.join(' ')).toBe(counts);
  });

  it('with cut: false prints vertically instead of cutting', () => {
    const rows = [1, 2].map((n) => ({ check: `check ${n}`, detail: long(`detail ${n}`, 200) }));
    const lines = renderTable(rows, { cut: false });
    expect(lines.some((l) => l.includes('…'))).toBe(false);
    expect(lines[0]).toBe('check:  check 1');
  });
});

describe('every table command on a ledger with long data', () => {
  let env: Record<string, string>;
  const stateNamespace = `namespace-${'x'.repeat(54)}`;
  const stateKey = long('key', 128);

  beforeAll(async () => {
    const dir = runDirectory();
    const database = `sqlite:${join(dir, 'tables.sqlite')}`;
    env = {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      DATABASE_URL: database,
      REDIS_URL: await testRedisUrl(),
      JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}tables-${randomBytes(5).toString('hex')}`,
    };
    // The demo's jobs, failed stage jobs and archived pipelines, in this ledger.
    const demo = await run(['demo', '--jobs', '20', '--pipelines', '4', '--database', database, '--redis-prefix', env.JOBLEDGER_REDIS_PREFIX!], env);
    expect(demo.code, demo.stderr).toBe(0);
    const jl = await JobLedger.open({ jobs: [], config: loadConfig({}, { DATABASE_URL: database, REDIS_URL: env.REDIS_URL!, LOG_LEVEL: 'silent' }) });
    try {
      const runRow = await jl.ledger.createRun({ name: long('run name', 200), actor: long('actor', 100) });
      await jl.ledger.setRunStatus({ runId: runRow.id, status: 'failed', reason: long('run reason'), actor: 'test' });
      await jl.ledger.insertJobs([
        newJob({ name: long('job type name', 150), queue: long('queue', 100), payload: { text: long('payload') }, runId: runRow.id }),
        newJob({ name: long('stage job', 150), pipelineId: newId('pip'), stage: long('stage', 100) }),
      ]);
      await jl.state.set(stateNamespace, stateKey, { text: long('data', 500) }, { reason: long('state reason'), actor: long('actor', 100) });
      await jl.state.snapshot(stateNamespace, stateKey, { description: long('snapshot description'), actor: 'test' });
    } finally {
      await jl.close();
    }
  }, 180_000);

  const commands = [
    ['jobs'],
    ['jobs', '--status', 'failed'],
    ['events', '--limit', '100'],
    ['runs'],
    ['maintenance'],
    ['reconcile', '--no-config'],
    ['pipelines'],
    ['history'],
    ['state', 'list', stateNamespace],
    ['state', 'history', stateNamespace, stateKey],
    ['state', 'get', stateNamespace, stateKey],
    ['snapshots', 'list'],
    ['types', '--no-config'],
    ['doctor'],
  ];

  it.each(commands)('%s prints no line over 120 characters', async (...args) => {
    const result = await run(args, env);
    // reconcile warns (on stderr) about the jobs inserted above without a hand-over: that is its job.
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines.length).toBeGreaterThan(1);
    expect(lines.filter((l) => l.length > 120)).toEqual([]);
  }, 120_000);

  it('show and pipelines show print no line over 120 characters', async () => {
    const jobs = JSON.parse((await run(['jobs', '--json', '--limit', '1000'], env)).stdout) as { id: string; pipelineId: string | null }[];
    const history = JSON.parse((await run(['history', '--json'], env)).stdout) as { id: string }[];
    for (const args of [['show', jobs[0]!.id], ['pipelines', 'show', history[0]!.id]]) {
      const result = await run(args, env);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout.split('\n').filter((l) => l.length > 120)).toEqual([]);
    }
  }, 120_000);

  it('jobs marks pipeline stage jobs and --kind tells them apart', async () => {
    const table = (await run(['jobs', '--limit', '1000'], env)).stdout.split('\n').slice(1).filter(Boolean);
    const kinds = new Set(table.map((line) => line.split(/\s+/)[1]));
    expect(kinds).toEqual(new Set(['job', 'stage']));
    const stages = JSON.parse((await run(['jobs', '--kind', 'stage', '--json', '--limit', '1000'], env)).stdout) as { pipelineId: string | null }[];
    const plain = JSON.parse((await run(['jobs', '--kind', 'job', '--json', '--limit', '1000'], env)).stdout) as { pipelineId: string | null }[];
    expect(stages.length).toBeGreaterThan(0);
    expect(plain.length).toBeGreaterThan(0);
    expect(stages.every((j) => j.pipelineId !== null)).toBe(true);
    expect(plain.every((j) => j.pipelineId === null)).toBe(true);
    const bad = await run(['jobs', '--kind', 'pipeline'], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe(`jobledger: JOBLEDGER_INVALID_OPTION: --kind: expected job (not part of a pipeline) or stage (a pipeline stage's job), got "pipeline"\n`);
  }, 120_000);
});

describe.each(backends)('JobFilter.kind on %s', (dialect) => {
  it('lists and counts stage jobs or the others, and refuses any other kind', async () => {
    const ledger = await openTestLedger(dialect);
    const plain = newJob();
    const stage = newJob({ pipelineId: newId('pip'), stage: 'build' });
    await ledger.insertJobs([plain, stage]);
    expect((await ledger.listJobs({ kind: 'stage' })).map((j) => j.id)).toEqual([stage.id]);
    expect((await ledger.listJobs({ kind: 'job' })).map((j) => j.id)).toEqual([plain.id]);
    expect((await ledger.countJobsByStatus({ kind: 'stage' })).pending).toBe(1);
    await expect(ledger.listJobs({ kind: 'pipeline' as 'job' })).rejects.toThrow(/kind: expected job \(not part of a pipeline\) or stage/);
    await ledger.close();
  });
});
