/**
 * `maintenance_runs`: the claim that makes each scheduled tick of a task run once across every
 * process, and the record of what the run did. A claim is an `INSERT ... ON CONFLICT (task, tick) DO
 * NOTHING`: the process whose insert lands owns the tick, every other one finds the row and skips.
 * (The conflict clause is the unique violation without the exception, which on PostgreSQL would
 * abort the claiming transaction.) Every later write is conditional on the row still being
 * `running`, so a late finish after the row was declared abandoned changes nothing.
 */
import type { FilterQuery, FindOptions } from '@mikro-orm/core';
import { LockMode } from '../orm/mikro-orm.js';
import type { QueryResult } from '@mikro-orm/knex';
import { MaintenanceRunEntity, type MaintenanceRunRow, type MaintenanceRunStatus, type MaintenanceTrigger } from '../entities/index.js';
import { newId } from '../ids.js';
import { recordAudit, type AuditContext } from '../audit/audit-writes.js';
import type { Ledger } from '../ledger.js';
import { dialectOf } from '../engine/sql.js';
import type { LedgerEm } from '../orm/open-orm.js';
import { plainRow, plainRows } from '../orm/entity-rows.js';

/** Counts a task reports, e.g. `{ jobs: 12, attempts: 30 }`. */
export type MaintenanceCounts = Record<string, number>;

/** Why a tick has a `missed` row. */
export type MissedReason = 'not-run' | 'overlap';

export interface ClaimRequest {
  task: string;
  tick: number;
  triggeredBy: MaintenanceTrigger;
  /** Claim the tick even while another run of the task is going (manual runs always may). */
  allowOverlap?: boolean;
  claimedBy: string;
  now: number;
  /** A `running` row whose heartbeat is older than this is declared abandoned before claiming. */
  staleAfterMs: number;
  /**
   * Older ticks to record as `missed` in the same transaction (the run-once catch-up: the newest
   * missed tick runs, the others are recorded, atomically, so a second process sees all of them).
   */
  missed?: MissedTicks;
  /** A manual run asked for by an operator: its audit row, written with the claim. */
  audit?: AuditContext;
}

export interface MissedTicks {
  ticks: readonly number[];
  reason: MissedReason;
  /** Missed ticks beyond the cap that get no row of their own; noted on the oldest recorded one. */
  omitted?: { count: number; fromTick: number; untilTick: number };
}

export type ClaimResult =
  | { kind: 'claimed'; run: MaintenanceRunRow; missedRecorded: number }
  /** Another process already holds (or recorded) this tick. */
  | { kind: 'taken'; run: MaintenanceRunRow | null }
  /** Another run of the task is still going: this tick was recorded `missed` (reason `overlap`). */
  | { kind: 'overlap'; running: MaintenanceRunRow; recorded: boolean };

/** Claims (task, tick) for this process, or says who has it. */
export function claimTick(ledger: Ledger, request: ClaimRequest): Promise<ClaimResult> {
  const { task, tick, triggeredBy, claimedBy, now } = request;
  // Made once, so that a try run again after its COMMIT was cut off finds its own row (below).
  const id = newId('mnt');
  const auditId = newId('aud');
  return ledger.unitOfWork(async (em) => {
    await abandonStale(em, { task, now, staleAfterMs: request.staleAfterMs });
    // Operators may run a task by hand while a scheduled run is going; scheduled ticks may not.
    if (triggeredBy !== 'manual' && !request.allowOverlap) {
      const live = await em.findOne(MaintenanceRunEntity, {
        task,
        status: 'running',
        heartbeatAt: { $gte: now - request.staleAfterMs },
        tick: { $ne: tick },
      });
      if (live) {
        const recorded = await insertMissed(em, { task, claimedBy, now, ticks: [tick], reason: 'overlap', runningId: live.id });
        return { kind: 'overlap', running: plainRow(MaintenanceRunEntity, live), recorded: recorded > 0 } as const;
      }
    }
    const landed = await insertIfNew(em, {
      id, task, tick, status: 'running', triggeredBy, claimedBy, startedAt: now, heartbeatAt: now,
      finishedAt: null, durationMs: null, counts: null, error: null,
    });
    const row = await em.findOne(MaintenanceRunEntity, { task, tick });
    if (!landed) {
      // An earlier try of this very claim landed, its answer lost with its connection.
      if (row?.id === id) return { kind: 'claimed', run: plainRow(MaintenanceRunEntity, row), missedRecorded: 0 } as const;
      return { kind: 'taken', run: row ? plainRow(MaintenanceRunEntity, row) : null } as const;
    }
    const missedRecorded = request.missed ? await insertMissed(em, { task, claimedBy, now, ...request.missed }) : 0;
    // Only where this claim landed: a try run again after its COMMIT was cut off adds no second row.
    if (request.audit) {
      recordAudit(em, request.audit, {
        id: auditId,
        action: 'maintenance.run',
        subjectType: 'maintenance',
        subjectId: task,
        reason: null,
        changes: { maintenanceRun: { before: null, after: id } },
        createdAt: now,
      });
    }
    return { kind: 'claimed', run: plainRow(MaintenanceRunEntity, row!), missedRecorded } as const;
  }, idempotent);
}

/**
 * Inserts the row unless (task, tick) has one: `INSERT ... ON CONFLICT (task, tick) DO NOTHING`,
 * through the QueryBuilder. Not `em.persist`: its unit of work would meet the unique violation as an
 * error, which on PostgreSQL aborts the claiming transaction. True when this insert landed.
 */
async function insertIfNew(em: LedgerEm, row: MaintenanceRunRow): Promise<boolean> {
  const result = await em.createQueryBuilder(MaintenanceRunEntity).insert(row).onConflict(['task', 'tick']).ignore().execute<QueryResult>('run');
  return result.affectedRows > 0;
}

/**
 * The writes of this module change nothing when run again after they landed (conditional updates,
 * inserts that skip rows already there, the claim that finds its own row): a COMMIT cut off with
 * its connection runs them again (store/orm/orm-transaction.ts) instead of leaving a run `running`
 * until it is declared abandoned, which would hold up the task's next ticks.
 */
const idempotent = { idempotent: true } as const;

/** Records ticks nobody ran as `missed` (one row each); ticks that have a row already are left alone. */
export function recordMissedTicks(ledger: Ledger, input: MissedTicks & { task: string; claimedBy: string; now: number }): Promise<number> {
  if (input.ticks.length === 0) return Promise.resolve(0);
  return ledger.unitOfWork((em) => insertMissed(em, input), idempotent);
}

export interface FinishRequest {
  id: string;
  status: Extract<MaintenanceRunStatus, 'succeeded' | 'failed'>;
  counts: MaintenanceCounts;
  error?: unknown;
  now: number;
}

/** Records a run's outcome. False when the row was no longer `running` (declared abandoned meanwhile). */
export function finishRun(ledger: Ledger, request: FinishRequest): Promise<boolean> {
  return ledger.unitOfWork(async (em) => {
    const [run] = await findRunning(em, { id: request.id });
    if (!run) return false;
    em.assign(run, {
      status: request.status,
      finishedAt: request.now,
      heartbeatAt: request.now,
      durationMs: run.startedAt === null ? null : request.now - run.startedAt,
      counts: request.counts,
      error: request.error ?? null,
    });
    return true;
  }, idempotent);
}

/** Keeps a running claim alive. False when the row is no longer `running`. */
export function heartbeatRun(ledger: Ledger, id: string, now: number): Promise<boolean> {
  return ledger.unitOfWork(async (em) => (await em.nativeUpdate(MaintenanceRunEntity, { id, status: 'running' }, { heartbeatAt: now })) > 0, idempotent);
}

/**
 * A process that died mid-run leaves its row `running` with a heartbeat that stops moving. Once the
 * heartbeat is older than `staleAfterMs` the run is declared `failed` (error `abandoned`), so it
 * shows in the status and no longer blocks the task's next ticks. Done before every claim and by
 * `status()`; returns the rows it declared.
 */
export function abandonStaleRuns(ledger: Ledger, input: { task?: string; now: number; staleAfterMs: number }): Promise<MaintenanceRunRow[]> {
  return ledger.unitOfWork(async (em) => plainRows(MaintenanceRunEntity, await abandonStale(em, input)), idempotent);
}

/**
 * `running` rows matching `where`. On PostgreSQL they stay locked until COMMIT, and a row another
 * transaction finished or abandoned meanwhile is not returned (the lock waits, then the condition is
 * checked again): a change made to what this returns is conditional on the row still being `running`,
 * as an `UPDATE ... WHERE status = 'running'` is. SQLite's write lock, taken first, serialises them.
 */
function findRunning(em: LedgerEm, where: FilterQuery<MaintenanceRunRow>): Promise<MaintenanceRunRow[]> {
  const lock: FindOptions<MaintenanceRunRow> = dialectOf(em) === 'postgresql' ? { lockMode: LockMode.PESSIMISTIC_WRITE } : {};
  return em.find(MaintenanceRunEntity, { $and: [where, { status: 'running' }] }, lock);
}

async function abandonStale(em: LedgerEm, input: { task?: string; now: number; staleAfterMs: number }): Promise<MaintenanceRunRow[]> {
  const staleBefore = input.now - input.staleAfterMs;
  const error = {
    name: 'AbandonedRun',
    code: 'abandoned',
    message: `no heartbeat for over ${input.staleAfterMs} ms: the claiming process died or hung mid-run`,
  };
  const stale = await findRunning(em, { heartbeatAt: { $lt: staleBefore }, ...(input.task === undefined ? {} : { task: input.task }) });
  for (const run of stale) {
    em.assign(run, { status: 'failed', finishedAt: input.now, durationMs: run.startedAt === null ? null : input.now - run.startedAt, error });
  }
  await em.flush();
  return stale;
}

async function insertMissed(
  em: LedgerEm,
  input: MissedTicks & { task: string; claimedBy: string; now: number; runningId?: string },
): Promise<number> {
  const oldest = Math.min(...input.ticks);
  let inserted = 0;
  for (const tick of input.ticks) {
    const error = {
      name: 'MissedTick',
      code: input.reason,
      message:
        input.reason === 'overlap'
          ? `the tick came due while run ${input.runningId ?? '(unknown)'} of the task was still going`
          : 'no process ran this tick (none was running, or all were blocked)',
    };
    const counts =
      input.omitted && tick === oldest
        ? { omittedMissedTicks: input.omitted.count, omittedFromTick: input.omitted.fromTick, omittedUntilTick: input.omitted.untilTick }
        : null;
    const landed = await insertIfNew(em, {
      id: newId('mnt'), task: input.task, tick, status: 'missed', triggeredBy: 'schedule', claimedBy: input.claimedBy,
      startedAt: null, heartbeatAt: null, finishedAt: input.now, durationMs: null, counts, error,
    });
    if (landed) inserted++;
  }
  return inserted;
}

/**
 * The oldest and the newest tick (before `before`) of the task's rows that the schedule produced
 * (claimed, missed or caught up; not manual runs), or null when there is none.
 */
export async function scheduledTickRange(
  ledger: Ledger,
  task: string,
  before = Number.MAX_SAFE_INTEGER,
): Promise<{ first: number; last: number } | null> {
  return ledger.readEntities(async (em) => {
    const where = { task, triggeredBy: { $ne: 'manual' as const }, tick: { $lt: before } };
    const first = await em.findOne(MaintenanceRunEntity, where, { fields: ['tick'], orderBy: { tick: 'asc' } });
    const last = await em.findOne(MaintenanceRunEntity, where, { fields: ['tick'], orderBy: { tick: 'desc' } });
    return first && last ? { first: first.tick, last: last.tick } : null;
  });
}

/** Ticks of the task that have a row, between `from` and `to` inclusive. */
export async function recordedTicks(ledger: Ledger, task: string, from: number, to: number): Promise<Set<number>> {
  const rows = await ledger.readEntities((em) => em.find(MaintenanceRunEntity, { task, tick: { $gte: from, $lte: to } }, { fields: ['tick'] }));
  return new Set(rows.map((r) => r.tick));
}

/** The task's rows, newest tick first. */
export async function listMaintenanceRuns(ledger: Ledger, filter: { task?: string; status?: MaintenanceRunStatus; limit?: number } = {}): Promise<MaintenanceRunRow[]> {
  const where: FilterQuery<MaintenanceRunRow> = {
    ...(filter.task === undefined ? {} : { task: filter.task }),
    ...(filter.status === undefined ? {} : { status: filter.status }),
  };
  const rows = await ledger.readEntities((em) => em.find(MaintenanceRunEntity, where, { orderBy: { tick: 'desc', id: 'desc' }, limit: filter.limit ?? 100 }));
  return plainRows(MaintenanceRunEntity, rows);
}

/** The names of the tasks that have rows, in order (the (task, tick) unique index serves it). */
export async function recordedTaskNames(ledger: Ledger): Promise<string[]> {
  const rows = await ledger.readEntities((em) => em.createQueryBuilder(MaintenanceRunEntity).select('task', true).orderBy({ task: 'asc' }).execute<{ task: string }[]>('all'));
  return rows.map((row) => row.task);
}

/** How many of a task's rows with this status have ticks at or after `sinceTick` (the (task, tick) unique index bounds it). */
export function countMaintenanceRuns(ledger: Ledger, filter: { task: string; status: MaintenanceRunStatus; sinceTick: number }): Promise<number> {
  return ledger.readEntities((em) => em.count(MaintenanceRunEntity, { task: filter.task, status: filter.status, tick: { $gte: filter.sinceTick } }));
}
