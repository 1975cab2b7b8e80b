/**
 * The store's functions and the entity schemas read and write the same rows: a row written through
 * the store reads back identically through the entity (`em.findOneOrFail` on a fresh fork), and an
 * entity persisted by the ORM reads back identically through the store's read functions, for runs,
 * maintenance runs and pipelines (live and archived), on both dialects. Pipelines include the two
 * statements the attempt outcome runs below the ORM (`lockPipeline`, `recordPipelineStep`).
 */
import type { EntitySchema } from '@mikro-orm/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  MaintenanceRunEntity, PipelineEntity, PipelineHistoryEntity, RunEntity,
  type MaintenanceRunRow, type PipelineHistoryRow, type PipelineRow, type RunRow,
} from '../src/store/entities/index.js';
import { newId } from '../src/store/ids.js';
import type { Ledger } from '../src/store/ledger.js';
import { claimTick, finishRun, listMaintenanceRuns, recordedTicks } from '../src/store/maintenance/maintenance-runs.js';
import { archiveFinishedPipelines } from '../src/store/pipelines/pipeline-archive.js';
import { findPipelines, getPipeline, listPipelineHistory, listPipelines } from '../src/store/pipelines/pipeline-queries.js';
import { insertPipeline, lockPipeline, recordPipelineStep } from '../src/store/pipelines/pipeline-writes.js';
import { backends } from './support/backends.js';
import { openTestLedger } from './support/ledger.js';

/** The schema's properties of a loaded entity, as a plain object. */
function fieldsOf<T extends object>(schema: EntitySchema<T>, entity: T): Record<string, unknown> {
  return Object.fromEntries(Object.keys(schema.meta.properties).map((p) => [p, (entity as Record<string, unknown>)[p]]));
}

/** What a fresh fork loads for `id`, through the entity alone. */
async function throughEntity<T extends object>(ledger: Ledger, schema: EntitySchema<T>, id: string): Promise<Record<string, unknown>> {
  const em = ledger.orm.em.fork();
  return fieldsOf(schema, await em.findOneOrFail(schema, { id } as never));
}

/** Persists `row` through the ORM's unit of work on a fresh fork. */
async function persist<T extends object>(ledger: Ledger, schema: EntitySchema<T>, row: T): Promise<void> {
  const em = ledger.orm.em.fork();
  em.create(schema, row as never);
  await em.flush();
}

/** JSON values that a mapper could get wrong: a string that reads as a number, nesting, unicode, null inside. */
const awkwardJson = { text: '123', list: [1, 'two', null, { deep: [true] }], unicode: 'ünï 🎉', empty: {} };

describe.each(backends)('the store and the entities agree on rows (%s)', (dialect) => {
  let ledger: Ledger | undefined;
  afterEach(async () => {
    await ledger?.close();
    ledger = undefined;
  });

  it('runs: written by the store, read by the entity; persisted by the ORM, read by the store', async () => {
    ledger = await openTestLedger(dialect);
    const created = await ledger.createRun({ name: 'contract', metadata: awkwardJson, actor: 'test' });
    expect(await throughEntity(ledger, RunEntity, created.id)).toStrictEqual(created);
    const changed = await ledger.setRunStatus({ runId: created.id, status: 'completed', reason: 'all done', actor: 'test' });
    expect(changed).toMatchObject({ status: 'completed', statusReason: 'all done', version: 2 });
    expect(await throughEntity(ledger, RunEntity, created.id)).toStrictEqual(changed);
    expect(await ledger.getRun(created.id)).toStrictEqual(changed);

    for (const metadata of ['123', 42, null, awkwardJson] as const) {
      const row: RunRow = {
        id: newId('run'), name: `persisted ${JSON.stringify(metadata)}`, status: 'failed', statusReason: 'because',
        metadata, createdAt: 1_700_000_000_123, updatedAt: 1_700_000_000_456, finishedAt: 1_700_000_000_789, version: 3,
      };
      await persist(ledger, RunEntity, row);
      expect(await ledger.getRun(row.id)).toStrictEqual(row);
      expect((await ledger.listRuns({ status: 'failed', limit: 100 })).find((r) => r.id === row.id)).toStrictEqual(row);
      expect(await ledger.existingRunIds([row.id, newId('run')])).toStrictEqual(new Set([row.id]));
    }
  });

  it('maintenance runs: claimed and finished by the store, read by the entity; persisted by the ORM, read by the store', async () => {
    ledger = await openTestLedger(dialect);
    const now = 1_700_000_000_000;
    const claim = await claimTick(ledger, {
      task: 'contract', tick: now - 60_000, triggeredBy: 'schedule', claimedBy: 'host:1:abc', now, staleAfterMs: 30_000,
      missed: { ticks: [now - 120_000], reason: 'not-run', omitted: { count: 5, fromTick: 1, untilTick: 2 } },
    });
    if (claim.kind !== 'claimed') throw new Error(`expected a claim, got ${claim.kind}`);
    expect(await throughEntity(ledger, MaintenanceRunEntity, claim.run.id)).toStrictEqual(claim.run);
    expect(await finishRun(ledger, { id: claim.run.id, status: 'succeeded', counts: { jobs: 3, attempts: 7 }, now: now + 1500 })).toBe(true);
    const [finished, missed] = await listMaintenanceRuns(ledger, { task: 'contract' });
    expect(finished).toMatchObject({ id: claim.run.id, status: 'succeeded', durationMs: 1500, counts: { jobs: 3, attempts: 7 }, error: null });
    expect(await throughEntity(ledger, MaintenanceRunEntity, claim.run.id)).toStrictEqual(finished);
    expect(missed).toMatchObject({ status: 'missed', counts: { omittedMissedTicks: 5, omittedFromTick: 1, omittedUntilTick: 2 } });
    expect(await throughEntity(ledger, MaintenanceRunEntity, missed!.id)).toStrictEqual(missed);

    const row: MaintenanceRunRow = {
      id: newId('mnt'), task: 'persisted', tick: now, status: 'running', triggeredBy: 'manual', claimedBy: 'host:2:def',
      startedAt: now, heartbeatAt: now, finishedAt: null, durationMs: null, counts: awkwardJson, error: { name: 'X', message: '123' },
    };
    await persist(ledger, MaintenanceRunEntity, row);
    expect(await listMaintenanceRuns(ledger, { task: 'persisted' })).toStrictEqual([row]);
    expect(await recordedTicks(ledger, 'persisted', now, now)).toStrictEqual(new Set([now]));
    // The store's conditional writes find a row the ORM wrote.
    expect(await finishRun(ledger, { id: row.id, status: 'failed', counts: {}, error: { name: 'E', message: 'm' }, now: now + 10 })).toBe(true);
    expect(await throughEntity(ledger, MaintenanceRunEntity, row.id)).toMatchObject({ status: 'failed', durationMs: 10, error: { name: 'E', message: 'm' } });
  });

  it('pipelines: inserted, stepped (below the ORM) and archived by the store, read by the entity', async () => {
    ledger = await openTestLedger(dialect);
    const id = newId('pip');
    const jobId = newId('job');
    const now = 1_700_000_000_000;
    const inserted = await ledger.unitOfWork((em) =>
      insertPipeline(em, { id, name: 'contract', runId: null, stage: 'build', jobId, context: awkwardJson, budgets: { review: 2 }, actor: 'test', now }),
    );
    expect(await throughEntity(ledger, PipelineEntity, id)).toStrictEqual(inserted);
    const stepped = await ledger.transaction(async (sql) => {
      const locked = await lockPipeline(sql, id);
      expect(locked).toStrictEqual(inserted);
      return recordPipelineStep(sql, locked!, {
        entry: { stage: 'build', jobId, outcome: 'completed', at: now + 5, next: 'merged', route: 'ok' },
        state: 'merged', status: 'succeeded', statusReason: null, context: { ...awkwardJson, built: true }, retries: { review: 0 },
        loops: 0, feedback: { fromStage: 'build', jobId, outcome: 'completed', message: 'fine', detail: { text: '123' } },
        currentJobId: null, event: { type: 'pipeline.succeeded', payload: { state: 'merged' } }, actor: 'test', now: now + 5,
      });
    });
    expect(stepped).toMatchObject({ state: 'merged', status: 'succeeded', version: 2, finishedAt: now + 5 });
    expect(await throughEntity(ledger, PipelineEntity, id)).toStrictEqual(stepped);
    expect(await ledger.readEntities((em) => listPipelines(em, { name: 'contract' }))).toStrictEqual([stepped]);

    expect(await archiveFinishedPipelines(ledger, { olderThanMs: 0, now: now + 100 })).toStrictEqual({ archived: 1 });
    const [archived] = await ledger.readEntities((em) => listPipelineHistory(em, { name: 'contract' }));
    expect(archived).toStrictEqual({
      id, name: 'contract', runId: null, finalState: 'merged', status: 'succeeded', statusReason: null, context: stepped.context,
      budgets: { review: 2 }, retries: { review: 0 }, totalLoops: 0, feedback: stepped.feedback, path: stepped.path,
      startedAt: now, completedAt: now + 5, durationMs: 5, archivedAt: now + 100,
    });
    expect(await throughEntity(ledger, PipelineHistoryEntity, id)).toStrictEqual(archived);
  });

  it('pipelines: persisted by the ORM, read by the store (and by the statements below the ORM)', async () => {
    ledger = await openTestLedger(dialect);
    const now = 1_700_000_000_000;
    const live: PipelineRow = {
      id: newId('pip'), name: 'persisted', runId: newId('run'), state: 'review', status: 'running', statusReason: null,
      context: awkwardJson, budgets: { review: 3 }, retries: { review: 1 }, loops: 1,
      feedback: { fromStage: 'review', jobId: newId('job'), outcome: 'failed', message: 'again', detail: '123' },
      path: [{ stage: 'build', jobId: newId('job'), outcome: 'completed', at: now, next: 'review' }],
      currentJobId: newId('job'), createdAt: now, updatedAt: now + 1, finishedAt: null, version: 4,
    };
    await persist(ledger, PipelineEntity, live);
    expect(await ledger.transaction((sql) => lockPipeline(sql, live.id))).toStrictEqual(live);
    expect(await ledger.readEntities((em) => listPipelines(em, { name: 'persisted' }))).toStrictEqual([live]);
    expect(await ledger.readEntities((em) => getPipeline(em, live.id))).toMatchObject({ id: live.id, context: awkwardJson, archived: false });

    const history: PipelineHistoryRow = {
      id: newId('pip'), name: 'persisted', runId: null, finalState: 'failed', status: 'failed', statusReason: 'budget',
      context: awkwardJson, budgets: { review: 3 }, retries: { review: 3 }, totalLoops: 3, feedback: null,
      path: [{ stage: 'review', jobId: newId('job'), outcome: 'failed', at: now, next: 'failed', route: 'x' }],
      startedAt: now, completedAt: now + 40 * 86_400_000, durationMs: 40 * 86_400_000, archivedAt: now + 41 * 86_400_000,
    };
    await persist(ledger, PipelineHistoryEntity, history);
    expect(await ledger.readEntities((em) => listPipelineHistory(em, { name: 'persisted' }))).toStrictEqual([history]);
    const found = await ledger.readEntities((em) => findPipelines(em, [history.id, live.id]));
    expect(found.map((p) => [p.id, p.archived])).toStrictEqual([[history.id, true], [live.id, false]]);
    expect(found[0]).toMatchObject({ state: 'failed', loops: 3, durationMs: history.durationMs, archivedAt: history.archivedAt });
  });
});
