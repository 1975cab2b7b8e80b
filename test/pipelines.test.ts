import { describe, expect, it } from 'vitest';
import { InvalidOptionError, InvalidPayloadError, InvalidPipelineError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema, type PipelineOptions, type StagePayload } from '../src/jobs/define-pipeline.js';
import { decideTransition } from '../src/jobs/pipeline-transition.js';
import type { JobLedger } from '../src/jobledger.js';
import type { PipelineSummary } from '../src/store/pipelines/pipeline-queries.js';
import { isUniqueViolation } from '../src/store/engine/sql.js';
import { PermanentJobError } from '../src/workers/classify-outcome.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor } from './support/harness.js';

/**
 * One scripted stage job: the context's `plan[stage][visit - 1]` says what this visit does:
 * `complete` (default), `fail` (permanently), `reject` (complete with a verdict that loops back),
 * `flaky` (the first attempt throws, the retry completes).
 */
const stageJob = defineJob({
  name: 'test.stage',
  schema: stagePayloadSchema(),
  maxAttempts: 2,
  backoff: { type: 'fixed', delayMs: 10 },
  handler(payload: StagePayload, ctx) {
    const plan = (payload.context.plan ?? {}) as Record<string, string[] | undefined>;
    const action = plan[payload.stage]?.[payload.visit - 1] ?? 'complete';
    if (action === 'fail') throw new PermanentJobError(`${payload.stage} failed on visit ${payload.visit}`);
    if (action === 'flaky' && ctx.attempt === 1) throw new Error('flaky first attempt');
    if (action === 'reject') return { verdict: 'rejected', feedback: `please fix (review ${payload.visit})` };
    return { verdict: 'ok', context: { [`${payload.stage}Visits`]: payload.visit } };
  },
});

const ticketLike: PipelineOptions = {
  name: 'test.ticket',
  start: 'build',
  stages: {
    build: { job: 'test.stage', on: { completed: 'code' } },
    code: { job: 'test.stage', on: { completed: 'test' } },
    test: { job: 'test.stage', on: { completed: 'review', failed: { loopTo: 'code', budget: 'ci' } } },
    review: {
      job: 'test.stage',
      on: {
        completed: {
          choose: (result) => ((result as { verdict?: string }).verdict === 'rejected' ? 'changes' : 'approved'),
          routes: { approved: { end: 'succeeded', state: 'merged' }, changes: { loopTo: 'code', budget: 'review' } },
        },
      },
    },
  },
  budgets: { ci: 1, review: 1 },
};
const pipeline = definePipeline(ticketLike);

function open(dialect: (typeof backends)[number]): Promise<JobLedger> {
  return openTestJobLedger(dialect, { jobs: [stageJob, scriptedJob], pipelines: [pipeline] });
}

function waitForEnd(jl: JobLedger, id: string): Promise<PipelineSummary> {
  return waitFor(async () => {
    const p = await jl.pipelines.get(id);
    return p.status === 'running' ? undefined : p;
  }, `pipeline ${id} to end`);
}

describe('definePipeline', () => {
  const withStages = (stages: PipelineOptions['stages'], budgets: Record<string, number> = {}): PipelineOptions => ({ name: 'test.p', stages, budgets });

  it('rejects a transition to an unknown stage', () => {
    expect(() => definePipeline(withStages({ a: { job: 'x', on: { completed: 'nowhere' } } }))).toThrow(/unknown stage "nowhere"/);
  });

  it('rejects a loop to a later stage, and a plain move backwards', () => {
    expect(() =>
      definePipeline(withStages({ a: { job: 'x', on: { failed: { loopTo: 'b', budget: 'ci' } } }, b: { job: 'x' } }, { ci: 1 })),
    ).toThrow(/loopTo "b" is a later stage than "a"/);
    expect(() => definePipeline(withStages({ a: { job: 'x' }, b: { job: 'x', on: { failed: 'a' } } }))).toThrow(/going back needs \{ loopTo/);
  });

  it('rejects a loop on an undeclared budget, and a budget no loop uses', () => {
    expect(() => definePipeline(withStages({ a: { job: 'x', on: { failed: { loopTo: 'a', budget: 'ci' } } } }))).toThrow(
      /loop budget "ci" is not declared/,
    );
    expect(() => definePipeline(withStages({ a: { job: 'x' } }, { ci: 1 }))).toThrow(/budget "ci" is used by no loop/);
  });

  it('rejects unknown keys, a bad start, reserved stage names and end states that are stages', () => {
    expect(() => definePipeline(withStages({ a: { job: 'x', on: { complete: 'a' } as never } }))).toThrow(/unknown key "complete"/);
    expect(() => definePipeline({ ...withStages({ a: { job: 'x' } }), start: 'b' })).toThrow(/start stage "b"/);
    expect(() => definePipeline(withStages({ failed: { job: 'x' } }))).toThrow(/reserved/);
    expect(() => definePipeline(withStages({ a: { job: 'x', on: { completed: { end: 'succeeded', state: 'a' } } } }))).toThrow(/also a stage/);
    expect(() => definePipeline(withStages({ a: { job: 'x' } }))).not.toThrow();
  });

  it('throws InvalidPipelineError with a stable code', () => {
    try {
      definePipeline(withStages({ a: { job: 'x', on: { completed: 'nowhere' } } }));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidPipelineError);
      expect((error as InvalidPipelineError).code).toBe('JOBLEDGER_INVALID_PIPELINE');
    }
  });

  it('decides transitions with one pure function: a choice naming no route fails the pipeline', () => {
    const chooser = definePipeline(
      withStages({ a: { job: 'x', on: { completed: { choose: () => 'nope', routes: { ok: { end: 'succeeded' } } } } } }),
    );
    const t = decideTransition(chooser, { stage: 'a', context: {}, budgets: {}, retries: {} }, { type: 'completed', jobId: 'job_1', result: null });
    expect(t).toMatchObject({ kind: 'end', status: 'failed', reason: expect.stringMatching(/choose\(\) returned "nope"/) as unknown });
    const t2 = decideTransition(pipeline, { stage: 'build', context: { a: 1 }, budgets: { ci: 1, review: 1 }, retries: { ci: 0, review: 0 } }, {
      type: 'completed',
      jobId: 'job_1',
      result: { context: { b: 2 } },
    });
    expect(t2).toMatchObject({ kind: 'advance', to: 'code', context: { a: 1, b: 2 } });
  });
});

describe.each(backends)('pipelines on %s', (dialect) => {
  it('refuses to register a pipeline whose stage job type is unknown', async () => {
    const other = definePipeline({ name: 'test.other', stages: { a: { job: 'test.missing' } } });
    await expect(openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [other] })).rejects.toThrow(
      /stage "a" runs job type "test.missing", which is not registered/,
    );
  });

  it('runs a pipeline through every stage the first time, with the exact stage path and events', async () => {
    const jl = await open(dialect);
    await jl.createWorker({ concurrency: 4 }).start();
    const started = await jl.pipelines.start('test.ticket', { context: { ticket: 'T-1' } });
    expect(started.stage).toBe('build');
    const p = await waitForEnd(jl, started.id);
    expect(p).toMatchObject({ status: 'succeeded', state: 'merged', statusReason: null, currentJobId: null, loops: 0, retries: { ci: 0, review: 0 } });
    expect(p.context).toEqual({ ticket: 'T-1', buildVisits: 1, codeVisits: 1, testVisits: 1, reviewVisits: 1 });
    expect(p.path.map((e) => [e.stage, e.outcome, e.next, e.route ?? null])).toEqual([
      ['build', 'completed', 'code', null],
      ['code', 'completed', 'test', null],
      ['test', 'completed', 'review', null],
      ['review', 'completed', 'merged', 'approved'],
    ]);
    expect(p.path[0]!.jobId).toBe(started.jobId);
    const detail = await jl.pipelines.detail(started.id);
    expect(detail.events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'pipeline.started'],
      [2, 'pipeline.stage_completed'],
      [3, 'pipeline.stage_completed'],
      [4, 'pipeline.stage_completed'],
      [5, 'pipeline.succeeded'],
    ]);
    // Every stage job links back to its pipeline and stage.
    expect(detail.stages.map((s) => [s.job?.pipelineId, s.job?.stage, s.job?.status])).toEqual(
      ['build', 'code', 'test', 'review'].map((stage) => [started.id, stage, 'completed']),
    );
    expect((detail.stages[1]!.job!.payload as StagePayload).context).toEqual({ ticket: 'T-1', buildVisits: 1 });
    await jl.close();
  });

  it('loops back to coding with the feedback of a failed test and of a review requesting changes', async () => {
    const jl = await open(dialect);
    await jl.createWorker({ concurrency: 4 }).start();
    const { id } = await jl.pipelines.start('test.ticket', { context: { plan: { test: ['fail'], review: ['reject'] } } });
    const p = await waitForEnd(jl, id);
    expect(p).toMatchObject({ status: 'succeeded', state: 'merged', loops: 2, retries: { ci: 1, review: 1 } });
    expect(p.path.map((e) => `${e.stage}:${e.outcome}>${e.next}`)).toEqual([
      'build:completed>code',
      'code:completed>test',
      'test:failed>code',
      'code:completed>test',
      'test:completed>review',
      'review:completed>code',
      'code:completed>test',
      'test:completed>review',
      'review:completed>merged',
    ]);
    const detail = await jl.pipelines.detail(id);
    const codingPayloads = detail.stages.filter((s) => s.stage === 'code').map((s) => s.job!.payload as StagePayload);
    expect(codingPayloads.map((c) => [c.visit, c.feedback?.fromStage ?? null, c.feedback?.outcome ?? null])).toEqual([
      [1, null, null],
      [2, 'test', 'failed'],
      [3, 'review', 'completed'],
    ]);
    expect(codingPayloads[1]!.feedback!.message).toMatch(/test failed on visit 1/);
    expect(codingPayloads[1]!.retries).toEqual({ ci: 1, review: 0 });
    expect(codingPayloads[2]!.feedback!.message).toBe('please fix (review 1)');
    expect(codingPayloads[2]!.feedback!.detail).toEqual({ verdict: 'rejected', feedback: 'please fix (review 1)' });
    const looped = detail.events.filter((e) => e.type === 'pipeline.looped').map((e) => e.payload as Record<string, unknown>);
    expect(looped.map((e) => [e.stage, e.to, e.budget, e.used, e.max])).toEqual([
      ['test', 'code', 'ci', 1, 1],
      ['review', 'code', 'review', 1, 1],
    ]);
    expect(detail.events.map((e) => e.seq)).toEqual(detail.events.map((_, i) => i + 1));
    await jl.close();
  });

  it('ends failed with the reason once a loop budget is exhausted', async () => {
    const jl = await open(dialect);
    await jl.createWorker({ concurrency: 4 }).start();
    const { id } = await jl.pipelines.start('test.ticket', { context: { plan: { test: ['fail', 'fail'] } } });
    const p = await waitForEnd(jl, id);
    expect(p).toMatchObject({ status: 'failed', state: 'failed', loops: 1, retries: { ci: 1, review: 0 }, currentJobId: null });
    expect(p.statusReason).toMatch(/^budget "ci" exhausted: 1 of 1 loop\(s\) back to "code" used; last: permanent failure: test failed on visit 2/);
    expect(p.feedback).toMatchObject({ fromStage: 'test', outcome: 'failed' });
    expect(p.path.at(-1)).toMatchObject({ stage: 'test', outcome: 'failed', next: 'failed' });
    const { events } = await jl.pipelines.detail(id);
    expect(events.at(-1)).toMatchObject({ type: 'pipeline.failed', seq: p.path.length + 1 });
    await jl.close();
  });

  it('takes per-instance budget overrides, and validates them before writing anything', async () => {
    const jl = await open(dialect);
    await expect(jl.pipelines.start('test.ticket', { budgets: { cj: 3 } })).rejects.toThrow(InvalidOptionError);
    await expect(jl.pipelines.start('test.ticket', { budgets: { ci: -1 } })).rejects.toThrow(/budgets\.ci/);
    await expect(jl.pipelines.start('test.ticket', { context: { x: 1n } })).rejects.toThrow(InvalidPayloadError);
    await expect(jl.pipelines.start('test.nope')).rejects.toThrow(/a registered pipeline \(test\.ticket\)/);
    expect(await jl.pipelines.list()).toEqual([]);
    expect(await jl.ledger.countRows('jobs')).toBe(0);

    await jl.createWorker({ concurrency: 4 }).start();
    const { id } = await jl.pipelines.start('test.ticket', { context: { plan: { test: ['fail', 'fail'] } }, budgets: { ci: 2 } });
    const p = await waitForEnd(jl, id);
    expect(p).toMatchObject({ status: 'succeeded', state: 'merged', budgets: { ci: 2, review: 1 }, retries: { ci: 2, review: 0 }, loops: 2 });
    await jl.close();
  });

  it('advances atomically with the stage outcome: a failing insert of the next job rolls the outcome back too', async () => {
    const jl = await open(dialect);
    const { id, jobId } = await jl.pipelines.start('test.ticket', { context: {} });
    // Provoke a unique violation on the hook's insert of the next stage's job.
    await provokeUniqueViolationOnStage(jl, 'code');
    const begin = await jl.ledger.beginAttempt(jobId, { workerId: 'test-worker', host: 'test', pid: process.pid });
    if (begin.kind !== 'started') throw new Error(`expected the attempt to start, got ${begin.kind}`);
    const outcome = { type: 'completed', result: { verdict: 'ok' } } as const;
    const error: unknown = await jl.ledger.recordOutcome(begin.attempt, outcome, undefined, Date.now(), [jl.pipelines.outcomeHook]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isUniqueViolation(error), `expected a unique violation, got ${String(error)}`).toBe(true);

    // Nothing of the outcome committed: the job and its attempt still running, the pipeline where it was.
    const { job, attempts, events } = await jl.ledger.getJobDetail(jobId);
    expect(job.status).toBe('running');
    expect(attempts.map((a) => a.status)).toEqual(['running']);
    expect(events.map((e) => e.type)).toEqual(['job.enqueued', 'job.started']);
    expect(await jl.pipelines.get(id)).toMatchObject({ state: 'build', status: 'running', currentJobId: jobId, path: [] });
    expect((await jl.ledger.listJobs()).map((j) => j.id)).toEqual([jobId]);

    // Once the cause is gone the same outcome applies, and the pipeline moves on with it.
    await jl.ledger.transaction((tx) => tx.run(dialect === 'sqlite' ? 'DROP TRIGGER provoke_unique' : 'DROP TRIGGER provoke_unique ON jobs'));
    const recorded = await jl.ledger.recordOutcome(begin.attempt, outcome, undefined, Date.now(), [jl.pipelines.outcomeHook]);
    expect(recorded.kind).toBe('applied');
    const next = recorded.kind === 'applied' ? recorded.dispatch : [];
    expect(next.map((j) => [j.stage, j.pipelineId, j.status])).toEqual([['code', id, 'pending']]);
    expect(await jl.pipelines.get(id)).toMatchObject({ state: 'code', currentJobId: next[0]!.id });
    await jl.close();
  });

  it('advances once for a stage job that fails once and succeeds on retry, and ignores a duplicate outcome', async () => {
    const jl = await open(dialect);
    await jl.createWorker({ concurrency: 4 }).start();
    const { id } = await jl.pipelines.start('test.ticket', { context: { plan: { code: ['flaky'] } } });
    const p = await waitForEnd(jl, id);
    expect(p).toMatchObject({ status: 'succeeded', state: 'merged', loops: 0 });
    expect(p.path.map((e) => e.stage)).toEqual(['build', 'code', 'test', 'review']);
    const detail = await jl.pipelines.detail(id);
    const coding = detail.stages.find((s) => s.stage === 'code')!;
    expect(coding.attempts.map((a) => a.status)).toEqual(['failed', 'succeeded']);
    expect(detail.events.filter((e) => e.type === 'pipeline.stage_completed')).toHaveLength(3);
    const stages = await jl.ledger.read((sql) =>
      sql.all('SELECT stage, COUNT(*) AS n FROM jobs WHERE pipeline_id = ? GROUP BY stage ORDER BY stage', [id]),
    );
    expect(stages.map((r) => [r.stage, Number(r.n)])).toEqual([['build', 1], ['code', 1], ['review', 1], ['test', 1]]);

    // The same outcome applied again (a duplicate) is fenced out: the pipeline has moved on.
    const dup = await jl.ledger.transaction((tx) =>
      jl.pipelines.outcomeHook(tx, {
        ref: { jobId: coding.jobId, attemptId: coding.attempts[1]!.id, number: 2, startedAt: 0 },
        outcome: { type: 'completed', result: {} },
        job: { id: coding.jobId, status: 'completed', runAt: 0, version: 0, pipelineId: id, stage: 'code' },
        now: Date.now(),
      }),
    );
    expect(dup).toBeUndefined();
    expect((await jl.pipelines.get(id)).path).toHaveLength(4);
    await jl.close();
  });

  it('ends the pipeline (state cancelled) when an operator cancels its stage job', async () => {
    const jl = await open(dialect);
    const { id, jobId } = await jl.pipelines.start('test.ticket', { context: {} });
    await jl.cancel({ jobId, reason: 'ticket withdrawn', actor: 'alice' });
    const p = await jl.pipelines.get(id);
    expect(p).toMatchObject({ status: 'failed', state: 'cancelled', currentJobId: null });
    expect(p.statusReason).toBe(`stage "build" job ${jobId} was cancelled by alice: ticket withdrawn`);
    expect(p.path).toMatchObject([{ stage: 'build', jobId, outcome: 'cancelled', next: 'cancelled' }]);
    const { events } = await jl.pipelines.detail(id);
    expect(events.map((e) => [e.seq, e.type, e.actor])).toEqual([
      [1, 'pipeline.started', 'producer'],
      [2, 'pipeline.failed', 'alice'],
    ]);
    await jl.close();
  });

  it('ends the pipeline failed when BullMQ fails its stage job for stalling (no outcome hook sees that)', async () => {
    const jl = await open(dialect);
    const { id, jobId } = await jl.pipelines.start('test.ticket', { context: {} });
    expect(await jl.ledger.failStalledJob(jobId, 'BullMQ: job stalled more than allowable limit')).toBe(true);
    const p = await jl.pipelines.get(id);
    expect(p).toMatchObject({ status: 'failed', state: 'failed', currentJobId: null });
    expect(p.statusReason).toBe(`stage "build" job ${jobId} failed: BullMQ: job stalled more than allowable limit`);
    expect(p.path).toMatchObject([{ stage: 'build', jobId, outcome: 'failed', next: 'failed' }]);
    await jl.close();
  });
});

/** A trigger that makes inserting a job for `stage` fail with a unique violation, on either dialect. */
async function provokeUniqueViolationOnStage(jl: JobLedger, stage: string): Promise<void> {
  await jl.ledger.transaction(async (tx) => {
    if (tx.dialect === 'sqlite') {
      await tx.run(
        `CREATE TRIGGER provoke_unique BEFORE INSERT ON jobs WHEN NEW.stage = '${stage}'
         BEGIN SELECT RAISE(ABORT, 'UNIQUE constraint failed: jobs.id (provoked by the test)'); END`,
      );
    } else {
      await tx.run(
        `CREATE OR REPLACE FUNCTION provoke_unique() RETURNS trigger AS $$
         BEGIN RAISE EXCEPTION 'provoked by the test' USING ERRCODE = 'unique_violation'; END $$ LANGUAGE plpgsql`,
      );
      await tx.run(`CREATE TRIGGER provoke_unique BEFORE INSERT ON jobs FOR EACH ROW WHEN (NEW.stage = '${stage}') EXECUTE FUNCTION provoke_unique()`);
    }
  });
}
