/**
 * Evidence bundles: a run's, a pipeline's or a filter's record as one gzip-compressed tar with a
 * manifest and a SHA-256 per part, readable by any tar; verification recomputes every part and
 * count, and a single changed byte fails it. Also the `export --bundle` and `verify-bundle` commands.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { verifyEvidenceBundle } from '../src/jobs/bundle/evidence-bundle.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema } from '../src/jobs/define-pipeline.js';
import type { JobLedger } from '../src/jobledger.js';
import type { JobDetail } from '../src/store/index.js';
import { backends } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { openTestJobLedger, waitFor, waitForStatus } from './support/harness.js';
import { runCli } from './support/cli-run.js';
import { runDirectory } from './support/test-run.js';


const stageJob = defineJob({ name: 'test.bundle-stage', schema: stagePayloadSchema(), maxAttempts: 1, handler: () => ({ context: {} }) });
const flow = definePipeline({
  name: 'test.bundle-flow',
  start: 'one',
  stages: { one: { job: 'test.bundle-stage', on: { completed: 'two' } }, two: { job: 'test.bundle-stage', on: { completed: { end: 'succeeded', state: 'done' } } } },
});

async function collect(records: AsyncIterable<JobDetail>): Promise<JobDetail[]> {
  const out: JobDetail[] = [];
  for await (const record of records) out.push(record);
  return out;
}

/** A run of four finished jobs (one failed for good, one after a retry), and a finished two-stage pipeline. */
async function seed(jl: JobLedger): Promise<{ runId: string; pipelineId: string }> {
  const run = await jl.ledger.createRun({ name: 'evidence', actor: 'test' });
  const worker = jl.createWorker({ concurrency: 4 });
  await worker.start();
  const ids = [];
  for (const script of [{ action: 'succeed' }, { action: 'fail-until', succeedOnAttempt: 2 }, { action: 'throw-permanent' }, { action: 'succeed', note: 'ünïcødé ✓' }] as const) {
    ids.push((await jl.enqueue('test.scripted', script, { runId: run.id })).id);
  }
  const { id: pipelineId } = await jl.pipelines.start('test.bundle-flow');
  for (const id of ids) await waitForStatus(jl, id, ['completed', 'failed']);
  await waitFor(async () => ((await jl.pipelines.get(pipelineId)).status === 'running' ? undefined : true), 'the pipeline to end');
  await worker.close();
  return { runId: run.id, pipelineId };
}

/** The bundle's entries as `tar` itself reads them. */
function tarEntries(file: string): Record<string, string> {
  const dir = join(runDirectory(), `x-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  execFileSync('mkdir', ['-p', dir]);
  execFileSync('tar', ['-xzf', file, '-C', dir]);
  return Object.fromEntries(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}

describe.each(backends)('evidence bundles on %s', (dialect) => {
  it('bundles a run and a pipeline with a manifest any tar reads, and verifies them', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, stageJob], pipelines: [flow] });
    const { runId, pipelineId } = await seed(jl);
    const dir = runDirectory();

    const runFile = join(dir, `run-${dialect}.tar.gz`);
    const manifest = await jl.exportBundle(runFile, { runId });
    const expected = await collect(jl.export({ runId }));
    expect(manifest).toMatchObject({
      format: 'jobledger-evidence-bundle',
      version: 1,
      database: dialect,
      subject: { type: 'run', id: runId },
      filter: { runId },
      counts: { jobs: 4, attempts: expected.reduce((n, r) => n + r.attempts.length, 0), events: expected.reduce((n, r) => n + r.events.length, 0) },
    });
    expect(manifest.schema).toMatch(/^Migration\d{14}/);
    expect(manifest.parts.map((p) => p.name)).toEqual(['records.ndjson', 'run.json']);
    expect(await verifyEvidenceBundle(runFile)).toEqual(manifest);

    const entries = tarEntries(runFile);
    expect(Object.keys(entries).sort()).toEqual(['manifest.json', 'records.ndjson', 'run.json']);
    expect(JSON.parse(entries['manifest.json']!)).toEqual(manifest);
    expect(entries['records.ndjson']!.trim().split('\n').map((line) => JSON.parse(line) as JobDetail)).toEqual(expected);
    expect(JSON.parse(entries['run.json']!)).toMatchObject({ run: { id: runId, name: 'evidence' }, figures: expect.any(Object) as unknown });

    const pipelineFile = join(dir, `pipeline-${dialect}.tar.gz`);
    const ofPipeline = await jl.exportBundle(pipelineFile, { pipelineId });
    expect(ofPipeline).toMatchObject({ subject: { type: 'pipeline', id: pipelineId }, counts: { jobs: 2 } });
    const pipelineEntries = tarEntries(pipelineFile);
    const stages = (JSON.parse(pipelineEntries['pipeline.json']!) as { stages: { stage: string; jobId: string }[] }).stages;
    expect(stages.map((s) => s.stage)).toEqual(['one', 'two']);
    expect(pipelineEntries['records.ndjson']!.trim().split('\n').map((line) => (JSON.parse(line) as JobDetail).job.id)).toEqual(stages.map((s) => s.jobId));
    await verifyEvidenceBundle(pipelineFile);

    // An existing file is refused, and nothing is left behind.
    await expect(jl.exportBundle(runFile, { runId })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([]);
    await expect(jl.exportBundle(join(dir, 'x.tar.gz'), { pipelineId, status: 'failed' })).rejects.toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    await jl.close();
  });

  it('fails verification on one changed byte, a missing part or a file that is not a bundle', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob, stageJob], pipelines: [flow] });
    const { runId } = await seed(jl);
    const dir = runDirectory();
    const file = join(dir, `tamper-${dialect}.tar.gz`);
    await jl.exportBundle(file, { runId });
    await jl.close();
    const tar = gunzipSync(readFileSync(file));

    // One byte of a record changed (a status rewritten): its SHA-256 no longer matches.
    const text = tar.toString('latin1');
    const at = text.indexOf('"status":"failed"');
    expect(at).toBeGreaterThan(0);
    const flipped = Buffer.from(tar);
    flipped.write('"status":"fai1ed"', at, 'latin1');
    const tampered = join(dir, `flipped-${dialect}.tar.gz`);
    writeFileSync(tampered, gzipSync(flipped));
    await expect(verifyEvidenceBundle(tampered)).rejects.toMatchObject({ code: 'JOBLEDGER_BUNDLE_INVALID', message: expect.stringMatching(/part records\.ndjson has SHA-256 [0-9a-f]{64}, the manifest says/) as unknown });

    // A byte flipped in the compressed file: gzip's own check fails.
    const raw = readFileSync(file);
    raw[Math.floor(raw.length / 2)]! ^= 0xff;
    const corrupt = join(dir, `corrupt-${dialect}.tar.gz`);
    writeFileSync(corrupt, raw);
    await expect(verifyEvidenceBundle(corrupt)).rejects.toMatchObject({ code: 'JOBLEDGER_BUNDLE_INVALID' });

    const notBundle = join(dir, `plain-${dialect}.txt`);
    writeFileSync(notBundle, 'hello');
    await expect(verifyEvidenceBundle(notBundle)).rejects.toMatchObject({ code: 'JOBLEDGER_BUNDLE_INVALID' });
    await expect(verifyEvidenceBundle(join(dir, 'missing.tar.gz'))).rejects.toMatchObject({ message: expect.stringContaining('no such file') as unknown });
    expect(existsSync(file)).toBe(true);
  });
});



describe('jobledger export --bundle and verify-bundle', () => {
  it('writes a bundle that verifies, says what is wrong with one that does not, and refuses --bundle without --out', async () => {
    const jl = await openTestJobLedger('sqlite', { jobs: [scriptedJob, stageJob], pipelines: [flow] });
    const { runId } = await seed(jl);
    const env = { PATH: process.env.PATH ?? '', DATABASE_URL: jl.config.database.url, REDIS_URL: jl.config.redisUrl, JOBLEDGER_REDIS_PREFIX: jl.config.redisPrefix, LOG_LEVEL: 'silent' };
    await jl.close();
    const file = join(runDirectory(), 'cli-bundle.tar.gz');

    const made = await runCli(['export', '--run', runId, '--bundle', '--out', file], env);
    expect(made.code, made.stderr).toBe(0);
    expect(made.stderr).toMatch(/^bundled 4 jobs \(\d+ attempts, \d+ events\) to /);
    const verified = await runCli(['verify-bundle', file], env);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(`verified: run ${runId}, 4 jobs`);

    const tar = gunzipSync(readFileSync(file));
    const at = tar.indexOf('"action":"succeed"');
    tar.write('"action":"SUCCEED"', at, 'latin1');
    writeFileSync(file, gzipSync(tar));
    const refused = await runCli(['verify-bundle', file], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain('JOBLEDGER_BUNDLE_INVALID');

    const noOut = await runCli(['export', '--run', runId, '--bundle'], env);
    expect(noOut.code).toBe(1);
    expect(noOut.stderr).toContain('--bundle: expected to come with --out FILE');
  });
});
