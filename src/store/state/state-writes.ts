/**
 * Changing keyed state. Every change is one conditional write on the entry (fenced on the version
 * it read, so a concurrent change is never overwritten unseen), one `state_transitions` row with
 * before and after, and one `state.*` event whose seq is the entry's version after the change, all
 * in the caller's transaction. A batch is applied inside one transaction, in key order: a conflict or a
 * missing entry anywhere rejects the whole batch.
 */
import { NotFoundError, VersionConflictError } from '../../errors.js';
import type { StateChange, StateEntryRow } from '../entities/index.js';
import { appendEvents } from '../jobs/events.js';
import { newId } from '../ids.js';
import { encodeJson, toNumber, type Sql } from '../engine/sql.js';
import { defaultStateStatus, stateSubjectId, type StateOp, type StateRef, type StateWriteContext } from './state-model.js';
import { readEntry } from './state-queries.js';
import { toStateEntryRow } from './state-rows.js';

/** An unconditional write re-reads and tries again this often when a concurrent writer got in first. */
const maxUnconditionalTries = 5;

/**
 * Applies validated operations (see `validateOp`) in order and returns each entry as it stands after
 * its operation. Throws `VersionConflictError` or `NotFoundError` and leaves the transaction to roll
 * back: nothing of the batch is kept.
 */
export async function applyStateOps(tx: Sql, ops: readonly StateOp[], ctx: StateWriteContext): Promise<StateEntryRow[]> {
  // Rows are locked in one global order (namespace, key), so two concurrent batches touching the
  // same keys in opposite orders cannot deadlock on PostgreSQL. The sort is stable: two ops on one
  // key keep their given order. Results come back in the caller's order.
  const order = ops.map((op, index) => ({ op, index }));
  order.sort((a, b) => compareKeys(a.op, b.op) || a.index - b.index);
  const results = new Array<StateEntryRow>(ops.length);
  for (const { op, index } of order) results[index] = await applyOne(tx, op, ctx);
  return results;
}

function compareKeys(a: StateOp, b: StateOp): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  if (a.key !== b.key) return a.key < b.key ? -1 : 1;
  return 0;
}

async function applyOne(tx: Sql, op: StateOp, ctx: StateWriteContext): Promise<StateEntryRow> {
  for (let attempt = 1; ; attempt++) {
    const current = await readEntry(tx, op);
    const live = current !== null && current.deletedAt === null;
    if ((op.op === 'status' || op.op === 'delete') && !live) throw new NotFoundError('state entry', stateSubjectId(op));
    checkExpectedVersion(op, current);

    const change = changeFor(op, current);
    const next = {
      status: op.op === 'set' || op.op === 'status' ? (op.status ?? current?.status ?? defaultStateStatus) : (current?.status ?? defaultStateStatus),
      data: op.op === 'set' || op.op === 'restore' ? op.data : (current?.data ?? null),
      deletedAt: op.op === 'delete' ? ctx.now : null,
    };
    const after = current ? await updateEntry(tx, current, next, ctx.now) : await insertEntry(tx, op, next, ctx.now);
    if (!after) {
      // Someone changed (or created) the entry between our read and our write.
      if (op.expectedVersion !== undefined || attempt >= maxUnconditionalTries) {
        const actual = await readEntry(tx, op);
        throw new VersionConflictError(stateSubjectId(op), op.expectedVersion ?? current?.version ?? 0, actual?.version ?? null);
      }
      continue;
    }
    await recordTransition(tx, op, change, current, after, ctx);
    return after;
  }
}

function checkExpectedVersion(op: StateOp, current: StateEntryRow | null): void {
  const expected = op.expectedVersion;
  if (expected === undefined) return;
  const matches = expected === 0 ? current === null || current.deletedAt !== null : current?.version === expected;
  if (!matches) throw new VersionConflictError(stateSubjectId(op), expected, current?.version ?? null);
}

function changeFor(op: StateOp, current: StateEntryRow | null): StateChange {
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

interface NextValues {
  status: string;
  data: unknown;
  deletedAt: number | null;
}

async function updateEntry(tx: Sql, current: StateEntryRow, next: NextValues, now: number): Promise<StateEntryRow | null> {
  const [updated] = await tx.all(
    `UPDATE state_entries SET status = ?, data = ?, deleted_at = ?, updated_at = ?, version = version + 1
     WHERE namespace = ? AND key = ? AND version = ? RETURNING *`,
    [next.status, encodeJson(next.data), next.deletedAt, now, current.namespace, current.key, current.version],
  );
  return updated ? toStateEntryRow(tx.dialect, updated) : null;
}

async function insertEntry(tx: Sql, ref: StateRef, next: NextValues, now: number): Promise<StateEntryRow | null> {
  const version = (await highestRecordedVersion(tx, ref)) + 1;
  const [inserted] = await tx.all(
    `INSERT INTO state_entries (namespace, key, status, data, version, deleted_at, created_at, updated_at)
     VALUES (?, ?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (namespace, key) DO NOTHING RETURNING *`,
    [ref.namespace, ref.key, next.status, encodeJson(next.data), version, now, now],
  );
  return inserted ? toStateEntryRow(tx.dialect, inserted) : null;
}

/**
 * A new entry starts at version 1, unless an entry of that name existed before and was removed by
 * something other than this module (a retention job): its events and transitions keep their
 * versions, and the unique (subject, seq) must never be reused.
 */
async function highestRecordedVersion(tx: Sql, ref: StateRef): Promise<number> {
  const [row] = await tx.all(
    `SELECT (SELECT MAX(seq) FROM events WHERE subject_type = 'state' AND subject_id = ?) AS seq,
            (SELECT MAX(version_after) FROM state_transitions WHERE namespace = ? AND key = ?) AS version`,
    [stateSubjectId(ref), ref.namespace, ref.key],
  );
  return Math.max(toNumber(row?.seq ?? 0), toNumber(row?.version ?? 0));
}

async function recordTransition(
  tx: Sql,
  op: StateOp,
  change: StateChange,
  before: StateEntryRow | null,
  after: StateEntryRow,
  ctx: StateWriteContext,
): Promise<void> {
  const id = newId('stt');
  const snapshotId = op.op === 'restore' ? op.snapshotId : null;
  const reason = op.reason ?? null;
  const jobId = ctx.jobId ?? null;
  await tx.run(
    `INSERT INTO state_transitions (id, namespace, key, change, version_before, version_after, status_before, status_after,
       data_before, data_after, reason, actor, job_id, snapshot_id, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      id,
      after.namespace,
      after.key,
      change,
      before?.version ?? null,
      after.version,
      before?.status ?? null,
      after.status,
      encodeJson(before?.data ?? null),
      encodeJson(after.data),
      reason,
      ctx.actor,
      jobId,
      snapshotId,
      ctx.now,
    ],
  );
  await appendEvents(tx, [
    {
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
    },
  ]);
}
