/**
 * The cold archive: finished jobs past the archive's days move into checksummed segments and out of
 * the live tables; `export`, `find` and the CLI's `show` read them through the index; `restore`
 * brings a segment back (once: running it again changes nothing); a flipped byte in a segment is
 * reported by `verify`, and refused by every read and by `restore`, naming the segment.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { JobLedger } from '../src/jobledger.js';
import type { JobDetail } from '../src/store/index.js';
import { backends } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { openTestJobLedger } from './support/harness.js';
import { runCli } from './support/cli-run.js';
import { runDirectory } from './support/test-run.js';
import { seedFinishedJobs } from './support/archive-seed.js';

async function collect(records: AsyncIterable<JobDetail>): Promise<JobDetail[]> {
  const out: JobDetail[] = [];
  for await (const record of records) out.push(record);
  return out;
}

async function liveIds(jl: JobLedger): Promise<string[]> {
  return (await jl.ledger.read((sql) => sql.all('SELECT id FROM jobs ORDER BY id'))).map((r) => r.id as string);
}

async function indexedIds(jl: JobLedger): Promise<string[]> {
  return (await jl.ledger.read((sql) => sql.all('SELECT job_id FROM archived_jobs ORDER BY job_id'))).map((r) => r.job_id as string);
}

async function openArchiving(dialect: (typeof backends)[number]): Promise<{ jl: JobLedger; directory: string }> {
  const directory = join(runDirectory(), 'archive');
  const jl = await openTestJobLedger(dialect, { jobs: [], env: { JOBLEDGER_ARCHIVE_DIR: directory, JOBLEDGER_ARCHIVE_AFTER_DAYS: '7' } });
  return { jl, directory };
}

describe.each(backends)('cold archive on %s', (dialect) => {
  it('moves old finished jobs into segments, finds them for export, restores a segment once', async () => {
    const { jl, directory } = await openArchiving(dialect);
    const old = await seedFinishedJobs(jl.ledger, 7, { ageDays: 10 });
    const recent = await seedFinishedJobs(jl.ledger, 3, { ageDays: 2 });
    const before = new Map((await collect(jl.export({}))).map((r) => [r.job.id, r]));

    const counts = await jl.archive.run({ segmentJobs: 3 });
    expect(counts).toMatchObject({ jobs: 7, segments: 3, conflicts: 0 });
    expect(counts.attempts).toBe(old.reduce((n, id) => n + before.get(id)!.attempts.length, 0));
    expect(await liveIds(jl)).toEqual([...recent].sort());
    expect(await indexedIds(jl)).toEqual([...old].sort());
    const segments = await jl.archive.list();
    expect(segments.map((s) => s.jobs).sort()).toEqual([1, 3, 3]);
    expect(readdirSync(directory).sort()).toEqual(segments.flatMap((s) => [`${s.id}.manifest.json`, `${s.id}.ndjson.gz`]).sort());

    // Found through the index, exactly as they were when live; the live ones first, then the archived.
    for (const id of old) expect(await jl.archive.find(id)).toEqual(before.get(id));
    const exported = await collect(jl.export({}, { pageSize: 2 }));
    expect(exported.map((r) => r.job.id)).toEqual([...[...recent].reverse(), ...[...old].reverse()]);
    for (const record of exported) expect(record).toEqual(before.get(record.job.id));
    expect((await collect(jl.export({ jobId: old[0]! }))).map((r) => r.job.id)).toEqual([old[0]]);
    const failed = await collect(jl.export({ status: 'failed', where: { 'customer.plan': 'pro' } }));
    expect(failed.map((r) => r.job.id).sort()).toEqual([...before.values()].filter((r) => r.job.status === 'failed' && (r.job.payload as { customer: { plan: string } }).customer.plan === 'pro').map((r) => r.job.id).sort());
    expect((await collect(jl.export({ errorContains: 'CARD DECLINED 4' }))).map((r) => r.job.id)).toEqual([old[4]]);
    expect((await jl.archive.verify()).every((c) => c.ok)).toBe(true);

    // Restore one segment: its jobs are live again as they were, its index rows and files gone.
    const [first] = segments.filter((s) => s.jobs === 3);
    const restored = await jl.archive.restore({ segmentId: first!.id, actor: 'tester', source: 'library', reason: 'audit request' });
    expect(restored).toMatchObject({ restored: true, jobs: 3 });
    const back = (await liveIds(jl)).filter((id) => old.includes(id));
    expect(back).toHaveLength(3);
    for (const id of back) expect(await jl.ledger.getJobDetail(id)).toEqual(before.get(id));
    expect(await indexedIds(jl)).toEqual(old.filter((id) => !back.includes(id)).sort());
    expect(readdirSync(directory).some((name) => name.startsWith(first!.id))).toBe(false);
    expect(await jl.archive.restore({ segmentId: first!.id })).toMatchObject({ restored: false, jobs: 0 });
    expect((await jl.archive.list({ status: 'restored' })).map((s) => s.id)).toEqual([first!.id]);
    const audit = await jl.audit({ subject: first!.id });
    expect(audit.map((a) => [a.action, a.actor, a.reason, a.count])).toEqual([['archive.restore', 'tester', 'audit request', 3]]);
    await jl.close();
  });

  it('makes the prune task archive finished jobs instead of deleting them when the archive is on', async () => {
    const { jl } = await openArchiving(dialect);
    const old = await seedFinishedJobs(jl.ledger, 4, { ageDays: 40 });
    const kept = await seedFinishedJobs(jl.ledger, 2, { ageDays: 3 });
    const result = await jl.maintenance.run('prune', { source: 'library', actor: 'tester' });
    expect(result.outcome).toBe('succeeded');
    expect(result.counts).toMatchObject({ jobs: 0, archivedJobs: 4, archiveSegments: 1 });
    expect(await liveIds(jl)).toEqual([...kept].sort());
    expect(await indexedIds(jl)).toEqual([...old].sort());
    await jl.close();
  });

  it('reports a segment with a flipped byte, and reads or restores nothing of it', async () => {
    const { jl, directory } = await openArchiving(dialect);
    const ids = await seedFinishedJobs(jl.ledger, 4, { ageDays: 30 });
    await jl.archive.run({ segmentJobs: 10 });
    const [segment] = await jl.archive.list();
    const file = join(directory, `${segment!.id}.ndjson.gz`);
    const bytes = readFileSync(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    writeFileSync(file, bytes);

    const [check] = await jl.archive.verify();
    expect(check).toMatchObject({ segmentId: segment!.id, ok: false });
    expect(check!.problem).toMatch(/SHA-256/);
    const damaged = { code: 'JOBLEDGER_ARCHIVE_DAMAGED', message: expect.stringContaining(segment!.id) as unknown };
    await expect(jl.archive.find(ids[0]!)).rejects.toMatchObject(damaged);
    await expect(collect(jl.export({ jobId: ids[1]! }))).rejects.toMatchObject(damaged);
    await expect(jl.archive.restore({ segmentId: segment!.id })).rejects.toMatchObject(damaged);
    expect(await liveIds(jl)).toEqual([]);
    expect(await indexedIds(jl)).toEqual([...ids].sort());
    await jl.close();
  });
});

describe('cold archive bad input', () => {
  it('refuses malformed settings and arguments with one coded error each, writing nothing', async () => {
    expect(() => loadConfig({}, { JOBLEDGER_ARCHIVE_AFTER_DAYS: 'soon' })).toThrow(/JOBLEDGER_INVALID_CONFIG: JOBLEDGER_ARCHIVE_AFTER_DAYS: expected a whole number of days or "off", got "soon"/);
    expect(() => loadConfig({}, { JOBLEDGER_ARCHIVE_AFTER_DAYS_BY_QUEUE: 'emails' })).toThrow(/JOBLEDGER_INVALID_CONFIG/);
    expect(() => loadConfig({}, { JOBLEDGER_ARCHIVE_S3_BUCKET: 'ab' })).toThrow(/JOBLEDGER_ARCHIVE_S3_BUCKET: expected an S3 bucket name/);
    expect(() => loadConfig({}, { JOBLEDGER_ARCHIVE_S3_BUCKET: 'logs', JOBLEDGER_ARCHIVE_S3_ENDPOINT: 'minio:9000' })).toThrow(/JOBLEDGER_ARCHIVE_S3_ENDPOINT/);
    expect(loadConfig({}, { JOBLEDGER_ARCHIVE_AFTER_DAYS_BY_QUEUE: 'emails=7,billing=off' }).coldArchive.afterDaysByQueue).toEqual({ emails: 7, billing: null });

    const { jl, directory } = await openArchiving('sqlite');
    await seedFinishedJobs(jl.ledger, 2, { ageDays: 30 });
    await expect(jl.archive.run({ policy: { defaultDays: null } })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    await expect(jl.archive.run({ segmentJobs: 0 })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    await expect(jl.archive.restore({ segmentId: 'segment-1' })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_ID' });
    await expect(jl.archive.verify('seg_01ARZ3NDEKTSV4RRFFQ69G5FAV')).rejects.toMatchObject({ code: 'JOBLEDGER_NOT_FOUND' });
    expect(existsSync(directory)).toBe(false);
    expect(await indexedIds(jl)).toEqual([]);
    await jl.close();
  });
});

describe('jobledger archive', () => {
  it('runs, lists, verifies and restores from the command line; show finds an archived job', async () => {
    const { jl, directory } = await openArchiving('sqlite');
    const ids = await seedFinishedJobs(jl.ledger, 5, { ageDays: 3 });
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
    const env = { ...inherited, ...configEnv(jl.config), JOBLEDGER_ARCHIVE_DIR: directory };
    await jl.close();

    const refused = await runCli(['archive', 'run'], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/JOBLEDGER_INVALID_OPTION/);
    const run = await runCli(['archive', 'run', '--older-than-days', '1', '--segment-jobs', '2', '--actor', 'ops', '--json'], env);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toMatchObject({ jobs: 5, segments: 3 });
    const list = JSON.parse((await runCli(['archive', 'list', '--json'], env)).stdout) as { id: string; jobs: number }[];
    expect(list).toHaveLength(3);
    const show = await runCli(['show', ids[2]!, '--json'], env);
    expect(JSON.parse(show.stdout)).toMatchObject({ job: { id: ids[2] }, archivedIn: expect.stringMatching(/^seg_/) as unknown });
    const verify = await runCli(['archive', 'verify'], env);
    expect(verify.code).toBe(0);
    expect(verify.stdout).not.toMatch(/DAMAGED/);
    const restore = await runCli(['archive', 'restore', list[0]!.id, '--reason', 'check'], env);
    expect(restore.stdout).toMatch(/^restored \d jobs/);
    expect((await runCli(['archive', 'restore', list[0]!.id], env)).stdout).toMatch(/restored before/);
    const audit = JSON.parse((await runCli(['audit', '--json'], env)).stdout) as { action: string; actor: string }[];
    expect(audit.map((a) => a.action).sort()).toEqual(['archive.restore', 'archive.run']);
    expect(audit.find((a) => a.action === 'archive.run')?.actor).toBe('ops');
  });
});
