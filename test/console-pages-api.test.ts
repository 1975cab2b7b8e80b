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
import { recordMissedTicks } from '../src/store/index.js';
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

  describe('state', () => {
    it('lists namespaces, keys with value and version, a key\'s transitions with diffs and its snapshots', async () => {
      const ns = `pages-${dialect}`;
      await jl.state.set(ns, 'order/1', { total: 40, items: ['a'], customer: { plan: 'free' } }, { actor: 'api', reason: 'created' });
      await jl.state.set(ns, 'order/1', { total: 42, items: ['a', 'b'], customer: { plan: 'pro' } }, { actor: 'api', reason: 'upgrade' });
      await jl.state.set(ns, 'order/2', { total: 1 });
      const snapshot = await jl.state.snapshot(ns, 'order/1', { description: 'before the refund', actor: 'test' });

      const namespaces = body(await get('/api/state')) as { items: string[]; next: string | null };
      expect(namespaces.items).toContain(ns);
      const paged = body(await get(`/api/state?limit=1&after=${ns.slice(0, -1)}`)) as { items: string[] };
      expect(paged.items).toHaveLength(1);

      const keys = body(await get(`/api/state/${ns}`)) as { items: { key: string; version: number; data: unknown }[]; next: string | null };
      expect(keys.items.map((e) => [e.key, e.version])).toEqual([['order/1', 2], ['order/2', 1]]);
      expect(keys.items[0]!.data).toMatchObject({ total: 42 });
      expect(keys.next).toBeNull();
      expect((body(await get(`/api/state/${ns}?limit=1`)) as { next: string }).next).toBe('order/1');
      expect((body(await get(`/api/state/${ns}?after=order/1`)) as { items: { key: string }[] }).items.map((e) => e.key)).toEqual(['order/2']);
      expect((body(await get(`/api/state/${ns}?prefix=order/2`)) as { items: { key: string }[] }).items.map((e) => e.key)).toEqual(['order/2']);

      const detail = body(await get(`/api/state/${ns}/entry?key=${encodeURIComponent('order/1')}`)) as {
        entry: { version: number };
        transitions: { versionAfter: number; reason: string; diff: { changes: unknown[]; truncated: boolean } }[];
        snapshots: { id: string; checksum: string; intact: boolean; subjectVersion: number }[];
      };
      expect(detail.entry.version).toBe(2);
      expect(detail.transitions.map((t) => [t.versionAfter, t.reason])).toEqual([[2, 'upgrade'], [1, 'created']]);
      expect(detail.transitions[0]!.diff).toEqual({
        truncated: false,
        changes: [
          { path: '$.customer.plan', change: 'changed', before: 'free', after: 'pro' },
          { path: '$.items[1]', change: 'added', after: 'b' },
          { path: '$.total', change: 'changed', before: 40, after: 42 },
        ],
      });
      expect(detail.snapshots).toMatchObject([{ id: snapshot.id, checksum: snapshot.checksum, intact: true, subjectVersion: 2 }]);
      expect(detail.snapshots[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
      const all = body(await get(`/api/snapshots?namespace=${ns}&key=${encodeURIComponent('order/1')}`)) as { items: { id: string }[] };
      expect(all.items.map((x) => x.id)).toEqual([snapshot.id]);
      expect((body(await get('/api/snapshots')) as { items: { id: string }[] }).items.map((x) => x.id)).toContain(snapshot.id);
    });

    it('restores a snapshot as a new version with the token\'s name and the reason', async () => {
      const ns = `restore-${dialect}`;
      await jl.state.set(ns, 'k', { v: 1 });
      const snapshot = await jl.state.snapshot(ns, 'k');
      await jl.state.set(ns, 'k', { v: 2 });
      expect((await post(`/api/snapshots/${snapshot.id}/restore`, { reason: 'bad deploy' }, asViewer)).statusCode).toBe(403);
      const stale = await post(`/api/snapshots/${snapshot.id}/restore`, { reason: 'bad deploy', expectedVersion: 1 });
      expect(stale.statusCode).toBe(409);
      expect(body(stale).code).toBe('JOBLEDGER_VERSION_CONFLICT');
      const restored = await post(`/api/snapshots/${snapshot.id}/restore`, { reason: 'bad deploy', expectedVersion: 2 });
      expect(restored.statusCode).toBe(200);
      expect(body(restored)).toMatchObject({ entry: { namespace: ns, key: 'k', version: 3, data: { v: 1 } } });
      const [latest] = (body(await get(`/api/state/${ns}/entry?key=k`)) as { transitions: { change: string; actor: string; reason: string; snapshotId: string }[] }).transitions;
      expect(latest).toMatchObject({ change: 'restored', actor: 'olga', snapshotId: snapshot.id });
      expect(latest!.reason).toMatch(/^bad deploy \(restored from snapshot/);
      // A stored copy altered behind the ledger's back is refused, and shown as altered.
      await jl.ledger.transaction((tx) => tx.run('UPDATE snapshots SET data = ? WHERE id = ?', [JSON.stringify({ v: 666 }), snapshot.id]));
      expect((body(await get(`/api/snapshots?namespace=${ns}&key=k`)) as { items: { intact: boolean }[] }).items[0]!.intact).toBe(false);
      const altered = await post(`/api/snapshots/${snapshot.id}/restore`, { reason: 'again' });
      expect(altered.statusCode).toBe(409);
      expect(body(altered).code).toBe('JOBLEDGER_CHECKSUM_MISMATCH');
    });

    it('refuses bad parameters with a 400 naming the field, and unknown names with a 404', async () => {
      const cases: [string, string][] = [
        ['/api/state?limit=0', 'limit'],
        ['/api/state?after=-x', 'after'],
        ['/api/state?bogus=1', 'bogus'],
        ['/api/state/has%20space', 'namespace'],
        ['/api/state/ok?deleted=maybe', 'deleted'],
        ['/api/state/ok?limit=501', 'limit'],
        ['/api/state/ok/entry', 'key'],
        [`/api/state/ok/entry?key=${'k'.repeat(129)}`, 'key'],
        ['/api/snapshots?key=k', 'namespace'],
        ['/api/snapshots?limit=x', 'limit'],
      ];
      for (const [url, field] of cases) expectInvalid(await get(url), field, url);
      expectInvalid(await post(`/api/snapshots/${newId('snp')}/restore`, {}), 'reason', 'restore without reason');
      expectInvalid(await post(`/api/snapshots/${newId('snp')}/restore`, { reason: 'x', expectedVersion: -1 }), 'expectedVersion', 'negative version');
      expectInvalid(await post('/api/snapshots/snp_x/restore', { reason: 'x' }), 'id', 'bad snapshot id');
      for (const url of ['/api/state/nothing-here/entry?key=k']) {
        const response = await get(url);
        expect(response.statusCode, url).toBe(404);
        expect(body(response).code).toBe('JOBLEDGER_NOT_FOUND');
      }
      expect((body(await get('/api/state/nothing-here')) as { items: unknown[] }).items).toEqual([]);
      const missing = await post(`/api/snapshots/${newId('snp')}/restore`, { reason: 'x' });
      expect(missing.statusCode).toBe(404);
      expect((await post(`/api/snapshots/${newId('snp')}/restore`, { reason: 'x' }, asViewer)).statusCode).toBe(403);
    });
  });

  describe('maintenance', () => {
    it('lists each task with schedule, next tick, latest ticks with outcome, counts and duration, and missed ticks', async () => {
      await jl.maintenance.run('rotate-snapshots');
      const hour = 3_600_000;
      const tick = Math.floor(Date.now() / hour) * hour - 2 * hour;
      await recordMissedTicks(jl.ledger, { task: 'archive-pipelines', ticks: [tick, tick + hour / 2], reason: 'not-run', claimedBy: 'test', now: Date.now() });
      const answer = await get('/api/maintenance?ticks=5');
      expect(answer.statusCode).toBe(200);
      const { tasks } = body(answer) as {
        tasks: { task: string; schedule: string | null; nextRunAt: number | null; lastRun: { status: string } | null; runs: { status: string; tick: number; durationMs: number | null; counts: unknown; triggeredBy: string }[]; missedLastDay: number }[];
      };
      expect(tasks.map((t) => t.task).sort()).toEqual(['archive-pipelines', 'prune', 'reconcile', 'rotate-snapshots', 'search-index', 'sqlite-upkeep']);
      const rotate = tasks.find((t) => t.task === 'rotate-snapshots')!;
      expect(rotate.runs[0]).toMatchObject({ status: 'succeeded', triggeredBy: 'manual' });
      expect(typeof rotate.runs[0]!.durationMs).toBe('number');
      expect(rotate.runs[0]!.counts).toEqual(expect.any(Object));
      expect(rotate.lastRun).toMatchObject({ status: 'succeeded' });
      const archive = tasks.find((t) => t.task === 'archive-pipelines')!;
      expect(archive.runs.map((r) => [r.status, r.tick])).toEqual([['missed', tick + hour / 2], ['missed', tick]]);
      expect(archive.missedLastDay).toBe(2);
      for (const t of tasks) if (t.schedule !== null) expect(t.nextRunAt).toBeGreaterThan(Date.now() - 1000);

      expectInvalid(await get('/api/maintenance?ticks=0'), 'ticks', 'ticks=0');
      expectInvalid(await get('/api/maintenance?ticks=101'), 'ticks', 'ticks=101');
      expectInvalid(await get('/api/maintenance?task=prune'), 'task', 'unknown parameter');
      expect((await get('/api/maintenance', {})).statusCode).toBe(401);
    });
  });

  describe('overview activity', () => {
    it('counts completions, attempt failures and retries per minute over the last hour and per hour over the last day', async () => {
      const before = (await get('/api/overview/activity')).json<Activity>();
      expect(before.perMinute).toHaveLength(60);
      expect(before.perHour).toHaveLength(24);
      expect(before.perMinute.at(-1)!.at).toBe(Math.floor(before.at / 60_000) * 60_000);
      expect(before.perHour.at(-1)!.at).toBe(Math.floor(before.at / 3_600_000) * 3_600_000);

      // Events backdated into buckets of the last hour and of the last day (faked time: rows, not sleeps).
      const now = Date.now();
      const minute = Math.floor(now / 60_000) * 60_000;
      const hour = Math.floor(now / 3_600_000) * 3_600_000;
      const subject = newId('job');
      const rows: [string, number][] = [
        ['job.completed', minute - 5 * 60_000 + 1],
        ['job.completed', minute - 5 * 60_000 + 2],
        ['job.attempt_failed', minute - 5 * 60_000 + 3],
        ['job.retry_scheduled', minute - 5 * 60_000 + 4],
        ['job.completed', minute + 1],
        ['job.retried', minute + 2],
        ['job.started', minute + 3],
        ['job.completed', hour - 5 * 3_600_000 + 10],
        ['job.attempt_failed', hour - 5 * 3_600_000 + 11],
        ['job.completed', hour - 30 * 3_600_000],
      ];
      await jl.ledger.transaction(async (tx) => {
        let seq = 0;
        for (const [type, at] of rows) {
          await tx.run('INSERT INTO events (id, subject_type, subject_id, seq, type, payload, actor, created_at) VALUES (?, ?, ?, ?, ?, NULL, ?, ?)', [newId('evt'), 'job', subject, ++seq, type, 'test', at]);
        }
      });
      const after = (await get('/api/overview/activity')).json<Activity>();
      const delta = (list: Bucket[], old: Bucket[], at: number) => {
        const a = list.find((b) => b.at === at) ?? { completed: 0, failed: 0, retried: 0 };
        const o = old.find((b) => b.at === at) ?? { completed: 0, failed: 0, retried: 0 };
        return [a.completed - o.completed, a.failed - o.failed, a.retried - o.retried];
      };
      // The first read cached closed buckets: a closed minute already read does not change (rows
      // backdated into it are what a late reader would miss; the live minute and unread hours count them).
      expect(delta(after.perMinute, before.perMinute, minute)).toEqual([1, 0, 1]);
      expect(delta(after.perHour, before.perHour, hour)).toEqual([1, 0, 1]);

      // A console started now reads every bucket once.
      const fresh = createConsole({ jl, tokens });
      try {
        const all = (await fresh.inject({ method: 'GET', url: '/api/overview/activity', headers: asViewer })).json<Activity>();
        const zero = [] as Bucket[];
        const minus = (list: Bucket[], at: number) => delta(list, zero, at);
        expect(minus(all.perMinute, minute - 5 * 60_000)[0]).toBeGreaterThanOrEqual(2);
        expect(minus(all.perMinute, minute - 5 * 60_000)[1]).toBeGreaterThanOrEqual(1);
        const fiveHoursAgo = all.perHour.find((b) => b.at === hour - 5 * 3_600_000)!;
        expect(fiveHoursAgo.completed).toBeGreaterThanOrEqual(1);
        expect(fiveHoursAgo.failed).toBeGreaterThanOrEqual(1);
        // Older than a day: not in the window.
        expect(all.perHour[0]!.at).toBe(hour - 23 * 3_600_000);
      } finally {
        await fresh.close();
      }
      expectInvalid(await get('/api/overview/activity?x=1'), 'x', 'unknown parameter');
    });
  });
});

interface Bucket {
  at: number;
  completed: number;
  failed: number;
  retried: number;
}

interface Activity {
  perMinute: Bucket[];
  perHour: Bucket[];
  at: number;
}
