/**
 * `maintenance_runs`: the claim that makes each scheduled tick of a task run once across every
 * process, and the record of what the run did. A claim is an `INSERT ... ON CONFLICT (task, tick) DO
 * NOTHING`: the process whose insert lands owns the tick, every other one finds the row and skips.
 * (The conflict clause is the unique violation without the exception, which on PostgreSQL would
 * abort the claiming transaction.) Every later write is conditional on the row still being
 * `running`, so a late finish after the row was declared abandoned changes nothing.
 */
import type { MaintenanceRunRow, MaintenanceRunStatus, MaintenanceTrigger } from '../entities/index.js';
import { newId } from '../ids.js';
import type { Ledger } from '../ledger.js';
import { decodeJson, encodeJson, placeholders, toNullableNumber, toNumber, type Row, type Sql } from '../engine/sql.js';

/** Counts a task reports, e.g. `{ jobs: 12, attempts: 30 }`. */
export type MaintenanceCounts = Record<string, number>;

/** Why a tick has a `missed` row. */
export type MissedReason = 'not-run' | 'overlap';

export interface ClaimRequest {
  task: string;
  tick: number;
  triggeredBy: MaintenanceTrigger;
  claimedBy: string;
  now: number;
  /** A `running` row whose heartbeat is older than this is declared abandoned before claiming. */
  staleAfterMs: number;
  /**
   * Older ticks to record as `missed` in the same transaction (the run-once catch-up: the newest
   * missed tick runs, the others are recorded, atomically, so a second process sees all of them).
   */
  missed?: MissedTicks;
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

const columns =
  'id, task, tick, status, triggered_by, claimed_by, started_at, heartbeat_at, finished_at, duration_ms, counts, error';

/** Claims (task, tick) for this process, or says who has it. */
export function claimTick(ledger: Ledger, request: ClaimRequest): Promise<ClaimResult> {
  const { task, tick, triggeredBy, claimedBy, now } = request;
  // Made once, so that a try run again after its COMMIT was cut off finds its own row (below).
  const id = newId('mnt');
  return ledger.transaction(async (tx) => {
    await abandonStale(tx, { task, now, staleAfterMs: request.staleAfterMs });
    // Operators may run a task by hand while a scheduled run is going; scheduled ticks may not.
    if (triggeredBy !== 'manual') {
      const [live] = await tx.all(
        `SELECT ${columns} FROM maintenance_runs WHERE task = ? AND status = 'running' AND heartbeat_at >= ? AND tick <> ? LIMIT 1`,
        [task, now - request.staleAfterMs, tick],
      );
      if (live) {
        const recorded = await insertMissed(tx, { task, claimedBy, now, ticks: [tick], reason: 'overlap', runningId: live.id as string });
        return { kind: 'overlap', running: toMaintenanceRunRow(tx.dialect, live), recorded: recorded > 0 } as const;
      }
    }
    const [inserted] = await tx.all(
      `INSERT INTO maintenance_runs (${columns}) VALUES (${placeholders(12)})
       ON CONFLICT (task, tick) DO NOTHING RETURNING ${columns}`,
      [id, task, tick, 'running', triggeredBy, claimedBy, now, now, null, null, null, null],
    );
    if (!inserted) {
      const [existing] = await tx.all(`SELECT ${columns} FROM maintenance_runs WHERE task = ? AND tick = ?`, [task, tick]);
      // An earlier try of this very claim landed, its answer lost with its connection.
      if (existing?.id === id) return { kind: 'claimed', run: toMaintenanceRunRow(tx.dialect, existing), missedRecorded: 0 } as const;
      return { kind: 'taken', run: existing ? toMaintenanceRunRow(tx.dialect, existing) : null } as const;
    }
    const missedRecorded = request.missed ? await insertMissed(tx, { task, claimedBy, now, ...request.missed }) : 0;
    return { kind: 'claimed', run: toMaintenanceRunRow(tx.dialect, inserted), missedRecorded } as const;
  }, idempotent);
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
  return ledger.transaction((tx) => insertMissed(tx, input), idempotent);
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
  return ledger.transaction(async (tx) => {
    const changed = await tx.run(
      `UPDATE maintenance_runs SET status = ?, finished_at = ?, heartbeat_at = ?, duration_ms = ? - started_at, counts = ?, error = ?
       WHERE id = ? AND status = 'running'`,
      [request.status, request.now, request.now, request.now, encodeJson(request.counts), encodeJson(request.error ?? null), request.id],
    );
    return changed > 0;
  }, idempotent);
}

/** Keeps a running claim alive. False when the row is no longer `running`. */
export function heartbeatRun(ledger: Ledger, id: string, now: number): Promise<boolean> {
  return ledger.transaction(
    async (tx) => (await tx.run(`UPDATE maintenance_runs SET heartbeat_at = ? WHERE id = ? AND status = 'running'`, [now, id])) > 0,
    idempotent,
  );
}

/**
 * A process that died mid-run leaves its row `running` with a heartbeat that stops moving. Once the
 * heartbeat is older than `staleAfterMs` the run is declared `failed` (error `abandoned`), so it
 * shows in the status and no longer blocks the task's next ticks. Done before every claim and by
 * `status()`; returns the rows it declared.
 */
export function abandonStaleRuns(ledger: Ledger, input: { task?: string; now: number; staleAfterMs: number }): Promise<MaintenanceRunRow[]> {
  return ledger.transaction((tx) => abandonStale(tx, input), idempotent);
}

async function abandonStale(tx: Sql, input: { task?: string; now: number; staleAfterMs: number }): Promise<MaintenanceRunRow[]> {
  const staleBefore = input.now - input.staleAfterMs;
  const error = {
    name: 'AbandonedRun',
    code: 'abandoned',
    message: `no heartbeat for over ${input.staleAfterMs} ms: the claiming process died or hung mid-run`,
  };
  const rows = await tx.all(
    `UPDATE maintenance_runs SET status = 'failed', finished_at = ?, duration_ms = ? - started_at, error = ?
     WHERE status = 'running' AND heartbeat_at < ?${input.task === undefined ? '' : ' AND task = ?'}
     RETURNING ${columns}`,
    [input.now, input.now, encodeJson(error), staleBefore, ...(input.task === undefined ? [] : [input.task])],
  );
  return rows.map((r) => toMaintenanceRunRow(tx.dialect, r));
}

async function insertMissed(
  tx: Sql,
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
    inserted += await tx.run(
      `INSERT INTO maintenance_runs (${columns}) VALUES (${placeholders(12)}) ON CONFLICT (task, tick) DO NOTHING`,
      [newId('mnt'), input.task, tick, 'missed', 'schedule', input.claimedBy, null, null, input.now, null, encodeJson(counts), encodeJson(error)],
    );
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
  const [row] = await ledger.read((sql) =>
    sql.all(`SELECT MIN(tick) AS first, MAX(tick) AS last FROM maintenance_runs WHERE task = ? AND triggered_by <> 'manual' AND tick < ?`, [
      task,
      before,
    ]),
  );
  const first = toNullableNumber(row?.first);
  const last = toNullableNumber(row?.last);
  return first === null || last === null ? null : { first, last };
}

/** Ticks of the task that have a row, between `from` and `to` inclusive. */
export async function recordedTicks(ledger: Ledger, task: string, from: number, to: number): Promise<Set<number>> {
  const rows = await ledger.read((sql) => sql.all(`SELECT tick FROM maintenance_runs WHERE task = ? AND tick >= ? AND tick <= ?`, [task, from, to]));
  return new Set(rows.map((r) => toNumber(r.tick)));
}

/** The task's rows, newest tick first. */
export async function listMaintenanceRuns(ledger: Ledger, filter: { task?: string; status?: MaintenanceRunStatus; limit?: number } = {}): Promise<MaintenanceRunRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (filter.task !== undefined) {
    where.push('task = ?');
    params.push(filter.task);
  }
  if (filter.status !== undefined) {
    where.push('status = ?');
    params.push(filter.status);
  }
  const rows = await ledger.read((sql) =>
    sql.all(
      `SELECT ${columns} FROM maintenance_runs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY tick DESC, id DESC LIMIT ?`,
      [...params, filter.limit ?? 100],
    ),
  );
  return rows.map((r) => toMaintenanceRunRow(ledger.dialect, r));
}

export function toMaintenanceRunRow(dialect: Sql['dialect'], r: Row): MaintenanceRunRow {
  return {
    id: r.id as string,
    task: r.task as string,
    tick: toNumber(r.tick),
    status: r.status as MaintenanceRunStatus,
    triggeredBy: r.triggered_by as MaintenanceTrigger,
    claimedBy: r.claimed_by as string,
    startedAt: toNullableNumber(r.started_at),
    heartbeatAt: toNullableNumber(r.heartbeat_at),
    finishedAt: toNullableNumber(r.finished_at),
    durationMs: toNullableNumber(r.duration_ms),
    counts: decodeJson(dialect, r.counts),
    error: decodeJson(dialect, r.error),
  };
}
