/**
 * The operator console's JSON API through Fastify's `inject`, on both backends: every route, every
 * kind of bad parameter (a 400 naming it), unknown ids, authentication, roles, CSRF, the actor of
 * actions, keyset pages, the OpenAPI description, the security headers, and embedding under a
 * prefix in another Fastify server.
 */
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsole, jobLedgerConsole, startConsole } from '../src/console/index.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema } from '../src/jobs/define-pipeline.js';
import { JobLedger } from '../src/jobledger.js';
import { newId } from '../src/store/ids.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends, testConfig } from './support/backends.js';

const operatorSecret = 'alice-secret-0123456789';
const viewerSecret = 'victor-secret-0123456789';
const tokens = parseConsoleTokens(`alice:operator:${operatorSecret},victor:viewer:${viewerSecret}`);
const asOperator = { authorization: `Bearer ${operatorSecret}` };
const asViewer = { authorization: `Bearer ${viewerSecret}` };

const stageJob = defineJob({ name: 'test.console-stage', schema: stagePayloadSchema(), handler: () => ({}) });
const pipeline = definePipeline({ name: 'test.console-pipeline', stages: { only: { job: 'test.console-stage' } } });

function body(response: LightMyRequestResponse): Record<string, unknown> {
  return response.json<Record<string, unknown>>();
}

describe.each(backends)('console API on %s', (dialect) => {
  let jl: JobLedger;
  let app: FastifyInstance;
  let delayed: string[];
  let runId: string;
  let pipelineId: string;

  beforeAll(async () => {
    // Opened once for the file (not tracked per test): every test reads or acts on its own jobs.
    jl = await JobLedger.open({ jobs: [scriptedJob, stageJob], pipelines: [pipeline], migrate: true, config: await testConfig(dialect) });
    app = createConsole({ jl, tokens });
    runId = (await jl.ledger.createRun({ name: 'console run', metadata: { team: 'ops' }, actor: 'test' })).id;
    delayed = [];
    for (let i = 0; i < 5; i++) {
      const job = await jl.enqueue('test.scripted', { action: 'succeed', tag: `page-${i}`, result: { customer: { plan: i % 2 ? 'pro' : 'free' } } }, { delayMs: 3_600_000, runId });
      delayed.push(job.id);
    }
    pipelineId = (await jl.pipelines.start('test.console-pipeline', { actor: 'test' })).id;
  });

  afterAll(async () => {
    await app?.close();
    await jl?.close();
  });

  const get = (url: string, headers: Record<string, string> = asViewer) => app.inject({ method: 'GET', url, headers });
  const post = (url: string, payload: unknown, headers: Record<string, string> = asOperator) => app.inject({ method: 'POST', url, headers, payload: payload as object });

  it('answers every read route to a viewer token', async () => {
    const overview = await get('/api/overview');
    expect(overview.statusCode).toBe(200);
    const figures = body(overview) as { jobs: { byStatus: Record<string, number>; byQueue: { queue: string }[] }; attemptsPastLock: number; relayBacklog: number };
    expect(figures.jobs.byStatus.delayed).toBeGreaterThanOrEqual(5);
    expect(figures.jobs.byQueue.map((q) => q.queue)).toContain('default');
    expect(figures.attemptsPastLock).toBe(0);
    expect(typeof figures.relayBacklog).toBe('number');

    const jobs = body(await get(`/api/jobs?run=${runId}&status=delayed`)) as { items: { id: string; name: string }[] };
    expect(jobs.items.map((j) => j.id).sort()).toEqual([...delayed].sort());
    expect(jobs.items[0]).not.toHaveProperty('payload');

    const detail = body(await get(`/api/jobs/${delayed[0]}`)) as { job: { id: string; payload: unknown }; attempts: unknown[]; events: { type: string }[] };
    expect(detail.job.id).toBe(delayed[0]);
    expect(detail.job.payload).toMatchObject({ tag: 'page-0' });
    expect(detail.events.map((e) => e.type)).toEqual(['job.enqueued']);

    const runs = body(await get('/api/runs')) as { items: { id: string }[] };
    expect(runs.items.map((r) => r.id)).toContain(runId);
    const run = body(await get(`/api/runs/${runId}`)) as { run: { metadata: unknown }; jobsByStatus: Record<string, number>; figures: { events: number } };
    expect(run.run.metadata).toEqual({ team: 'ops' });
    expect(run.jobsByStatus.delayed).toBe(5);

    const live = body(await get('/api/pipelines')) as { archived: boolean; items: { id: string }[] };
    expect(live.archived).toBe(false);
    expect(live.items.map((p) => p.id)).toContain(pipelineId);
    expect(body(await get('/api/pipelines?archived=true&status=failed'))).toEqual({ archived: true, items: [] });
    const pip = body(await get(`/api/pipelines/${pipelineId}`)) as { pipeline: { id: string }; stages: { stage: string }[] };
    expect(pip.pipeline.id).toBe(pipelineId);
    expect(pip.stages.map((s) => s.stage)).toEqual(['only']);

    const events = body(await get(`/api/events?subject=${delayed[0]}`)) as { items: { type: string }[]; next: string | null };
    expect(events.items.map((e) => e.type)).toEqual(['job.enqueued']);
    expect(events.next).toBeNull();

    const session = body(await get('/api/session'));
    expect(session).toMatchObject({ name: 'victor', role: 'viewer', via: 'bearer', csrf: null });
  });

  it('pages jobs and events by keyset, without repeats or gaps', async () => {
    const seen: string[] = [];
    let next: string | null = null;
    do {
      const page = body(await get(`/api/jobs?run=${runId}&limit=2${next ? `&before=${next}` : ''}`)) as { items: { id: string }[]; next: string | null };
      expect(page.items.length).toBeLessThanOrEqual(2);
      seen.push(...page.items.map((j) => j.id));
      next = page.next;
    } while (next);
    expect(seen).toEqual([...delayed].reverse());

    const first = body(await get('/api/events?limit=1&type=job.enqueued')) as { items: { id: string }[]; next: string };
    const second = body(await get(`/api/events?limit=1&type=job.enqueued&before=${first.next}`)) as { items: { id: string }[] };
    expect(second.items[0]!.id).not.toBe(first.items[0]!.id);
  });

  it('finds jobs by a payload path, a job type, a time range', async () => {
    const pro = body(await get(`/api/jobs?run=${runId}&q=${encodeURIComponent('payload.result.customer.plan=pro')}`)) as { items: { id: string }[] };
    expect(pro.items.map((j) => j.id).sort()).toEqual([delayed[1], delayed[3]].sort());
    // Every job was searched (far fewer than one request's bound): not partial, no next page.
    expect(pro).toMatchObject({ partial: false, next: null });
    expect((body(await get(`/api/jobs?run=${runId}&error=${encodeURIComponent('no error says this')}`)) as { items: unknown[] }).items).toEqual([]);
    const both = body(await get(`/api/jobs?run=${runId}&q=payload.result.customer.plan=pro&q=payload.tag=page-3`)) as { items: { id: string }[] };
    expect(both.items.map((j) => j.id)).toEqual([delayed[3]]);
    expect((body(await get(`/api/jobs?run=${runId}&name=test.nothing`)) as { items: unknown[] }).items).toEqual([]);
    const future = new Date(Date.now() + 86_400_000).toISOString();
    expect((body(await get(`/api/jobs?run=${runId}&since=${future}`)) as { items: unknown[] }).items).toEqual([]);
    expect((body(await get(`/api/jobs?run=${runId}&until=${future}`)) as { items: unknown[] }).items).toHaveLength(5);
  });

  it('refuses every bad parameter with a 400 that names it', async () => {
    const cases: [string, string][] = [
      ['/api/jobs?limit=0', 'limit'],
      ['/api/jobs?limit=abc', 'limit'],
      ['/api/jobs?limit=501', 'limit'],
      ['/api/jobs?status=bogus', 'status'],
      ['/api/jobs?status=failed,', 'status'],
      ['/api/jobs?since=yesterday', 'since'],
      ['/api/jobs?until=2026-13-45', 'until'],
      ['/api/jobs?since=-5', 'since'],
      ['/api/jobs?until=2026-02-31', 'until'],
      ['/api/jobs?before=junk', 'before'],
      ['/api/jobs?run=run_nope', 'run'],
      ['/api/jobs?q=customer.plan', 'q'],
      ['/api/jobs?q=payload.1x=2', 'q'],
      [`/api/jobs?error=${'x'.repeat(501)}`, 'error'],
      ['/api/jobs?bogus=1', 'bogus'],
      ['/api/jobs/not-a-job', 'id'],
      ['/api/runs?status=sleeping', 'status'],
      ['/api/runs/run_x', 'id'],
      ['/api/pipelines?archived=maybe', 'archived'],
      ['/api/pipelines?archived=true&state=review', 'state'],
      ['/api/pipelines?since=1', 'since'],
      ['/api/pipelines/pip_short', 'id'],
      ['/api/events?type=Job.Failed', 'type'],
      ['/api/events?type=job.nothing', 'type'],
      ['/api/events?subjectType=planet', 'subjectType'],
      ['/api/events?before=1.job_01JAAAAAAAAAAAAAAAAAAAAAAA', 'before'],
    ];
    for (const [url, field] of cases) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(400);
      expect(body(response).code, url).toBe('JOBLEDGER_INVALID_OPTION');
      expect(String(body(response).message), url).toMatch(new RegExp(`^JOBLEDGER_INVALID_OPTION: ${field}\\b`));
    }
    const actions: [string, unknown, string][] = [
      [`/api/jobs/${delayed[0]}/cancel`, {}, 'reason'],
      [`/api/jobs/${delayed[0]}/cancel`, { reason: '' }, 'reason'],
      [`/api/jobs/${delayed[0]}/cancel`, { reason: '   ' }, 'reason'],
      [`/api/jobs/${delayed[0]}/cancel`, { reason: 'x', actor: 'mallory' }, 'actor'],
      ['/api/jobs/bulk', { action: 'delete', reason: 'x', ids: [delayed[0]] }, 'action'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x' }, 'ids'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', ids: [delayed[0]], filter: {} }, 'ids'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', ids: ['job_1'] }, 'ids'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', filter: { colour: 'red' } }, 'filter.colour'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', filter: { status: 'nope' } }, 'filter'],
      // The wrong JSON type is refused, not coerced: a number for a text, one id for a list of them.
      [`/api/jobs/${delayed[0]}/cancel`, { reason: 5 }, 'reason'],
      [`/api/jobs/${delayed[0]}/cancel`, { reason: ['why'] }, 'reason'],
      [`/api/jobs/${delayed[0]}/cancel`, ['why'], 'body'],
      ['/api/jobs/bulk', { action: ['cancel'], reason: 'x', ids: [delayed[0]] }, 'action'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', ids: delayed[0] }, 'ids'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', ids: [delayed[0], 7] }, 'ids\\[1'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', filter: { status: ['delayed'] } }, 'filter.status'],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', filter: { since: true } }, 'filter.since'],
    ];
    for (const [url, payload, field] of actions) {
      const response = await post(url, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(String(body(response).message), JSON.stringify(payload)).toMatch(new RegExp(`^JOBLEDGER_INVALID_OPTION: ${field.replace('.', '\\.')}\\b`));
    }
    // Nothing of it was applied.
    expect((await jl.ledger.getJob(delayed[0]!)).status).toBe('delayed');
  });

  it('answers 404 for ids of the right shape that name nothing, and for unknown routes', async () => {
    for (const url of [`/api/jobs/${newId('job')}`, `/api/runs/${newId('run')}`, `/api/pipelines/${newId('pip')}`, '/api/nothing']) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(404);
      expect(body(response).code, url).toBe('JOBLEDGER_NOT_FOUND');
    }
    expect((await post(`/api/jobs/${newId('job')}/retry`, { reason: 'x' })).statusCode).toBe(404);
  });

  it('answers 401 without a token or with a wrong one, on every API route', async () => {
    const routes = ['/api/overview', '/api/jobs', `/api/jobs/${delayed[0]}`, '/api/runs', `/api/runs/${runId}`, '/api/pipelines', `/api/pipelines/${pipelineId}`, '/api/events', '/api/session'];
    for (const url of routes) {
      for (const headers of [{}, { authorization: 'Bearer wrong-secret-0123456789' }, { authorization: operatorSecret }] as Record<string, string>[]) {
        const response = await get(url, headers);
        expect(response.statusCode, url).toBe(401);
        expect(body(response).code).toBe('JOBLEDGER_UNAUTHORIZED');
      }
    }
    for (const url of [`/api/jobs/${delayed[0]}/retry`, `/api/jobs/${delayed[0]}/cancel`, '/api/jobs/bulk']) {
      expect((await post(url, { action: 'cancel', reason: 'x', ids: [delayed[0]] }, {})).statusCode, url).toBe(401);
    }
    expect((await jl.ledger.getJob(delayed[0]!)).status).toBe('delayed');
  });

  it('refuses a viewer every action with a 403, and changes nothing', async () => {
    for (const [url, payload] of [
      [`/api/jobs/${delayed[0]}/cancel`, { reason: 'x' }],
      [`/api/jobs/${delayed[0]}/retry`, { reason: 'x' }],
      ['/api/jobs/bulk', { action: 'cancel', reason: 'x', ids: [delayed[0]] }],
    ] as const) {
      const response = await post(url, payload, asViewer);
      expect(response.statusCode, url).toBe(403);
      expect(body(response).code).toBe('JOBLEDGER_FORBIDDEN');
    }
    expect((await jl.ledger.getJobDetail(delayed[0]!)).events.map((e) => e.type)).toEqual(['job.enqueued']);
  });

  it('records a cancel and a retry with the token\'s name as actor, and answers 409 for an action the status refuses', async () => {
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 3_600_000 });
    const cancelled = await post(`/api/jobs/${id}/cancel`, { reason: 'customer withdrew' });
    expect(cancelled.statusCode).toBe(200);
    expect(body(cancelled)).toEqual({ id, previousStatus: 'delayed', status: 'cancelled' });
    const again = await post(`/api/jobs/${id}/cancel`, { reason: 'twice' });
    expect(again.statusCode).toBe(409);
    expect(body(again).code).toBe('JOBLEDGER_ILLEGAL_TRANSITION');
    const retried = await post(`/api/jobs/${id}/retry`, { reason: 'customer came back' });
    expect(retried.statusCode).toBe(200);
    const { events } = await jl.ledger.getJobDetail(id);
    expect(events.map((e) => [e.type, e.actor])).toEqual([
      ['job.enqueued', expect.any(String)],
      ['job.cancelled', 'alice'],
      ['job.retried', 'alice'],
    ]);
    expect(events[1]!.payload).toMatchObject({ reason: 'customer withdrew' });
    expect(events[2]!.payload).toMatchObject({ reason: 'customer came back' });
    await jl.cancel({ jobId: id, reason: 'tidy up', actor: 'test' });
  });

  it('bulk-cancels every job matching a filter, bulk-retries listed ids, and reports the counts', async () => {
    const run = await jl.ledger.createRun({ name: 'bulk', actor: 'test' });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) ids.push((await jl.enqueue('test.scripted', { action: 'succeed', tag: i < 3 ? 'bulk-me' : 'keep' }, { delayMs: 3_600_000, runId: run.id })).id);
    const cancelled = await post('/api/jobs/bulk', { action: 'cancel', reason: 'bad batch', filter: { run: run.id, q: 'payload.tag=bulk-me' } });
    expect(cancelled.statusCode).toBe(200);
    expect(body(cancelled)).toMatchObject({ action: 'cancel', matched: 3, affected: 3, skipped: 0, truncated: false });
    const statuses = await Promise.all(ids.map(async (id) => (await jl.ledger.getJob(id)).status));
    expect(statuses).toEqual(['cancelled', 'cancelled', 'cancelled', 'delayed']);

    // A filter is narrowed to the statuses the action applies to: the delayed job is not retried.
    const retried = await post('/api/jobs/bulk', { action: 'retry', reason: 'batch fixed', ids: [ids[0], ids[3]] });
    expect(body(retried)).toMatchObject({ matched: 2, affected: 1, skipped: 1 });
    expect((body(retried).errors as { id: string; code: string }[])[0]).toMatchObject({ id: ids[3], code: 'JOBLEDGER_ILLEGAL_TRANSITION' });
    // A body's times may be JSON numbers (epoch milliseconds) as well as text.
    const none = await post('/api/jobs/bulk', { action: 'retry', reason: 'none of them', filter: { run: run.id, since: Date.now() + 3_600_000 } });
    expect(body(none)).toMatchObject({ matched: 0, affected: 0 });
    const byFilter = await post('/api/jobs/bulk', { action: 'retry', reason: 'all of them', filter: { run: run.id, since: 0 } });
    expect(body(byFilter)).toMatchObject({ matched: 2, affected: 2 });
    const actors = (await jl.ledger.listEvents({ type: ['job.cancelled', 'job.retried'], limit: 100 })).filter((e) => ids.includes(e.subjectId));
    expect(new Set(actors.map((e) => e.actor))).toEqual(new Set(['alice']));
    await post('/api/jobs/bulk', { action: 'cancel', reason: 'tidy up', filter: { run: run.id } });
  });

  it('opens a browser session by login: HttpOnly SameSite=Strict cookie, and actions need its CSRF token', async () => {
    const refused = await app.inject({ method: 'POST', url: '/api/session', payload: { secret: 'not-a-token-secret-000' } });
    expect(refused.statusCode).toBe(401);
    const login = await app.inject({ method: 'POST', url: '/api/session', payload: { secret: operatorSecret } });
    expect(login.statusCode).toBe(200);
    const setCookies = [login.headers['set-cookie']].flat() as string[];
    const session = setCookies.find((c) => c.startsWith('jl_session='))!;
    expect(session).toMatch(/HttpOnly/);
    expect(session).toMatch(/SameSite=Strict/);
    expect(session).toMatch(/Path=\//);
    const csrf = body(login).csrf as string;
    const cookieHeader = setCookies.map((c) => c.split(';')[0]).join('; ');

    expect((await app.inject({ method: 'GET', url: '/api/overview', headers: { cookie: cookieHeader } })).statusCode).toBe(200);
    const { id } = await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 3_600_000 });
    for (const headers of [{ cookie: cookieHeader }, { cookie: cookieHeader, 'x-jobledger-csrf': 'forged-token' }]) {
      const response = await app.inject({ method: 'POST', url: `/api/jobs/${id}/cancel`, headers, payload: { reason: 'x' } });
      expect(response.statusCode).toBe(403);
      expect(body(response).code).toBe('JOBLEDGER_CSRF');
    }
    expect((await jl.ledger.getJob(id)).status).toBe('delayed');
    const ok = await app.inject({ method: 'POST', url: `/api/jobs/${id}/cancel`, headers: { cookie: cookieHeader, 'x-jobledger-csrf': csrf }, payload: { reason: 'from the UI' } });
    expect(ok.statusCode).toBe(200);
    expect((await jl.ledger.getJobDetail(id)).events.at(-1)).toMatchObject({ type: 'job.cancelled', actor: 'alice' });

    const logout = await app.inject({ method: 'DELETE', url: '/api/session', headers: { cookie: cookieHeader, 'x-jobledger-csrf': csrf } });
    expect(logout.statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/api/overview', headers: { cookie: cookieHeader } })).statusCode).toBe(401);
  });

  it('sends security headers on pages, assets and API answers', async () => {
    for (const url of ['/', '/jobs', '/assets/app.js', '/api/overview']) {
      const response = await get(url);
      expect(response.statusCode, url).toBe(200);
      expect(response.headers['content-security-policy'], url).toMatch(/default-src 'self'/);
      expect(response.headers['content-security-policy'], url).toMatch(/frame-ancestors 'none'/);
      expect(response.headers['content-security-policy'], url).not.toMatch(/unsafe-inline/);
      expect(response.headers['x-frame-options'], url).toBe('DENY');
      expect(response.headers['x-content-type-options'], url).toBe('nosniff');
    }
    const page = (await get('/')).body;
    expect(page).not.toMatch(/<script>|<script [^>]*>[^<]/); // no inline script
    expect((await get('/assets/../package.json')).statusCode).toBe(404);
  });

  it('describes every API route in /api/openapi.json', async () => {
    const doc = body(await app.inject({ method: 'GET', url: '/api/openapi.json' })) as { openapi: string; paths: Record<string, Record<string, { parameters?: { name: string }[] }>> };
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/api/audit', '/api/events', '/api/jobs', '/api/jobs/bulk', '/api/jobs/{id}', '/api/jobs/{id}/cancel', '/api/jobs/{id}/lineage', '/api/jobs/{id}/retry', '/api/maintenance',
        '/api/overview', '/api/overview/activity', '/api/pipelines', '/api/pipelines/{id}', '/api/pipelines/{id}/cancel', '/api/pipelines/{id}/retry',
        '/api/replays', '/api/runs', '/api/runs/{id}', '/api/session', '/api/snapshots', '/api/snapshots/{id}/restore', '/api/state', '/api/state/{namespace}',
        '/api/state/{namespace}/entry',
      ].sort(),
    );
    expect(doc.paths['/api/jobs']!.get!.parameters!.map((p) => p.name)).toEqual(['status', 'name', 'queue', 'run', 'since', 'until', 'error', 'q', 'before', 'limit']);
    expect(Object.keys(doc.paths['/api/session']!).sort()).toEqual(['delete', 'get', 'post']);
    expect(doc.paths['/api/audit']!.get!.parameters!.map((p) => p.name)).toEqual(['actor', 'action', 'subject', 'source', 'since', 'until', 'after', 'limit']);
  });

  it('serves under a prefix inside another Fastify server, touching none of its routes', async () => {
    const host = Fastify();
    host.get('/health', () => ({ ok: true }));
    await host.register(jobLedgerConsole, { jl, tokens, prefix: '/ops' });
    try {
      const health = await host.inject({ method: 'GET', url: '/health' });
      expect(health.statusCode).toBe(200);
      expect(health.headers['content-security-policy']).toBeUndefined();
      expect((await host.inject({ method: 'GET', url: '/ops/api/overview' })).statusCode).toBe(401);
      expect((await host.inject({ method: 'GET', url: '/ops/api/overview', headers: asViewer })).statusCode).toBe(200);
      const page = await host.inject({ method: 'GET', url: '/ops/jobs' });
      expect(page.body).toContain('src="/ops/assets/app.js"');
      expect((await host.inject({ method: 'GET', url: '/ops/assets/app.js' })).statusCode).toBe(200);
      const doc = (await host.inject({ method: 'GET', url: '/ops/api/openapi.json' })).json<{ servers: { url: string }[]; paths: object }>();
      expect(doc.servers[0]!.url).toBe('/ops');
      expect(doc.paths).toHaveProperty(['/api/jobs']);
      expect((await host.inject({ method: 'GET', url: '/ops/api/jobs?limit=0', headers: asViewer })).json()).toMatchObject({ code: 'JOBLEDGER_INVALID_OPTION' });
    } finally {
      await host.close();
    }
  });

  it('without tokens: answers this host only, still asks for a CSRF token, and will not bind beyond loopback', async () => {
    const open = createConsole({ jl, tokens: [] });
    try {
      const session = await open.inject({ method: 'GET', url: '/api/session' });
      expect(session.statusCode).toBe(200);
      expect(body(session)).toMatchObject({ role: 'operator', via: 'open', open: true });
      const csrfCookie = ([session.headers['set-cookie']].flat() as string[]).find((c) => c.startsWith('jl_csrf='))!;
      const csrf = csrfCookie.split(';')[0]!.slice('jl_csrf='.length);

      expect((await open.inject({ method: 'GET', url: '/api/overview', headers: { host: 'evil.example' } })).statusCode).toBe(403);
      expect((await open.inject({ method: 'GET', url: '/api/overview', remoteAddress: '10.1.2.3' })).statusCode).toBe(403);

      const { id } = await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 3_600_000 });
      const noToken = await open.inject({ method: 'POST', url: `/api/jobs/${id}/cancel`, payload: { reason: 'x' } });
      expect(body(noToken).code).toBe('JOBLEDGER_CSRF');
      const withToken = await open.inject({ method: 'POST', url: `/api/jobs/${id}/cancel`, headers: { cookie: `jl_csrf=${csrf}`, 'x-jobledger-csrf': csrf }, payload: { reason: 'local' } });
      expect(withToken.statusCode).toBe(200);
    } finally {
      await open.close();
    }
    await expect(startConsole({ jl, tokens: [], host: '0.0.0.0', port: 0 })).rejects.toThrow(/--host: expected a loopback address/);
    const bound = await startConsole({ jl, tokens: [], host: '127.0.0.1', port: 0 });
    expect(bound.open).toBe(true);
    expect(bound.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await bound.close();
  });
});

describe('JOBLEDGER_CONSOLE_TOKENS', () => {
  it('parses name:role:secret entries and refuses malformed ones without echoing a secret', () => {
    expect(tokens.map((t) => [t.name, t.role])).toEqual([
      ['alice', 'operator'],
      ['victor', 'viewer'],
    ]);
    expect(parseConsoleTokens('')).toEqual([]);
    expect(parseConsoleTokens('a:viewer:with:colons-in-secret')[0]!.secret).toBe('with:colons-in-secret');
    for (const [raw, message] of [
      ['alice:operator', /expected name:role:secret/],
      ['alice:admin:0123456789abcdefgh', /role viewer or operator/],
      ['alice:viewer:short', /at least 16 characters/],
      ['a b:viewer:0123456789abcdefgh', /expected a name/],
      ['a:viewer:0123456789abcdefgh,a:viewer:0123456789abcdefgX', /used twice/],
      ['a:viewer:0123456789abcdefgh,b:viewer:0123456789abcdefgh', /also another token's/],
    ] as const) {
      expect(() => parseConsoleTokens(raw), raw).toThrow(message);
      try {
        parseConsoleTokens(raw);
      } catch (error) {
        expect(String(error)).not.toContain('0123456789abcdefgh');
      }
    }
  });
});
