/**
 * Changing keyed state. Every change is one conditional write on the entry (fenced on the version
 * it read, so a concurrent change is never overwritten unseen), one `state_transitions` row with
 * before and after, and one `state.*` event whose seq is the entry's version after the change, all
 * in the caller's transaction. A batch is applied inside one transaction, in key order: a conflict or
 * a missing entry anywhere rejects the whole batch.
 *
 * The rules live here once; the rows are written through a `StateRows`: the ORM's unit of work for
 * the StateStore (below), or raw statements inside an attempt outcome's transaction (state-outcome-writes.ts).
 * The StateStore's batches of distinct keys take the same rules set-based (state-batch-writes.ts).
 */
import type { EntityManager } from '@mikro-orm/core';
import { UniqueConstraintViolationException } from '../orm/mikro-orm.js';
import { NotFoundError, VersionConflictError } from '../../errors.js';
import { EventEntity, StateEntryEntity, StateTransitionEntity, type StateChange, type StateEntryRow, type StateTransitionRow } from '../entities/index.js';
import { newId } from '../ids.js';
import type { NewEvent } from '../jobs/events.js';
import { defaultStateStatus, stateSubjectId, type StateOp, type StateRef, type StateWriteContext } from './state-model.js';
import { readEntry } from './state-queries.js';
import { recordAudit, type AuditEntry, type FieldChanges } from '../audit/audit-writes.js';

/** An unconditional write re-reads and tries again this often when a concurrent writer got in first. */
const maxUnconditionalTries = 5;

/** The reads and writes one batch needs, all in one transaction. */
export interface StateRows {
  /** The entry as the database holds it now, soft-deleted or not, or null. */
  read(ref: StateRef): Promise<StateEntryRow | null>;
  /** Writes `next` where the entry is still at `current.version`; false (0 rows) when it moved. */
  update(current: StateEntryRow, next: StateEntryRow): Promise<boolean>;
  /** Inserts a new entry; false when an entry of that name exists already (a concurrent creator). */
  insert(entry: StateEntryRow): Promise<boolean>;
  /**
   * The highest version the key's events and transitions have used (0: none). A new entry starts
   * above it: an entry of that name removed by something other than this module (a retention job)
   * keeps its events and transitions, and the unique (subject, seq) must never be reused.
   */
  highestRecordedVersion(ref: StateRef): Promise<number>;
  /** Appends the change's transition row and its event. */
  record(transition: StateTransitionRow, event: NewEvent): Promise<void>;
}

/**
 * Applies validated operations (see `validateOp`) through the ORM, in order, and returns each entry
 * as it stands after its operation. Throws `VersionConflictError` or `NotFoundError` and leaves the
 * transaction to roll back: nothing of the batch is kept.
 */
export function applyStateOpsOrm(em: EntityManager, ops: readonly StateOp[], ctx: StateWriteContext): Promise<StateEntryRow[]> {
  return applyWith(ormStateRows(em, ctx), ops, ctx);
}

export async function applyWith(rows: StateRows, ops: readonly StateOp[], ctx: StateWriteContext): Promise<StateEntryRow[]> {
  // Rows are locked in one global order (namespace, key), so two concurrent batches touching the
  // same keys in opposite orders cannot deadlock on PostgreSQL. The sort is stable: two ops on one
  // key keep their given order. Results come back in the caller's order.
  const order = ops.map((op, index) => ({ op, index }));
  order.sort((a, b) => compareKeys(a.op, b.op) || a.index - b.index);
  const results = new Array<StateEntryRow>(ops.length);
  for (const { op, index } of order) results[index] = await applyOne(rows, op, ctx);
  return results;
}

function compareKeys(a: StateOp, b: StateOp): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return 0;
}

async function applyOne(rows: StateRows, op: StateOp, ctx: StateWriteContext): Promise<StateEntryRow> {
  for (let attempt = 1; ; attempt++) {
    const current = await rows.read(op);
    const live = current !== null && current.deletedAt === null;
    if ((op.op === 'status' || op.op === 'delete') && !live) throw new NotFoundError('state entry', stateSubjectId(op));
    checkExpectedVersion(op, current);

    const change = changeFor(op, current);
    const after = entryAfter(op, current, ctx, current ? 0 : await rows.highestRecordedVersion(op));
    const written = current ? await rows.update(current, after) : await rows.insert(after);
    if (!written) {
      // Someone changed (or created) the entry between our read and our write.
      if (op.expectedVersion !== undefined || attempt >= maxUnconditionalTries) {
        const actual = await rows.read(op);
        throw new VersionConflictError(stateSubjectId(op), op.expectedVersion ?? current?.version ?? 0, actual?.version ?? null);
      }
      continue;
    }
    await rows.record(...transitionFor(op, change, current, after, ctx));
    return after;
  }
}

/**
 * The entry as `op` leaves it: `current` changed at the next version, or a new entry above
 * `highestRecorded` (the highest version the key's events and transitions have used).
 */
export function entryAfter(op: StateOp, current: StateEntryRow | null, ctx: StateWriteContext, highestRecorded: number): StateEntryRow {
  const status = op.op === 'set' || op.op === 'status' ? (op.status ?? current?.status ?? defaultStateStatus) : (current?.status ?? defaultStateStatus);
  const data = op.op === 'set' || op.op === 'restore' ? op.data : (current?.data ?? null);
  const deletedAt = op.op === 'delete' ? ctx.now : null;
  if (current) return { ...pickEntry(current), status, data, deletedAt, version: current.version + 1, updatedAt: ctx.now };
  return { namespace: op.namespace, key: op.key, status, data, version: highestRecorded + 1, deletedAt: null, createdAt: ctx.now, updatedAt: ctx.now };
}

/** The entry's columns only, as a plain row. */
function pickEntry(entry: StateEntryRow): StateEntryRow {
  const { namespace, key, status, data, version, deletedAt, createdAt, updatedAt } = entry;
  return { namespace, key, status, data, version, deletedAt, createdAt, updatedAt };
}

export function checkExpectedVersion(op: StateOp, current: StateEntryRow | null): void {
  const expected = op.expectedVersion;
  if (expected === undefined) return;
  const matches = expected === 0 ? current === null || current.deletedAt !== null : current?.version === expected;
  if (!matches) throw new VersionConflictError(stateSubjectId(op), expected, current?.version ?? null);
}

export function changeFor(op: StateOp, current: StateEntryRow | null): StateChange {
  switch (op.op) {
    case 'set':
      return current === null ? 'created' : current.deletedAt !== null ? 'undeleted' : 'updated';
    case 'status':
      return 'status_changed';
    case 'delete':
      return 'deleted';
    case 'restore':
      return 'restored';
  }
}

export function transitionFor(
  op: StateOp,
  change: StateChange,
  before: StateEntryRow | null,
  after: StateEntryRow,
  ctx: StateWriteContext,
): [StateTransitionRow, NewEvent] {
  const id = newId('stt');
  const snapshotId = op.op === 'restore' ? op.snapshotId : null;
  const reason = op.reason ?? null;
  const jobId = ctx.jobId ?? null;
  const transition: StateTransitionRow = {
    id,
    namespace: after.namespace,
    key: after.key,
    change,
    versionBefore: before?.version ?? null,
    versionAfter: after.version,
    statusBefore: before?.status ?? null,
    statusAfter: after.status,
    dataBefore: before?.data ?? null,
    dataAfter: after.data,
    reason,
    actor: ctx.actor,
    jobId,
    snapshotId,
    createdAt: ctx.now,
  };
  const event: NewEvent = {
    subjectType: 'state',
    subjectId: stateSubjectId(after),
    seq: after.version,
    type: `state.${change}`,
    payload: {
      transitionId: id,
      versionBefore: before?.version ?? null,
      status: after.status,
      ...(before && before.status !== after.status ? { statusBefore: before.status } : {}),
      ...(reason !== null ? { reason } : {}),
      ...(jobId !== null ? { jobId } : {}),
      ...(snapshotId !== null ? { snapshotId } : {}),
    },
    actor: ctx.actor,
    createdAt: ctx.now,
  };
  return [transition, event];
}

/**
 * The unit of work's `StateRows`: entities through `em`, the version fence as a `nativeUpdate`.
 * With `ctx.source` (an operator's change through the StateStore), each change also gets its audit row.
 */
function ormStateRows(em: EntityManager, ctx: StateWriteContext): StateRows {
  return {
    read: (ref) => readEntry(em, ref),

    async update(current, next) {
      // The fenced UPDATE is the concurrency control: it changes 0 rows once the version moved.
      const changed = await em.nativeUpdate(
        StateEntryEntity,
        { namespace: current.namespace, key: current.key, version: current.version },
        { status: next.status, data: next.data, deletedAt: next.deletedAt, updatedAt: next.updatedAt, version: next.version },
      );
      return changed === 1;
    },

    async insert(entry) {
      // Earlier changes of the batch go out first, so that the savepoint below holds only this row.
      await em.flush();
      try {
        // A nested transaction is a savepoint: a concurrent creator's row fails this INSERT on the
        // unique key, and on PostgreSQL only the savepoint is rolled back, not the batch.
        await em.transactional((sub) => {
          sub.persist(sub.create(StateEntryEntity, entry));
          return Promise.resolve();
        });
        return true;
      } catch (error) {
        if (error instanceof UniqueConstraintViolationException) return false;
        throw error;
      }
    },

    async highestRecordedVersion(ref) {
      // Outside the identity map: only the number is wanted, not managed partial entities.
      const read = { disableIdentityMap: true, limit: 1 } as const;
      const [event] = await em.find(
        EventEntity,
        { subjectType: 'state', subjectId: stateSubjectId(ref) },
        { ...read, fields: ['seq'], orderBy: { seq: 'desc' } },
      );
      const [transition] = await em.find(
        StateTransitionEntity,
        { namespace: ref.namespace, key: ref.key },
        { ...read, fields: ['versionAfter'], orderBy: { versionAfter: 'desc' } },
      );
      return Math.max(event?.seq ?? 0, transition?.versionAfter ?? 0);
    },

    async record(transition, event) {
      em.persist(em.create(StateTransitionEntity, transition));
      em.persist(em.create(EventEntity, { id: newId('evt'), ...event, payload: event.payload ?? null }));
      if (ctx.source !== undefined) recordAudit(em, { actor: ctx.actor, source: ctx.source }, stateAuditEntry(transition));
      await em.flush();
    },
  };
}

/** What each kind of change is called in the audit log. */
const auditActions: Record<StateChange, string> = {
  created: 'state.set',
  updated: 'state.set',
  undeleted: 'state.restore',
  status_changed: 'state.status',
  deleted: 'state.delete',
  restored: 'snapshot.restore',
};

/** Data up to this size (as JSON) is shown before and after in the audit row; larger data is named by its transition. */
const maxAuditedDataChars = 4096;

/** A state change's audit row: the version, status and deletion it changed, and its data where small. */
export function stateAuditEntry(t: StateTransitionRow): AuditEntry {
  const deleted = t.change === 'deleted';
  const changes: FieldChanges = {
    version: { before: t.versionBefore, after: t.versionAfter },
    ...(t.statusBefore !== t.statusAfter ? { status: { before: t.statusBefore, after: t.statusAfter } } : {}),
    ...(deleted || t.change === 'undeleted' ? { deleted: { before: !deleted, after: deleted } } : {}),
  };
  const before = JSON.stringify(t.dataBefore ?? null);
  const after = JSON.stringify(t.dataAfter ?? null);
  if (before !== after) {
    const small = before.length <= maxAuditedDataChars && after.length <= maxAuditedDataChars;
    changes.data = small ? { before: t.dataBefore ?? null, after: t.dataAfter ?? null } : { before: { transition: t.id }, after: { transition: t.id } };
  }
  return {
    action: auditActions[t.change],
    subjectType: 'state',
    subjectId: `${t.namespace}/${t.key}`,
    reason: t.reason,
    changes,
    createdAt: t.createdAt,
  };
}
