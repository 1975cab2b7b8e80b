/**
 * The console API behind the pipeline actions, the State and Maintenance pages and the overview's
 * charts, through Fastify's `inject` on both backends: answers, bad parameters (a 400 naming the
 * field), unknown ids (404), and a viewer's 403 on actions.
 */
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsole } from '../src/console/index.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema } from '../src/jobs/define-pipeline.js';
import { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/ids.js';
import { backends, testConfig } from './support/backends.js';

const operatorSecret = 'olga-secret-0123456789';
const viewerSecret = 'vera-secret-0123456789';
const tokens = parseConsoleTokens(`olga:operator:${operatorSecret},vera:viewer:${viewerSecret}`);
const asOperator = { authorization: `Bearer ${operatorSecret}` };
const asViewer = { authorization: `Bearer ${viewerSecret}` };

const stageJob = defineJob({ name: 'test.pages-stage', schema: stagePayloadSchema(), handler: () => ({}) });
const pipeline = definePipeline({ name: 'test.pages-pipeline', stages: { first: { job: 'test.pages-stage', on: { completed: 'second' } }, second: { job: 'test.pages-stage' } } });

function body(response: LightMyRequestResponse): Record<string, unknown> {
  return response.json<Record<string, unknown>>();
}

function expectInvalid(response: LightMyRequestResponse, field: string, what: string): void {
  expect(response.statusCode, what).toBe(400);
  expect(body(response).code, what).toBe('JOBLEDGER_INVALID_OPTION');
  expect(String(body(response).message), what).toMatch(new RegExp(`^JOBLEDGER_INVALID_OPTION: ${field.replace('.', '\\.')}\\b`));
}

describe.each(backends)('console pages API on %s', (dialect) => {
  let jl: JobLedger;
  let app: FastifyInstance;

  beforeAll(async () => {
    // Opened once for the file: every test acts on its own pipelines, keys and tasks. No workers run.
    jl = await JobLedger.open({ jobs: [stageJob], pipelines: [pipeline], migrate: true, config: await testConfig(dialect) });
    app = createConsole({ jl, tokens });
  });

  afterAll(async () => {
    await app?.close();
    await jl?.close();
  });

  const get = (url: string, headers: Record<string, string> = asViewer) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload: unknown, headers: Record<string, string> = asOperator) => app.inject({ method: 'POST', url, headers, payload: payload as object });

  describe('pipeline actions', () => {
    it('cancels a running pipeline and retries it, with the token\'s name as actor', async () => {
      const { id, jobId } = await jl.pipelines.start('test.pages-pipeline', { actor: 'test' });
      const cancelled = await post(`/api/pipelines/${id}/cancel`, { reason: 'wrong ticket' });
      expect(cancelled.statusCode).toBe(200);
      expect(body(cancelled)).toMatchObject({ id, previousStatus: 'running', status: 'failed', state: 'cancelled', jobs: [{ id: jobId, status: 'cancelled' }] });
      expect((await jl.ledger.getJob(jobId)).status).toBe('cancelled');

      const again = await post(`/api/pipelines/${id}/cancel`, { reason: 'twice' });
      expect(again.statusCode).toBe(409);
      expect(body(again)).toMatchObject({ code: 'JOBLEDGER_ILLEGAL_TRANSITION', message: expect.stringContaining(`pipeline ${id} is failed`) as unknown });

      const retried = await post(`/api/pipelines/${id}/retry`, { reason: 'right ticket after all' });
      expect(retried.statusCode).toBe(200);
      expect(body(retried)).toMatchObject({ id, previousStatus: 'failed', status: 'running', state: 'first' });
      const detail = await jl.pipelines.detail(id);
      expect(detail.events.map((e) => [e.type, e.actor])).toEqual([
        ['pipeline.started', 'test'],
        ['pipeline.cancelled', 'olga'],
        ['pipeline.retried', 'olga'],
      ]);
      expect(detail.stages.map((s) => [s.stage, s.outcome])).toEqual([['first', 'cancelled'], ['first', 'running']]);
      expect((await post(`/api/pipelines/${id}/retry`, { reason: 'running' })).statusCode).toBe(409);
      await jl.cancelPipeline({ pipelineId: id, reason: 'tidy up', actor: 'test' });
    });

    it('refuses bad parameters, unknown ids and a viewer', async () => {
      const { id } = await jl.pipelines.start('test.pages-pipeline', { actor: 'test' });
      for (const action of ['cancel', 'retry']) {
        expectInvalid(await post(`/api/pipelines/${id}/${action}`, {}), 'reason', `${action} without reason`);
        expectInvalid(await post(`/api/pipelines/${id}/${action}`, { reason: '  ' }), 'reason', `${action} blank reason`);
        expectInvalid(await post(`/api/pipelines/${id}/${action}`, { reason: 'x', actor: 'mallory' }), 'actor', `${action} with actor`);
        expectInvalid(await post(`/api/pipelines/pip_short/${action}`, { reason: 'x' }), 'id', `${action} bad id`);
        const missing = await post(`/api/pipelines/${newId('pip')}/${action}`, { reason: 'x' });
        expect(missing.statusCode).toBe(404);
        expect(body(missing).code).toBe('JOBLEDGER_NOT_FOUND');
        const viewer = await post(`/api/pipelines/${id}/${action}`, { reason: 'x' }, asViewer);
        expect(viewer.statusCode).toBe(403);
        expect(body(viewer).code).toBe('JOBLEDGER_FORBIDDEN');
        expect((await post(`/api/pipelines/${id}/${action}`, { reason: 'x' }, {})).statusCode).toBe(401);
      }
      expect((await jl.pipelines.detail(id)).events.map((e) => e.type)).toEqual(['pipeline.started']);
      await jl.cancelPipeline({ pipelineId: id, reason: 'tidy up', actor: 'test' });
    });
  });
});
