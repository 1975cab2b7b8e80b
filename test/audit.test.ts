/**
 * The audit log, on both backends: every operator action (retry, cancel, bulk, state set / delete /
 * restore, snapshot restore, a manual maintenance run, a run status change) writes exactly one audit
 * row in its own transaction, with the actor, the source, the subject and what changed; a refused
 * action writes none. Read through the library (filters, keyset pages), the console's API and the
 * `jobledger audit` command; kept apart from job retention, with its own.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createConsole } from '../src/console/index.js';
import { parseConsoleTokens } from '../src/console-tokens.js';
import { IllegalTransitionError, InvalidOptionError, NotFoundError, VersionConflictError } from '../src/errors.js';
import { defineJob } from '../src/jobs/define-job.js';
import { definePipeline, stagePayloadSchema } from '../src/jobs/define-pipeline.js';
import type { JobLedger } from '../src/jobledger.js';
import type { AuditRow } from '../src/store/index.js';
import { pruneByRetention } from '../src/store/maintenance/prune.js';
import { scriptedJob } from './support/fixtures/scripted-job.js';
import { backends, freshDatabaseUrl } from './support/backends.js';
import { openTestJobLedger } from './support/harness.js';
import { testRedisUrl } from './support/services.js';
import { runNames } from './support/test-run.js';

const dayMs = 86_400_000;
const stageJob = defineJob({ name: 'test.audit-stage', schema: stagePayloadSchema(), handler: () => ({}) });
const pipeline = definePipeline({ name: 'test.audit-pipeline', stages: { only: { job: 'test.audit-stage' } } });

async function delayedJob(jl: JobLedger): Promise<string> {
  return (await jl.enqueue('test.scripted', { action: 'succeed' }, { delayMs: 3_600_000 })).id;
}

async function auditCount(jl: JobLedger): Promise<number> {
  const [row] = await jl.ledger.read((sql) => sql.all('SELECT COUNT(*) AS n FROM audit'));
  return Number(row?.n ?? 0);
}

async function backdate(jl: JobLedger, table: string, ids: readonly string[], at: number, column = 'created_at'): Promise<void> {
  await jl.ledger.transaction((sql) => sql.run(`UPDATE ${table} SET ${column} = ? WHERE id IN (${ids.map(() => '?').join(', ')})`, [at, ...ids]));
}

describe.each(backends)('audit log on %s', (dialect) => {
  it('writes one row per job retry and cancel, with actor, source, subject and the fields changed; a refused action writes none', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    try {
      const id = await delayedJob(jl);
      await jl.cancel({ jobId: id, reason: 'customer withdrew', actor: 'alice', source: 'cli' });
      const [cancel, ...others] = await jl.audit({ subject: id });
      expect(others).toEqual([]);
      expect(cancel).toMatchObject({ actor: 'alice', source: 'cli', action: 'job.cancel', subjectType: 'job', subjectId: id, reason: 'customer withdrew', bulkId: null, count: null });
      expect(cancel!.id).toMatch(/^aud_/);
      const changes = cancel!.changes as Record<string, { before: unknown; after: unknown }>;
      expect(changes.status).toEqual({ before: 'delayed', after: 'cancelled' });
      expect(changes.statusReason).toEqual({ before: null, after: 'customer withdrew' });
      expect(changes.finishedAt!.before).toBeNull();
      expect(typeof changes.finishedAt!.after).toBe('number');

      // Refused: a cancelled job cannot be cancelled again; a blank reason, an unknown source.
      await expect(jl.cancel({ jobId: id, reason: 'again', actor: 'alice' })).rejects.toBeInstanceOf(IllegalTransitionError);
      await expect(jl.retry({ jobId: id, reason: ' ', actor: 'alice' })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(jl.retry({ jobId: id, reason: 'x', actor: 'alice', source: 'web' as never })).rejects.toBeInstanceOf(InvalidOptionError);
      expect(await auditCount(jl)).toBe(1);

      await jl.retry({ jobId: id, reason: 'after all', actor: 'bob' });
      const [retry] = await jl.audit({ subject: id, action: 'job.retry' });
      expect(retry).toMatchObject({ actor: 'bob', source: 'library', action: 'job.retry', subjectId: id, reason: 'after all' });
      expect((retry!.changes as Record<string, unknown>).status).toEqual({ before: 'cancelled', after: 'pending' });
      expect(await auditCount(jl)).toBe(2);
    } finally {
      await jl.close();
    }
  });

  it('writes one row per run status change; an unknown run or status writes none', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    try {
      const run = await jl.ledger.createRun({ name: 'nightly', actor: 'test' });
      await jl.ledger.setRunStatus({ runId: run.id, status: 'completed', reason: 'all done', actor: 'carol', source: 'cli' });
      expect(await jl.audit({ subject: run.id })).toMatchObject([
        { actor: 'carol', source: 'cli', action: 'run.status', subjectType: 'run', reason: 'all done', changes: { status: { before: 'open', after: 'completed' }, statusReason: { before: null, after: 'all done' } } },
      ]);
      await expect(jl.ledger.setRunStatus({ runId: run.id, status: 'bogus' as never, actor: 'carol' })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(jl.ledger.setRunStatus({ runId: 'run_01JAAAAAAAAAAAAAAAAAAAAAAA', status: 'failed', actor: 'carol' })).rejects.toBeInstanceOf(NotFoundError);
      expect(await auditCount(jl)).toBe(1);
    } finally {
      await jl.close();
    }
  });

  it('writes one row per state set, status change, delete, undelete and snapshot restore; a conflict writes none', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    try {
      await jl.state.set('flags', 'checkout', { on: true }, { actor: 'dana', reason: 'launch' });
      await jl.state.set('flags', 'checkout', { on: false }, { actor: 'dana', source: 'api' });
      const snapshot = await jl.state.snapshot('flags', 'checkout', { actor: 'dana' });
      await jl.state.updateStatus('flags', 'checkout', 'frozen', { actor: 'dana' });
      await jl.state.delete('flags', 'checkout', { actor: 'dana', reason: 'retired' });
      await jl.state.set('flags', 'checkout', { on: true }, { actor: 'dana' });
      await jl.state.restoreSnapshot(snapshot.id, { actor: 'erin', source: 'cli', reason: 'roll back' });
      await expect(jl.state.set('flags', 'checkout', {}, { actor: 'dana', expectedVersion: 1 })).rejects.toBeInstanceOf(VersionConflictError);
      await expect(jl.state.delete('flags', 'nothing-here', { actor: 'dana' })).rejects.toBeInstanceOf(NotFoundError);

      const rows = (await jl.audit({ subject: 'flags/checkout' })).reverse();
      expect(rows.map((r) => [r.action, r.actor, r.source])).toEqual([
        ['state.set', 'dana', 'library'],
        ['state.set', 'dana', 'api'],
        ['state.status', 'dana', 'library'],
        ['state.delete', 'dana', 'library'],
        ['state.restore', 'dana', 'library'],
        ['snapshot.restore', 'erin', 'cli'],
      ]);
      expect(rows[0]!.changes).toEqual({ version: { before: null, after: 1 }, status: { before: null, after: 'active' }, data: { before: null, after: { on: true } } });
      expect(rows[0]!.reason).toBe('launch');
      expect(rows[1]!.changes).toEqual({ version: { before: 1, after: 2 }, data: { before: { on: true }, after: { on: false } } });
      expect(rows[2]!.changes).toEqual({ version: { before: 2, after: 3 }, status: { before: 'active', after: 'frozen' } });
      expect(rows[3]!.changes).toEqual({ version: { before: 3, after: 4 }, deleted: { before: false, after: true } });
      expect(rows[4]!.changes).toMatchObject({ deleted: { before: true, after: false } });
      expect(rows[5]!.changes).toEqual({ version: { before: 5, after: 6 }, data: { before: { on: true }, after: { on: false } } });
      expect(rows[5]!.reason).toContain(snapshot.id);
      expect(await auditCount(jl)).toBe(6);

      // A batch: one row per entry it changed.
      await jl.state.setMany([{ namespace: 'flags', key: 'a', data: 1 }, { namespace: 'flags', key: 'b', data: 2 }], { actor: 'dana' });
      expect(await auditCount(jl)).toBe(8);
    } finally {
      await jl.close();
    }
  });

  it('writes one row for a manual maintenance run, none for a dry run or an unknown task', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    try {
      await jl.maintenance.run('prune', { dryRun: true });
      await expect(jl.maintenance.run('no-such-task')).rejects.toBeInstanceOf(InvalidOptionError);
      expect(await auditCount(jl)).toBe(0);
      const result = await jl.maintenance.run('prune', { actor: 'frank', source: 'cli' });
      expect(result.outcome).toBe('succeeded');
      expect(await jl.audit({ action: 'maintenance.run' })).toMatchObject([
        { actor: 'frank', source: 'cli', subjectType: 'maintenance', subjectId: 'prune', changes: { maintenanceRun: { before: null, after: result.run!.id } } },
      ]);
    } finally {
      await jl.close();
    }
  });

  it('records a console bulk action as one summary row with its filter and count, and one row per job it changed; reads it back over the API', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [scriptedJob] });
    const tokens = parseConsoleTokens('alice:operator:alice-secret-0123456789,victor:viewer:victor-secret-0123456789');
    const app = createConsole({ jl, tokens });
    try {
      const ids = [await delayedJob(jl), await delayedJob(jl), await delayedJob(jl)];
      await jl.cancel({ jobId: ids[2]!, reason: 'earlier', actor: 'alice' });
      const response = await app.inject({
        method: 'POST',
        url: '/api/jobs/bulk',
        headers: { authorization: 'Bearer alice-secret-0123456789' },
        payload: { action: 'cancel', reason: 'bulk stop', ids },
      });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ affected: 2, skipped: 1 });

      const [bulk] = await jl.audit({ action: 'jobs.bulk_cancel' });
      expect(bulk).toMatchObject({ actor: 'alice', source: 'api', subjectType: 'jobs', subjectId: null, reason: 'bulk stop', count: 2, filter: { ids } });
      const perJob = await jl.audit({ action: 'job.cancel', actor: 'alice', source: 'api' });
      expect(perJob.map((r) => r.subjectId).sort()).toEqual(ids.slice(0, 2).sort());
      expect(perJob.every((r) => r.bulkId === bulk!.id)).toBe(true);
      expect(await auditCount(jl)).toBe(4); // the earlier cancel, two per-job rows, the summary

      // A viewer may read it, filtered, in keyset pages.
      const viewer = { authorization: 'Bearer victor-secret-0123456789' };
      const first = await app.inject({ method: 'GET', url: '/api/audit?limit=2&actor=alice', headers: viewer });
      expect(first.statusCode).toBe(200);
      const page1 = first.json<{ items: AuditRow[]; next: string | null }>();
      expect(page1.items).toHaveLength(2);
      expect(page1.next).toBe(page1.items[1]!.id);
      const second = await app.inject({ method: 'GET', url: `/api/audit?limit=2&actor=alice&after=${page1.next}`, headers: viewer });
      const page2 = second.json<{ items: AuditRow[]; next: string | null }>();
      expect([...page1.items, ...page2.items].map((r) => r.id)).toEqual((await jl.audit({ actor: 'alice' })).map((r) => r.id));
      const bySource = await app.inject({ method: 'GET', url: '/api/audit?action=jobs.bulk_cancel,job.retry&source=api', headers: viewer });
      expect(bySource.json<{ items: AuditRow[] }>().items.map((r) => r.id)).toEqual([bulk!.id]);
      for (const bad of ['limit=0', 'since=yesterday', 'source=web', 'after=evt_01JAAAAAAAAAAAAAAAAAAAAAAA']) {
        const refused = await app.inject({ method: 'GET', url: `/api/audit?${bad}`, headers: viewer });
        expect(refused.statusCode, bad).toBe(400);
      }
    } finally {
      await app.close();
      await jl.close();
    }
  });

  it('lists newest first with filters on actor, subject, action and time, in keyset pages', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [] });
    try {
      for (let i = 0; i < 5; i++) await jl.state.set('ns', `k${i}`, i, { actor: i % 2 ? 'odd' : 'even' });
      const all = await jl.audit();
      expect(all.map((r) => r.subjectId)).toEqual(['ns/k4', 'ns/k3', 'ns/k2', 'ns/k1', 'ns/k0']);
      expect((await jl.audit({ actor: 'odd' })).map((r) => r.subjectId)).toEqual(['ns/k3', 'ns/k1']);
      await backdate(jl, 'audit', [all[4]!.id], Date.now() - 2 * dayMs);
      expect((await jl.audit({ since: Date.now() - dayMs })).map((r) => r.subjectId)).toEqual(['ns/k4', 'ns/k3', 'ns/k2', 'ns/k1']);
      expect((await jl.audit({ until: Date.now() - dayMs })).map((r) => r.subjectId)).toEqual(['ns/k0']);
      const pages: string[] = [];
      let after: string | undefined;
      for (;;) {
        const page = await jl.audit({ limit: 2, ...(after ? { after } : {}) });
        pages.push(...page.map((r) => r.subjectId!));
        if (page.length < 2) break;
        after = page.at(-1)!.id;
      }
      expect(pages).toEqual(['ns/k4', 'ns/k3', 'ns/k2', 'ns/k1', 'ns/k0']);
      await expect(jl.audit({ limit: 0 })).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(jl.audit({ colour: 'red' } as never)).rejects.toBeInstanceOf(InvalidOptionError);
      await expect(jl.audit({ after: 'aud_01JAAAAAAAAAAAAAAAAAAAAAAA' })).rejects.toBeInstanceOf(NotFoundError);
    } finally {
      await jl.close();
    }
  });

  it('prune leaves audit rows to their own retention, and removes old run, pipeline and state events', async () => {
    const jl = await openTestJobLedger(dialect, { jobs: [stageJob], pipelines: [pipeline], env: { JOBLEDGER_RETENTION_DAYS: '30', JOBLEDGER_AUDIT_RETENTION_DAYS: '90' } });
    try {
      const longAgo = Date.now() - 40 * dayMs;
      const run = await jl.ledger.createRun({ name: 'old run', actor: 'test' });
      await jl.ledger.setRunStatus({ runId: run.id, status: 'completed', actor: 'test' });
      await backdate(jl, 'runs', [run.id], longAgo, 'finished_at');
      const liveRun = await jl.ledger.createRun({ name: 'open run', actor: 'test' });
      const oldPipeline = await jl.pipelines.start('test.audit-pipeline', { actor: 'test' });
      await jl.ledger.transaction((sql) => sql.run(`UPDATE pipelines SET status = 'failed', finished_at = ? WHERE id = ?`, [longAgo, oldPipeline.id]));
      const livePipeline = await jl.pipelines.start('test.audit-pipeline', { actor: 'test' });
      await jl.state.set('ns', 'old', 1, { actor: 'test' });
      await jl.state.set('ns', 'new', 1, { actor: 'test' });
      await jl.ledger.transaction((sql) => sql.run(`UPDATE events SET created_at = ? WHERE subject_type = 'state' AND subject_id = 'ns/old'`, [longAgo]));
      const audit = await jl.audit();
      // Audit rows past job retention, one past the audit retention too.
      await backdate(jl, 'audit', audit.map((r) => r.id), longAgo);
      await backdate(jl, 'audit', [audit[0]!.id], Date.now() - 100 * dayMs);

      const eventsOf = async (subjectId: string) => (await jl.ledger.listEvents({ subjectId })).length;
      const before = { run: await eventsOf(run.id), liveRun: await eventsOf(liveRun.id), pipeline: await eventsOf(oldPipeline.id), livePipeline: await eventsOf(livePipeline.id) };
      expect(before.run).toBe(2);
      expect(before.pipeline).toBeGreaterThan(0);

      // Job retention alone never touches the audit log.
      const jobsOnly = await pruneByRetention(jl.ledger, { policy: { defaultDays: 30 }, batchSize: 1 });
      expect(jobsOnly).toMatchObject({ runEvents: 2, pipelineEvents: before.pipeline, stateEvents: 1, audit: 0 });
      expect(await auditCount(jl)).toBe(audit.length);
      expect(await eventsOf(run.id)).toBe(0);
      expect(await eventsOf(oldPipeline.id)).toBe(0);
      expect(await eventsOf('ns/old')).toBe(0);
      expect({ liveRun: await eventsOf(liveRun.id), livePipeline: await eventsOf(livePipeline.id) }).toEqual({ liveRun: before.liveRun, livePipeline: before.livePipeline });
      expect(await eventsOf('ns/new')).toBe(1);
      expect((await jl.state.history('ns', 'old')).length).toBe(1); // the transition stays

      // The scheduled task, with JOBLEDGER_AUDIT_RETENTION_DAYS=90: only the row past 90 days goes.
      const dry = await jl.maintenance.run('prune', { dryRun: true });
      expect(dry.counts).toMatchObject({ audit: 1, runEvents: 0, stateEvents: 0 });
      const result = await jl.maintenance.run('prune', { actor: 'test' });
      expect(result.counts).toMatchObject({ audit: 1 });
      expect((await jl.audit({ limit: 1000 })).map((r) => r.id)).not.toContain(audit[0]!.id);
      expect(await auditCount(jl)).toBe(audit.length); // one gone, the run's own row added
      await expect(pruneByRetention(jl.ledger, { policy: { defaultDays: null, auditDays: -1 } })).rejects.toBeInstanceOf(InvalidOptionError);
    } finally {
      await jl.close();
    }
  });
});

describe.each(backends)('jobledger audit on %s', (dialect) => {
  const bin = fileURLToPath(new URL('../bin/jobledger.js', import.meta.url));
  const run = (args: string[], env: Record<string, string>) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, ...args], { env, timeout: 120_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      });
    });

  it('lists and filters the audit log, prints JSON, and refuses bad input in one line', async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      DATABASE_URL: await freshDatabaseUrl(dialect),
      REDIS_URL: await testRedisUrl(),
      JOBLEDGER_REDIS_PREFIX: `${runNames().redisPrefix}audit-${randomBytes(5).toString('hex')}`,
      LOG_LEVEL: 'silent',
    };
    expect((await run(['migrate'], env)).code).toBe(0);
    expect((await run(['state', 'set', 'ns', 'a', '--data', '1', '--actor', 'gina', '--reason', 'first'], env)).code).toBe(0);
    expect((await run(['state', 'set', 'ns', 'b', '--data', '2', '--actor', 'hank'], env)).code).toBe(0);

    const all = await run(['audit', '--json'], env);
    expect(all.code).toBe(0);
    const rows = JSON.parse(all.stdout) as AuditRow[];
    expect(rows.map((r) => [r.actor, r.source, r.action, r.subjectId])).toEqual([
      ['hank', 'cli', 'state.set', 'ns/b'],
      ['gina', 'cli', 'state.set', 'ns/a'],
    ]);
    const filtered = JSON.parse((await run(['audit', '--actor', 'gina', '--since', '1h', '--action', 'state.set', '--json'], env)).stdout) as AuditRow[];
    expect(filtered.map((r) => r.subjectId)).toEqual(['ns/a']);
    expect(JSON.parse((await run(['audit', '--subject', 'ns/b', '--json'], env)).stdout)).toHaveLength(1);
    expect(JSON.parse((await run(['audit', '--until', '1h', '--json'], env)).stdout)).toEqual([]);

    const table = await run(['audit'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('state.set');
    expect(table.stdout).toContain('gina');

    for (const bad of [['--since', 'yesterday'], ['--limit', '0'], ['--after', 'nope']]) {
      const refused = await run(['audit', ...bad], env);
      expect(refused.code, bad.join(' ')).not.toBe(0);
      expect(refused.stderr.trim().split('\n'), bad.join(' ')).toHaveLength(1);
    }
    // A dozen CLI processes, each opening the ledger: slow on a loaded machine.
  }, 240_000);
});
