/**
 * Replays: new jobs from the payloads of the jobs a filter matches, under a named replay record,
 * linked to their originals, which stay untouched; dry runs, limits, cancels and failures write
 * what they say and nothing else; and the `jobledger replay` / `replays` commands.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { JobLedger } from '../src/jobledger.js';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitForStatus } from './support/harness.js';
import { runCli } from './support/cli-run.js';
import { runDirectory } from './support/test-run.js';

const scriptedModule = fileURLToPath(new URL('../dist/test/support/fixtures/scripted-job.js', import.meta.url));

/** Three jobs failed for good and two completed, all finished. */
async function seed(jl: JobLedger, tag: string): Promise<{ failed: string[]; completed: string[] }> {
  const failed = [];
  const completed = [];
  for (let i = 0; i < 3; i++) failed.push((await jl.enqueue('test.scripted', { action: 'throw-permanent', tag })).id);
  for (let i = 0; i < 2; i++) completed.push((await jl.enqueue('test.scripted', { action: 'succeed', tag })).id);
  const worker = jl.createWorker({ concurrency: 5 });
  await worker.start();
  for (const id of [...failed, ...completed]) await waitForStatus(jl, id, ['completed', 'failed']);
  await worker.close();
  return { failed, completed };
}

async function jobCount(jl: JobLedger): Promise<number> {
  return Object.values(await jl.ledger.countJobsByStatus()).reduce((sum, n) => sum + n, 0);
}

describe.each(backends)('replays on %s', (dialect) => {
  it('makes linked new jobs from the matching originals, leaves the originals as they were, and runs the new ones', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const { failed, completed } = await seed(jl, 'r1');
    const before = await Promise.all(failed.map((id) => jl.ledger.getJobDetail(id)));

    const result = await jl.replays.run({ name: 'after the fix', reason: 'the card bug is fixed', actor: 'olga', filter: { status: 'failed' }, batchSize: 2 });
    if (result.dryRun) throw new Error('not a dry run');
    expect(result.replay).toMatchObject({ name: 'after the fix', reason: 'the card bug is fixed', actor: 'olga', status: 'completed', matched: 3, created: 3 });
    // The originals are untouched: same rows, same events.
    expect(await Promise.all(failed.map((id) => jl.ledger.getJobDetail(id)))).toEqual(before);

    const made = [];
    for (const original of failed) {
      const lineage = await jl.replays.lineage(original);
      expect(lineage.replayOf).toBeNull();
      expect(lineage.replayedAs).toHaveLength(1);
      const copy = lineage.replayedAs[0]!;
      expect(copy).toMatchObject({ replayOf: original, replayId: result.replay.id, replayName: 'after the fix' });
      expect((await jl.replays.lineage(copy.jobId)).replayOf).toMatchObject({ jobId: copy.jobId, replayOf: original });
      const detail = await jl.ledger.getJobDetail(copy.jobId);
      expect(detail.job).toMatchObject({ name: 'test.scripted', payload: before[0]!.job.payload, maxAttempts: before[0]!.job.maxAttempts, runId: null });
      expect(detail.events[0]).toMatchObject({ type: 'job.enqueued', actor: 'olga' });
      made.push(copy.jobId);
    }
    // Handed to Redis after the commit: a worker runs them, each with attempts of its own.
    const worker = jl.createWorker({ concurrency: 5 });
    await worker.start();
    for (const id of made) expect((await waitForStatus(jl, id, 'failed')).attemptsStarted).toBe(1);
    await worker.close();

    const events = await jl.ledger.listEvents({ subjectId: result.replay.id });
    expect(events.map((e) => e.type).sort()).toEqual(['replay.finished', 'replay.started']);
    expect(await jl.replays.list()).toEqual([result.replay]);
    expect(await jl.audit({ subject: result.replay.id })).toMatchObject([
      { action: 'replay.start', actor: 'olga', source: 'library', subjectType: 'replay', reason: 'the card bug is fixed', filter: { status: 'failed' } },
    ]);

    // A second replay of the same jobs is a replay of its own: new jobs again.
    const again = await jl.replays.run({ name: 'completed ones too', reason: 'audit', filter: { name: 'test.scripted', where: { tag: 'r1' }, status: 'completed' } });
    expect(!again.dryRun && again.replay).toMatchObject({ matched: completed.length, created: completed.length, status: 'completed' });
    await jl.close();
  });

  it('never reads its own new jobs back as originals', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await seed(jl, 'r2');
    const total = await jobCount(jl);
    // Every job matches, the new ones included; one original per batch.
    const result = await jl.replays.run({ name: 'all', reason: 'bound', filter: { name: 'test.scripted' }, batchSize: 1 });
    expect(!result.dryRun && result.replay).toMatchObject({ matched: total, created: total });
    expect(await jobCount(jl)).toBe(2 * total);
    await jl.close();
  });

  it('counts a dry run and writes nothing; refuses a filter that matches nothing; stops at its limit', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await seed(jl, 'r3');
    const total = await jobCount(jl);

    const dry = await jl.replays.run({ name: 'dry', reason: 'look first', filter: { where: { tag: 'r3' } }, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, matched: 5 });
    expect(dry.dryRun && dry.sample.length).toBe(5);
    expect(await jl.replays.run({ name: 'dry', reason: 'look first', filter: { where: { tag: 'r3' } }, dryRun: true, limit: 2 })).toMatchObject({ matched: 2 });
    expect(await jobCount(jl)).toBe(total);
    expect(await jl.replays.list()).toEqual([]);

    await expect(jl.replays.run({ name: 'none', reason: 'x', filter: { where: { tag: 'nothing' } } })).rejects.toMatchObject({ code: 'JOBLEDGER_NOTHING_MATCHED' });
    expect(await jl.replays.list()).toEqual([]);

    const limited = await jl.replays.run({ name: 'two', reason: 'sample', filter: { where: { tag: 'r3' } }, limit: 2, batchSize: 1 });
    expect(!limited.dryRun && limited.replay).toMatchObject({ matched: 2, created: 2, jobLimit: 2, status: 'completed' });
    expect(await jobCount(jl)).toBe(total + 2);

    for (const bad of [
      { name: '', reason: 'x', filter: {} },
      { name: 'n', reason: ' ', filter: {} },
      { name: 'n', reason: 'x', filter: {}, limit: 0 },
      { name: 'n', reason: 'x', filter: { kind: 'stage' as const } },
    ]) {
      await expect(jl.replays.run(bad)).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    }
    expect(await jobCount(jl)).toBe(total + 2);
    await jl.close();
  });

  it('stops before its next batch when cancelled, keeping what it made; a failing batch writes nothing and fails the replay', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    await seed(jl, 'r4');
    const total = await jobCount(jl);
    const cancelled = await jl.replays.run({
      name: 'cancel me',
      reason: 'r',
      filter: { where: { tag: 'r4' } },
      batchSize: 1,
      onProgress: async ({ replayId, created }) => {
        if (created === 1) await jl.replays.cancel({ replayId, reason: 'wrong filter', actor: 'olga' });
      },
    });
    expect(!cancelled.dryRun && cancelled.replay).toMatchObject({ status: 'cancelled', statusReason: 'wrong filter', created: 1, matched: 1 });
    expect(await jobCount(jl)).toBe(total + 1);
    const id = !cancelled.dryRun ? cancelled.replay.id : '';
    await expect(jl.replays.cancel({ replayId: id, reason: 'again' })).rejects.toMatchObject({ code: 'JOBLEDGER_ILLEGAL_TRANSITION' });
    expect((await jl.audit({ subject: id })).map((row) => [row.action, row.actor])).toEqual([
      ['replay.cancel', 'olga'],
      ['replay.start', expect.any(String)],
    ]);

    // A process without the job type: the first batch is refused whole, and the replay says why.
    const { loadConfig } = await import('../src/config.js');
    const { JobLedger } = await import('../src/jobledger.js');
    const bare = await JobLedger.open({ jobs: [], config: loadConfig({ DATABASE_URL: jl.config.database.url, REDIS_URL: jl.config.redisUrl, JOBLEDGER_REDIS_PREFIX: jl.config.redisPrefix }) });
    try {
      const error = await bare.replays.run({ name: 'no type', reason: 'r', filter: { where: { tag: 'r4' } } }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'JOBLEDGER_REPLAY_FAILED', created: 0 });
      const [failedReplay] = await jl.replays.list({ status: 'failed' });
      expect(failedReplay).toMatchObject({ name: 'no type', created: 0, statusReason: expect.stringContaining('test.scripted') });
      expect(await jobCount(jl)).toBe(total + 1);
    } finally {
      await bare.close();
    }
    await jl.close();
  });
});



describe('jobledger replay', () => {
  it('dry-runs, replays, lists, shows lineage and refuses bad input in one line', async () => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob] });
    const { failed } = await seed(jl, 'cli');
    const config = join(runDirectory(), 'replay.config.mjs');
    writeFileSync(config, `export { scriptedJob } from ${JSON.stringify(scriptedModule)};\nimport { scriptedJob } from ${JSON.stringify(scriptedModule)};\nexport const jobs = [scriptedJob];\n`);
    const env = {
      PATH: process.env.PATH ?? '',
      DATABASE_URL: jl.config.database.url,
      REDIS_URL: jl.config.redisUrl,
      JOBLEDGER_REDIS_PREFIX: jl.config.redisPrefix,
      LOG_LEVEL: 'silent',
    };
    await jl.close();
    const replay = (...args: string[]) => runCli(['--config', config, 'replay', ...args], env);

    const dry = await replay('--name', 'n', '--reason', 'r', '--status', 'failed', '--dry-run', '--json');
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ dryRun: true, matched: 3 });

    const done = await replay('--name', 'retry failed', '--reason', 'fixed', '--status', 'failed', '--type', 'test.scripted', '--actor', 'olga', '--json');
    expect(done.code).toBe(0);
    const row = JSON.parse(done.stdout) as { id: string; created: number; status: string };
    expect(row).toMatchObject({ created: 3, status: 'completed' });

    const listed = await runCli(['replays', '--json'], env);
    expect((JSON.parse(listed.stdout) as { id: string }[]).map((r) => r.id)).toEqual([row.id]);
    const shown = await runCli(['show', failed[0]!], env);
    expect(shown.stdout).toContain('replayed as');
    expect(shown.stdout).toContain(row.id);

    for (const args of [
      ['--name', 'n', '--status', 'failed'], // no --reason
      ['--name', 'n', '--reason', 'r', '--where', 'tag=nothing'], // matches nothing
      ['--name', 'n', '--reason', 'r', '--since', 'yesterday'], // malformed time
      ['--name', 'n', '--reason', 'r', '--limit', '0'],
    ]) {
      const refused = await replay(...args);
      expect(refused.code, args.join(' ')).toBe(1);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    }
    const after = await runCli(['replays', '--json'], env);
    expect(JSON.parse(after.stdout)).toHaveLength(1);
    const audit = await runCli(['audit', '--subject', row.id, '--json'], env);
    expect(JSON.parse(audit.stdout)).toMatchObject([{ action: 'replay.start', actor: 'olga', source: 'cli' }]);
  });
});
