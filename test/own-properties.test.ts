/**
 * User-supplied names looked up in objects (issue 21, item 8): a name such as `constructor`,
 * `toString`, `hasOwnProperty` or `__proto__` is an own property or nothing, never something
 * inherited from Object.prototype. Pure functions here; the pipeline start is checked end to end on
 * both backends.
 */
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import { InvalidOptionError, InvalidPipelineError, UnknownJobError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, resolveBudgets, stagePayloadSchema } from '../src/jobs/define-pipeline.js';
import { decideTransition } from '../src/jobs/pipeline-transition.js';
import { JobRegistry } from '../src/jobs/registry.js';
import { backends } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';

const inherited = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', '__proto__'];

const review = definePipeline({
  name: 'review',
  stages: {
    code: { job: 'stage.job', on: { completed: { choose: (r) => String((r as { verdict?: unknown }).verdict), routes: { ok: { end: 'succeeded' } } } } },
    check: { job: 'stage.job', on: { failed: { loopTo: 'code', budget: 'ci' } } },
  },
  budgets: { ci: 2 },
});

/** Overrides as they arrive from JSON (the CLI's `--budget`, an HTTP body): `__proto__` is an own key there. */
const fromJson = (name: string): Record<string, number> => JSON.parse(`{${JSON.stringify(name)}: 3}`) as Record<string, number>;

describe('own-property lookups', () => {
  it.each(inherited)('refuses a budget override named %s with a coded error, and stores nothing of it', (name) => {
    expect(() => resolveBudgets(review, fromJson(name))).toThrow(InvalidOptionError);
    expect(() => resolveBudgets(review, fromJson(name))).toThrow(`budgets.${name}: expected a budget of pipeline "review" (ci)`);
    expect(resolveBudgets(review, { ci: 1 })).toEqual({ ci: 1 });
  });

  it.each(inherited.filter((n) => n !== '__proto__'))('refuses a loop on an undeclared budget named %s at definition time', (name) => {
    expect(() =>
      definePipeline({ name: 'p', stages: { a: { job: 'x', on: { failed: { loopTo: 'a', budget: name } } } }, budgets: {} }),
    ).toThrow(InvalidPipelineError);
  });

  it.each(inherited)('ends a pipeline whose stored stage is named %s with a reason, and picks no inherited route', (name) => {
    const position = { stage: name, context: {}, budgets: {}, retries: {} };
    expect(decideTransition(review, position, { type: 'completed', jobId: 'job_x', result: {} })).toMatchObject({ kind: 'end', status: 'failed' });
    const at = { stage: 'code', context: {}, budgets: { ci: 2 }, retries: {} };
    const chosen = decideTransition(review, at, { type: 'completed', jobId: 'job_x', result: { verdict: name } });
    expect(chosen).toMatchObject({ kind: 'end', status: 'failed', reason: expect.stringContaining('not one of its routes (ok)') as unknown });
  });

  it('counts loops of a budget named like an Object.prototype member from own properties only', () => {
    const pipeline = definePipeline({
      name: 'odd',
      stages: { a: { job: 'x', on: { failed: { loopTo: 'a', budget: 'constructor' } } } },
      budgets: { constructor: 1 },
    });
    const failed = { type: 'failed' as const, jobId: 'job_x', reason: 'no', error: null };
    // Stored counters without the key: 0 loops used of a budget of 0, not a function compared to a number.
    expect(decideTransition(pipeline, { stage: 'a', context: {}, budgets: {}, retries: {} }, failed)).toMatchObject({ kind: 'end', status: 'failed' });
    expect(decideTransition(pipeline, { stage: 'a', context: {}, budgets: { constructor: 1 }, retries: {} }, failed)).toMatchObject({ kind: 'loop', used: 1, max: 1 });
  });

  it.each(inherited)('knows no job type named %s', (name) => {
    const registry = new JobRegistry([defineJob({ name: 'real.job', schema: z.object({}), handler: () => null })]);
    expect(registry.has(name)).toBe(false);
    expect(() => registry.get(name)).toThrow(UnknownJobError);
  });

  it('keeps a per-queue retention for a queue named __proto__ as its own entry', () => {
    const config = loadConfig({}, { JOBLEDGER_RETENTION_DAYS_BY_QUEUE: '__proto__=7,constructor=forever' });
    expect(Object.entries(config.maintenance.retentionDaysByQueue)).toEqual([
      ['__proto__', 7],
      ['constructor', null],
    ]);
    expect(Object.getPrototypeOf(config.maintenance.retentionDaysByQueue)).toBe(Object.prototype);
  });
});

describe.each(backends)('starting a pipeline with budget overrides on %s', (dialect) => {
  it('refuses inherited names and stores nothing, keeps own ones', async () => {
    const stageJob = defineJob({ name: 'stage.job', schema: stagePayloadSchema(), handler: () => ({ verdict: 'ok' }) });
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [review] });
    for (const name of inherited) {
      await expect(jl.pipelines.start('review', { budgets: fromJson(name) })).rejects.toMatchObject({
        code: 'JOBLEDGER_INVALID_OPTION',
        option: `budgets.${name}`,
      });
    }
    expect(await jl.pipelines.list()).toEqual([]);
    const started = await jl.pipelines.start('review', { budgets: { ci: 5 } });
    expect((await jl.pipelines.get(started.id)).budgets).toEqual({ ci: 5 });
    await jl.close();
  });
});
