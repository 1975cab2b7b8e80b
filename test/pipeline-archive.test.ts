import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Config } from '../src/config.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema, type StagePayload } from '../src/jobs/define-pipeline.js';
import { JobLedger } from '../src/jobledger.js';
import { archiveFinishedPipelines } from '../src/store/pipelines/pipeline-archive.js';
import { PermanentJobError } from '../src/workers/classify-outcome.js';
import { testConfig, backends } from './support/backends.js';
import { configEnv } from './support/child-worker.js';
import { waitFor } from './support/harness.js';
import { track } from './support/leak-check.js';

const archiveScript = fileURLToPath(new URL('../dist/test/support/fixtures/archive-process.js', import.meta.url));

/** One stage that completes, or fails when the context says `fail`. */
const onlyStage = defineJob({
  name: 'test.only-stage',
  schema: stagePayloadSchema(),
  maxAttempts: 1,
  handler(payload: StagePayload) {
    if (payload.context.fail) throw new PermanentJobError('told to fail');
    return { context: { done: true } };
  },
});
const quick = definePipeline({ name: 'test.quick', stages: { only: { job: onlyStage.name } } });

async function openShared(dialect: (typeof backends)[number]): Promise<{ config: Readonly<Config>; jl: JobLedger }> {
  const config = await testConfig(dialect);
  const jl = track(await JobLedger.open({ jobs: [onlyStage], pipelines: [quick], config, migrate: true }), `JobLedger(${dialect})`);
  return { config, jl };
}

/** Starts `count` pipelines (every third one fails) and waits until all have ended. */
async function finishedPipelines(jl: JobLedger, count: number): Promise<string[]> {
  const worker = jl.createWorker({ concurrency: 10 });
  await worker.start();
  const ids: string[] = [];
  for (let i = 0; i < count; i++) ids.push((await jl.pipelines.start('test.quick', { context: { i, fail: i % 3 === 2 } })).id);
  await waitFor(async () => ((await jl.pipelines.list({ status: 'running', limit: 10_000 })).length === 0 ? true : undefined), 'pipelines to end');
  await worker.close();
  return ids;
}

async function tableIds(jl: JobLedger): Promise<{ live: string[]; archived: string[] }> {
  return jl.ledger.read(async (sql) => ({
    live: (await sql.all('SELECT id FROM pipelines ORDER BY id')).map((r) => r.id as string),
    archived: (await sql.all('SELECT id FROM pipeline_history ORDER BY id')).map((r) => r.id as string),
  }));
}

/** Every pipeline in exactly one of the two tables: none lost, none duplicated. */
async function expectEachInExactlyOneTable(jl: JobLedger, ids: readonly string[]): Promise<{ live: string[]; archived: string[] }> {
  const tables = await tableIds(jl);
  expect(tables.live.filter((id) => tables.archived.includes(id))).toEqual([]);
  expect([...tables.live, ...tables.archived].sort()).toEqual([...ids].sort());
  return tables;
}

interface ArchiveChild {
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  kill(): Promise<void>;
  exited: Promise<number | null>;
  close(): Promise<void>;
}

function startArchiveChild(config: Readonly<Config>, env: Record<string, string>): ArchiveChild {
  if (!existsSync(archiveScript)) throw new Error(`${archiveScript} is missing: run \`npm run build\` first`);
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('JOBLEDGER_')));
  const child = spawn(process.execPath, [archiveScript], { env: { ...inherited, ...configEnv(config), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    for (const wake of waiters) wake();
  });
  let alive = true;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      alive = false;
      for (const wake of waiters) wake();
      resolve(code);
    }),
  );
  const handle: ArchiveChild = {
    exited,
    waitForLine: (pattern, timeoutMs = 30_000) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => done(new Error(`archive process did not print ${String(pattern)}; stderr:\n${stderr}`)), timeoutMs);
        const check = (): void => {
          const found = lines.find((l) => pattern.test(l));
          if (found !== undefined) done(undefined, found);
          else if (!alive) done(new Error(`archive process exited before printing ${String(pattern)}; stdout: ${lines.join(' | ')}; stderr:\n${stderr}`));
        };
        const done = (error?: Error, line?: string): void => {
          clearTimeout(timer);
          waiters.delete(check);
          if (error) reject(error);
          else resolve(line!);
        };
        waiters.add(check);
        check();
      }),
    // Through `close`, which the leak check wraps: a killed child is no leak.
    kill: () => handle.close(),
    close: async () => {
      if (alive) child.kill('SIGKILL');
      await exited;
    },
  };
  track(handle, `archive child process ${child.pid}`);
  void exited.then(() => handle.close());
  return handle;
}

describe.each(backends)('archiving pipelines on %s', (dialect) => {
  it('moves exactly the finished pipelines older than the cutoff, with totals; a rerun is a no-op', async () => {
    const { jl } = await openShared(dialect);
    const ids = await finishedPipelines(jl, 6);
    const running = await jl.pipelines.start('test.quick', { context: { i: 99 } }); // no worker now: it stays running
    const old = ids.slice(0, 3);
    // Backdate three finished pipelines by two hours.
    await jl.ledger.transaction((tx) =>
      tx.run(
        `UPDATE pipelines SET created_at = created_at - 7200000, finished_at = finished_at - 7200000 WHERE id IN (?, ?, ?)`,
        old,
      ),
    );
    const before = await jl.pipelines.find(old);

    expect(await archiveFinishedPipelines(jl.ledger, { olderThanMs: 3_600_000, limit: 100, now: Date.now() })).toEqual({ archived: 3 });
    const tables = await tableIds(jl);
    expect(tables.archived).toEqual([...old].sort());
    expect(tables.live).toEqual([...ids.slice(3), running.id].sort());
    const history = await jl.pipelines.history({ limit: 10 });
    for (const b of before) {
      const h = history.find((x) => x.id === b.id)!;
      expect(h).toMatchObject({
        name: 'test.quick',
        finalState: b.state,
        status: b.status,
        statusReason: b.statusReason,
        context: b.context,
        retries: b.retries,
        totalLoops: b.loops,
        path: b.path,
        startedAt: b.createdAt,
        completedAt: b.finishedAt,
        durationMs: b.finishedAt! - b.createdAt,
      });
      expect(h.archivedAt).toBeGreaterThanOrEqual(b.finishedAt!);
    }
    expect(history.filter((h) => h.finalState === 'failed').map((h) => h.statusReason)).toEqual([
      expect.stringMatching(/^stage "only" failed: permanent failure: told to fail/) as unknown,
    ]);

    // Rerun: nothing more is old enough.
    expect(await archiveFinishedPipelines(jl.ledger, { olderThanMs: 3_600_000, now: Date.now() })).toEqual({ archived: 0 });
    // An archived pipeline still shows, with its jobs, attempts and events.
    const shown = await jl.pipelines.detail(old[0]!);
    expect(shown.pipeline.archived).toBe(true);
    expect(shown.stages.map((s) => [s.stage, s.job?.status, s.attempts.length])).toEqual([['only', 'completed', 1]]);
    expect(shown.events.map((e) => e.type)).toEqual(['pipeline.started', 'pipeline.succeeded']);

    // olderThanMs 0 takes every finished one, never a running one; `limit` caps a call.
    expect(await archiveFinishedPipelines(jl.ledger, { olderThanMs: 0, limit: 2, batchSize: 1 })).toEqual({ archived: 2 });
    expect(await archiveFinishedPipelines(jl.ledger, { olderThanMs: 0 })).toEqual({ archived: 1 });
    expect((await tableIds(jl)).live).toEqual([running.id]);
    expect(await jl.pipelines.get(running.id)).toMatchObject({ status: 'running', archived: false });
    await jl.close();
  });

  it('keeps every pipeline in exactly one table when the archiving process is SIGKILLed mid-batch', async () => {
    const { config, jl } = await openShared(dialect);
    const ids = await finishedPipelines(jl, 30);

    // Killed with batch 2's history rows inserted and its deletes not yet made.
    const held = startArchiveChild(config, { ARCHIVE_BATCH_SIZE: '4', ARCHIVE_HOLD_AT_BATCH: '2' });
    await held.waitForLine(/^HOLDING$/);
    await held.kill();
    const afterHold = await expectEachInExactlyOneTable(jl, ids);
    expect(afterHold.archived).toHaveLength(8); // batches 0 and 1 committed; batch 2 rolled back

    // Killed at an arbitrary point of a run of one-pipeline batches.
    const free = startArchiveChild(config, { ARCHIVE_BATCH_SIZE: '1', ARCHIVE_BATCH_DELAY_MS: '5' });
    await free.waitForLine(/^BATCH 5$/);
    await free.kill();
    const afterFree = await expectEachInExactlyOneTable(jl, ids);
    expect(afterFree.archived.length).toBeGreaterThanOrEqual(8 + 5);

    // A rerun finishes the job: all archived, none lost, none twice; then it is a no-op.
    const rest = await archiveFinishedPipelines(jl.ledger, { olderThanMs: 0 });
    expect(rest.archived).toBe(afterFree.live.length);
    const final = await expectEachInExactlyOneTable(jl, ids);
    expect(final.live).toEqual([]);
    expect(await archiveFinishedPipelines(jl.ledger, { olderThanMs: 0 })).toEqual({ archived: 0 });
    await jl.close();
  });
});
