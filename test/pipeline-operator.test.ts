import { describe, expect, it } from 'vitest';
import { IllegalTransitionError, InvalidIdError, InvalidOptionError, NotFoundError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema, type StagePayload } from '../src/jobs/define-pipeline.js';
import { JobLedger } from '../src/jobledger.js';
import type { PipelineSummary } from '../src/store/pipelines/pipeline-queries.js';
import { PermanentJobError } from '../src/workers/classify-outcome.js';
import { backends } from './support/backends.js';
import { openTestJobLedger, waitFor } from './support/harness.js';

/** A stage job whose context's `plan[stage][visit - 1]` says `fail` (permanently) or, by default, complete. */
const stageJob = defineJob({
  name: 'test.op-stage',
  schema: stagePayloadSchema(),
  maxAttempts: 1,
  handler(payload: StagePayload) {
    const plan = (payload.context.plan ?? {}) as Record<string, string[] | undefined>;
    if (plan[payload.stage]?.[payload.visit - 1] === 'fail') throw new PermanentJobError(`${payload.stage} failed on visit ${payload.visit}`);
    return { context: { [`${payload.stage}Visits`]: payload.visit } };
  },
});

/** build → check (a failed check loops back to build once) → done. */
const flow = definePipeline({
  name: 'test.flow',
  start: 'build',
  stages: {
    build: { job: 'test.op-stage', on: { completed: 'check' } },
    check: { job: 'test.op-stage', on: { completed: { end: 'succeeded', state: 'done' }, failed: { loopTo: 'build', budget: 'fix' } } },
  },
  budgets: { fix: 1 },
});

function waitForEnd(jl: JobLedger, id: string): Promise<PipelineSummary> {
  return waitFor(async () => {
    const p = await jl.pipelines.get(id);
    return p.status === 'running' ? undefined : p;
  }, `pipeline ${id} to end`);
}

describe.each(backends)('pipeline cancel and retry on %s', (dialect) => {
  it('cancels a running pipeline: ended cancelled with reason and actor, its stage job cancelled, events written', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [flow] });
    const { id, jobId } = await jl.pipelines.start('test.flow');
    const result = await jl.cancelPipeline({ pipelineId: id, reason: 'ticket withdrawn', actor: 'alice' });
    expect(result).toMatchObject({ id, previousStatus: 'running', status: 'failed', state: 'cancelled' });
    expect(result.jobs).toEqual([{ id: jobId, previousStatus: expect.stringMatching(/^(pending|queued)$/) as unknown, status: 'cancelled' }]);

    const detail = await jl.pipelines.detail(id);
    expect(detail.pipeline).toMatchObject({ status: 'failed', state: 'cancelled', statusReason: 'cancelled by alice: ticket withdrawn', currentJobId: null });
    expect(detail.pipeline.path).toMatchObject([{ stage: 'build', jobId, outcome: 'cancelled', next: 'cancelled' }]);
    expect(detail.events.map((e) => [e.seq, e.type, e.actor])).toEqual([
      [1, 'pipeline.started', 'producer'],
      [2, 'pipeline.cancelled', 'alice'],
    ]);
    expect(detail.events[1]!.payload).toEqual({ stage: 'build', jobId, reason: 'ticket withdrawn', cancelledJobs: [jobId] });
    const job = await jl.ledger.getJobDetail(jobId);
    expect(job.job).toMatchObject({ status: 'cancelled', statusReason: 'ticket withdrawn' });
    expect(job.events.at(-1)).toMatchObject({ type: 'job.cancelled', actor: 'alice' });
    // One audit row for the pipeline and one for each job it cancelled, in the same transaction.
    expect(await jl.audit({ subject: id })).toMatchObject([
      { action: 'pipeline.cancel', actor: 'alice', source: 'library', subjectType: 'pipeline', reason: 'ticket withdrawn', count: 1, changes: { state: { before: 'build', after: 'cancelled' } } },
    ]);
    expect(await jl.audit({ subject: jobId })).toMatchObject([{ action: 'job.cancel', actor: 'alice' }]);

    // Only a running pipeline can be cancelled; a cancelled one is left as it is.
    await expect(jl.cancelPipeline({ pipelineId: id, reason: 'again' })).rejects.toThrow(IllegalTransitionError);
    await expect(jl.cancelPipeline({ pipelineId: id, reason: 'again' })).rejects.toThrow(`pipeline ${id} is failed; "cancel" is not allowed`);
    expect((await jl.pipelines.detail(id)).events).toHaveLength(2);
    expect(await jl.audit({ subject: id })).toHaveLength(1);
    await jl.close();
  });

  it('refuses bad input before writing anything, and says which pipeline does not exist', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [flow] });
    const { id } = await jl.pipelines.start('test.flow');
    await expect(jl.cancelPipeline({ pipelineId: id, reason: '  ' })).rejects.toThrow(InvalidOptionError);
    await expect(jl.retryPipeline({ pipelineId: id, reason: undefined as unknown as string })).rejects.toThrow(/reason: expected a non-empty reason/);
    await expect(jl.cancelPipeline({ pipelineId: 'job_01J00000000000000000000000', reason: 'x' })).rejects.toThrow(InvalidIdError);
    await expect(jl.cancelPipeline({ pipelineId: 'pip_01J00000000000000000000000', reason: 'x' })).rejects.toThrow(NotFoundError);
    await expect(jl.retryPipeline({ pipelineId: 'pip_01J00000000000000000000000', reason: 'x' })).rejects.toThrow(NotFoundError);
    // A running pipeline is not retried.
    await expect(jl.retryPipeline({ pipelineId: id, reason: 'x' })).rejects.toThrow(`pipeline ${id} is running; "retry" is not allowed`);
    expect(await jl.pipelines.get(id)).toMatchObject({ status: 'running', state: 'build' });
    await jl.close();
  });

  it('a stage outcome recorded after the cancel leaves the cancelled pipeline where it is', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [flow] });
    const { id, jobId } = await jl.pipelines.start('test.flow');
    const begin = await jl.ledger.beginAttempt(jobId, { workerId: 'test-worker', host: 'test', pid: process.pid });
    if (begin.kind !== 'started') throw new Error(`expected the attempt to start, got ${begin.kind}`);
    const result = await jl.cancelPipeline({ pipelineId: id, reason: 'stop', actor: 'bob' });
    expect(result.jobs).toEqual([{ id: jobId, previousStatus: 'running', status: 'cancelled' }]);
    await jl.ledger.recordOutcome(begin.attempt, { type: 'completed', result: {} }, undefined, Date.now(), [jl.pipelines.outcomeHook]);
    expect(await jl.pipelines.get(id)).toMatchObject({ status: 'failed', state: 'cancelled', currentJobId: null });
    expect((await jl.ledger.getJob(jobId)).status).toBe('cancelled');
    await jl.close();
  });

  it('a cancel racing the stage outcome either cancels the pipeline with its jobs or refuses, never half of it', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [flow] });
    for (let round = 0; round < 4; round++) {
      const { id, jobId } = await jl.pipelines.start('test.flow');
      const begin = await jl.ledger.beginAttempt(jobId, { workerId: 'test-worker', host: 'test', pid: process.pid });
      if (begin.kind !== 'started') throw new Error(`expected the attempt to start, got ${begin.kind}`);
      const [cancel] = await Promise.allSettled([
        jl.cancelPipeline({ pipelineId: id, reason: 'race', actor: 'racer' }),
        jl.ledger.recordOutcome(begin.attempt, { type: 'completed', result: {} }, undefined, Date.now(), [jl.pipelines.outcomeHook]),
      ]);
      const p = await jl.pipelines.get(id);
      const jobs = await jl.ledger.read((sql) => sql.all('SELECT id, status FROM jobs WHERE pipeline_id = ?', [id]));
      if (cancel.status === 'fulfilled') {
        expect(p).toMatchObject({ status: 'failed', state: 'cancelled', currentJobId: null });
        // Whatever ran before the cancel finished; nothing is left to run.
        for (const job of jobs) expect(['completed', 'cancelled']).toContain(job.status);
      } else {
        expect(cancel.reason).toBeInstanceOf(IllegalTransitionError);
        expect(p).toMatchObject({ status: 'running', state: 'check' });
        await jl.cancelPipeline({ pipelineId: id, reason: 'again', actor: 'racer' });
      }
    }
    await jl.close();
  });

  it('retries a pipeline that exhausted its loop budget from the stage that failed, with a new stage job', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [flow] });
    await jl.createWorker({ concurrency: 2 }).start();
    const { id } = await jl.pipelines.start('test.flow', { context: { plan: { check: ['fail', 'fail'] } } });
    const failed = await waitForEnd(jl, id);
    expect(failed).toMatchObject({ status: 'failed', state: 'failed', retries: { fix: 1 } });
    const endedBy = failed.path.at(-1)!;
    expect(endedBy).toMatchObject({ stage: 'check', outcome: 'failed' });

    const result = await jl.retryPipeline({ pipelineId: id, reason: 'flaky checker fixed', actor: 'carol' });
    expect(result).toMatchObject({ id, previousStatus: 'failed', status: 'running', state: 'check' });
    expect(result.jobs).toHaveLength(1);
    const newJobId = result.jobs[0]!.id;
    expect(newJobId).not.toBe(endedBy.jobId);

    const done = await waitForEnd(jl, id);
    expect(done).toMatchObject({ status: 'succeeded', state: 'done', statusReason: null, retries: { fix: 1 } });
    expect(done.path.map((e) => [e.stage, e.outcome, e.next])).toEqual([
      ['build', 'completed', 'check'],
      ['check', 'failed', 'build'],
      ['build', 'completed', 'check'],
      ['check', 'failed', 'failed'],
      ['check', 'completed', 'done'],
    ]);
    expect(done.context).toMatchObject({ checkVisits: 3 });
    const detail = await jl.pipelines.detail(id);
    const retried = detail.events.find((e) => e.type === 'pipeline.retried')!;
    expect(retried).toMatchObject({ actor: 'carol', payload: { reason: 'flaky checker fixed', stage: 'check', visit: 3, jobId: newJobId, previousState: 'failed' } });
    expect(detail.events.map((e) => e.seq)).toEqual(detail.events.map((_, i) => i + 1));
    const job = await jl.ledger.getJobDetail(newJobId);
    expect(job.job).toMatchObject({ pipelineId: id, stage: 'check', status: 'completed' });
    expect(job.events[0]).toMatchObject({ type: 'job.enqueued', actor: 'carol' });

    // A succeeded pipeline is not retried.
    await expect(jl.retryPipeline({ pipelineId: id, reason: 'x' })).rejects.toThrow(IllegalTransitionError);
    await jl.close();
  });

  it('retries a cancelled pipeline from a process that does not register it (the new job copies the ended one)', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [flow] });
    const { id, jobId } = await jl.pipelines.start('test.flow', { context: { ticket: 7 } });
    await jl.cancelPipeline({ pipelineId: id, reason: 'paused', actor: 'dave' });

    // Like the CLI or the console: no job types, no pipeline definitions.
    const bare = await JobLedger.open({ jobs: [], config: jl.config });
    try {
      const result = await bare.retryPipeline({ pipelineId: id, reason: 'resume', actor: 'dave' });
      expect(result).toMatchObject({ status: 'running', state: 'build' });
      const { job } = await bare.ledger.getJobDetail(result.jobs[0]!.id);
      expect(job).toMatchObject({ name: 'test.op-stage', stage: 'build', pipelineId: id });
      expect(job.payload).toMatchObject({ pipelineId: id, pipeline: 'test.flow', stage: 'build', visit: 2, context: { ticket: 7 } });
    } finally {
      await bare.close();
    }
    await jl.createWorker({ concurrency: 2 }).start();
    const done = await waitForEnd(jl, id);
    expect(done).toMatchObject({ status: 'succeeded', state: 'done' });
    expect(done.path.map((e) => [e.stage, e.jobId === jobId, e.outcome])).toEqual([
      ['build', true, 'cancelled'],
      ['build', false, 'completed'],
      ['check', false, 'completed'],
    ]);
    await jl.close();
  });
});
