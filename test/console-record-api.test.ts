/**
 * The console API behind a job's lineage, the Replays and Audit pages and the pipeline page's stage
 * graph, through Fastify's `inject` on both backends, with a real worker running the jobs: answers,
 * bad parameters (a 400 naming the field), unknown ids (404), and what a viewer may read.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsole } from '../src/console/index.js';
import { pipelineGraph, type PipelineGraph } from '../src/console/pipeline-graph.js';
import type { JobLineageAnswer } from '../src/console/record-routes.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema, type StagePayload } from '../src/jobs/define-pipeline.js';
import { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/ids.js';
import type { AuditRow } from '../src/store/index.js';
import { PermanentJobError } from '../src/workers/classify-outcome.js';
import { backends, testConfig } from './support/backends.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { waitFor, waitForStatus } from './support/harness.js';

const operatorSecret = 'olga-secret-0123456789';
const viewerSecret = 'vera-secret-0123456789';
const tokens = parseConsoleTokens(`olga:operator:${operatorSecret},vera:viewer:${viewerSecret}`);
const asOperator = { authorization: `Bearer ${operatorSecret}` };
const asViewer = { authorization: `Bearer ${viewerSecret}` };

/** Fails (permanently) on the visits its context's `plan[stage]` marks `fail`; completes otherwise. */
const recordStage = defineJob({
  name: 'test.record-stage',
  schema: stagePayloadSchema(),
  maxAttempts: 1,
  handler(payload: StagePayload) {
    const plan = (payload.context.plan ?? {}) as Record<string, string[] | undefined>;
    if (plan[payload.stage]?.[payload.visit - 1] === 'fail') throw new PermanentJobError(`${payload.stage} rejected on visit ${payload.visit}`);
    return {};
  },
});

/** draft → review → published; a failed review loops back to draft (budget rework: 2). */
const reworkPipeline = definePipeline({
  name: 'test.record-rework',
  stages: {
    draft: { job: 'test.record-stage', on: { completed: 'review' } },
    review: { job: 'test.record-stage', on: { completed: { end: 'succeeded', state: 'published' }, failed: { loopTo: 'draft', budget: 'rework' } } },
  },
  budgets: { rework: 2 },
});

function body<T = Record<string, unknown>>(response: LightMyRequestResponse): T {
  return response.json<T>();
}

function expectInvalid(response: LightMyRequestResponse, field: string, what: string): void {
  expect(response.statusCode, what).toBe(400);
  expect(body(response).code, what).toBe('JOBLEDGER_INVALID_OPTION');
  expect(String(body(response).message), what).toMatch(new RegExp(`^JOBLEDGER_INVALID_OPTION: ${field}\\b`));
}

describe.each(backends)('console record API on %s', (dialect) => {
  let jl: JobLedger;
  let app: FastifyInstance;

  beforeAll(async () => {
    jl = await JobLedger.open({ jobs: [scriptedJob, recordStage], pipelines: [reworkPipeline], migrate: true, config: await testConfig(dialect) });
    await jl.createWorker({ concurrency: 2 }).start();
    app = createConsole({ jl, tokens });
  });

  afterAll(async () => {
    await app?.close();
    await jl?.close();
  });

  const get = (url: string, headers: Record<string, string> = asViewer) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload: unknown, headers: Record<string, string> = asOperator) => app.inject({ method: 'POST', url, headers, payload: payload as object });

  it('shows a job\'s replays both ways with their names and reasons, and its operator retries as audit rows', async () => {
    const { id } = await jl.enqueue('test.scripted', { action: 'throw-permanent', tag: `lineage-${dialect}` });
    await waitForStatus(jl, id, 'failed');
    const untouched = body<JobLineageAnswer>(await get(`/api/jobs/${id}/lineage`));
    expect(untouched).toEqual({ jobId: id, replayOf: null, replayedAs: [], audit: [], auditMore: false });

    expect((await post(`/api/jobs/${id}/retry`, { reason: 'card processor back' })).statusCode).toBe(200);
    await waitForStatus(jl, id, 'failed');
    const first = await jl.replays.run({ name: 'after the fix', reason: 'the card bug is fixed', actor: 'rita', filter: { jobId: id } });
    const second = await jl.replays.run({ name: 'once more', reason: 'second look', actor: 'rita', filter: { jobId: id } });
    if (first.dryRun || second.dryRun) throw new Error('not a dry run');

    const lineage = body<JobLineageAnswer>(await get(`/api/jobs/${id}/lineage`));
    expect(lineage.replayOf).toBeNull();
    expect(lineage.replayedAs.map((m) => [m.replay?.id, m.replay?.name, m.replay?.reason, m.replay?.actor])).toEqual([
      [first.replay.id, 'after the fix', 'the card bug is fixed', 'rita'],
      [second.replay.id, 'once more', 'second look', 'rita'],
    ]);
    expect(lineage.audit.map((row) => [row.action, row.actor, row.source, row.reason])).toEqual([['job.retry', 'olga', 'api', 'card processor back']]);
    expect(lineage.audit[0]!.changes).toMatchObject({ status: { before: 'failed' } });

    const madeId = lineage.replayedAs[0]!.jobId;
    expect(madeId).not.toBe(id);
    const made = body<JobLineageAnswer>(await get(`/api/jobs/${madeId}/lineage`));
    expect(made.replayOf).toEqual({ jobId: id, replay: expect.objectContaining({ id: first.replay.id, name: 'after the fix', reason: 'the card bug is fixed' }) as unknown });
    expect(made.replayedAs).toEqual([]);

    // The replays list names both; the audit log finds the retry by actor, subject and time.
    const replays = body<{ items: { id: string; name: string; created: number }[] }>(await get('/api/replays'));
    expect(replays.items.slice(0, 2).map((r) => [r.id, r.name, r.created])).toEqual([
      [second.replay.id, 'once more', 1],
      [first.replay.id, 'after the fix', 1],
    ]);
    expect(body<{ items: { id: string }[] }>(await get('/api/replays?status=completed&limit=1')).items).toHaveLength(1);
    const audit = body<{ items: AuditRow[] }>(await get(`/api/audit?actor=olga&subject=${id}&since=${new Date(Date.now() - 60_000).toISOString()}`));
    expect(audit.items.map((row) => row.action)).toEqual(['job.retry']);
  });

  it('refuses bad lineage, replay and audit parameters by name, answers 404 for unknown ids, 401 without a token', async () => {
    expectInvalid(await get('/api/jobs/job_short/lineage'), 'id', 'malformed job id');
    expectInvalid(await get(`/api/jobs/${newId('run')}/lineage`), 'id', 'a run id');
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 3_600_000 });
    expectInvalid(await get(`/api/jobs/${id}/lineage?depth=2`), 'depth', 'unknown parameter');
    const missing = await get(`/api/jobs/${newId('job')}/lineage`);
    expect(missing.statusCode).toBe(404);
    expect(body(missing).code).toBe('JOBLEDGER_NOT_FOUND');
    expect((await get(`/api/jobs/${id}/lineage`, {})).statusCode).toBe(401);
    expect((await get(`/api/jobs/${id}/lineage`, asOperator)).statusCode).toBe(200);

    expectInvalid(await get('/api/replays?status=paused'), 'status', 'unknown replay status');
    expectInvalid(await get('/api/replays?limit=0'), 'limit', 'zero limit');
    expectInvalid(await get('/api/replays?name=x'), 'name', 'unknown replays parameter');
    expect((await get('/api/replays', {})).statusCode).toBe(401);

    expectInvalid(await get('/api/audit?since=yesterday'), 'since', 'malformed since');
    expectInvalid(await get('/api/audit?after=aud_short'), 'after', 'malformed cursor');
    expectInvalid(await get(`/api/audit?actor=${'a'.repeat(201)}`), 'actor', 'overlong actor');
    const gone = await get(`/api/audit?after=${newId('aud')}`);
    expect(gone.statusCode).toBe(404);
  });

  it('draws a looped pipeline\'s stage graph with visits, the loop taken and its budget left', async () => {
    const { id } = await jl.pipelines.start('test.record-rework', { context: { plan: { review: ['fail'] } } });
    await waitFor(async () => ((await jl.pipelines.get(id)).status === 'running' ? undefined : true), `pipeline ${id} to end`);
    const answer = await get(`/api/pipelines/${id}`);
    expect(answer.statusCode).toBe(200);
    const graph = body<{ graph: PipelineGraph }>(answer).graph;
    expect(graph.fromDefinition).toBe(true);
    expect(graph.loopsTaken).toBe(1);
    expect(graph.stages.map((s) => [s.stage, s.visits, s.jobs.map((j) => j.outcome)])).toEqual([
      ['draft', 2, ['completed', 'completed']],
      ['review', 2, ['failed', 'completed']],
    ]);
    const edge = (from: string, to: string, on: string) => graph.edges.find((e) => e.from === from && e.to === to && e.on === on);
    expect(edge('draft', 'review', 'completed')).toMatchObject({ kind: 'next', taken: 2 });
    expect(edge('review', 'draft', 'failed')).toMatchObject({ kind: 'loop', taken: 1, budget: { name: 'rework', max: 2, used: 1, left: 1 } });
    expect(edge('review', 'published', 'completed')).toMatchObject({ kind: 'end', end: 'succeeded', taken: 1 });
    // Declared, never taken: draft's default failure end.
    expect(edge('draft', 'failed', 'failed')).toMatchObject({ kind: 'end', taken: 0 });
    expect(graph.ends.sort()).toEqual(['failed', 'published']);
    expect(graph.budgets).toEqual([{ name: 'rework', max: 2, used: 1, left: 1 }]);

    // A console that does not register the definition draws what the path shows: the same loop, no budget.
    const fromPath = pipelineGraph(await jl.pipelines.detail(id), undefined);
    expect(fromPath.fromDefinition).toBe(false);
    expect(fromPath.edges.map((e) => [e.from, e.to, e.on, e.kind, e.taken])).toEqual([
      ['draft', 'review', 'completed', 'next', 2],
      ['review', 'draft', 'failed', 'loop', 1],
      ['review', 'published', 'completed', 'end', 1],
    ]);
    expect(fromPath.budgets).toEqual([{ name: 'rework', max: 2, used: 1, left: 1 }]);

    expectInvalid(await get('/api/pipelines/pip_short'), 'id', 'malformed pipeline id');
    expect((await get(`/api/pipelines/${newId('pip')}`)).statusCode).toBe(404);
  });
});
