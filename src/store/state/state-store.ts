/**
 * Keyed, versioned state and its snapshots, for applications, operators and the CLI (`jl.state`).
 * Every input is validated before a transaction starts; every change commits together with its
 * transition row and its event, or not at all.
 */
import { BatchVersionConflictError, InvalidOptionError, type VersionConflict } from '../../errors.js';
import type { AuditSource, SnapshotRow, SnapshotSubjectType, StateEntryRow, StateTransitionRow } from '../entities/index.js';
import type { Ledger } from '../ledger.js';
import {
  getSnapshot,
  listSnapshots,
  restoreSnapshot,
  snapshotExpiry,
  snapshotState,
  type RestoreOptions,
  type SnapshotOptions,
} from './snapshots.js';
import { rotateSnapshots, type RotateSnapshotsOptions, type RotateSnapshotsResult } from './snapshot-rotation.js';
import {
  stateSubjectId,
  defaultStateLimits,
  validateActor,
  validateExpectedVersion,
  validateNamespace,
  validateOp,
  validateReason,
  validateRef,
  type ReadStateOptions,
  type SetStateOptions,
  type StateOp,
  type StateLimits,
  type StateRef,
  type StateWriteOptions,
} from './state-model.js';
import { findState, getState, getStates, listNamespaces, listState, stateHistory, type ListStateOptions, type StateHistoryOptions } from './state-queries.js';
import { applyStateOpsOrm } from './state-writes.js';
import { BatchRaceLost, applyStateBatchOrm, isSetBasedBatch } from './state-batch-writes.js';
import { stateRead, stateTransaction } from './state-em.js';
import { listSnapshotsSchema, parseQuery } from '../query-schemas.js';
import { textProblem } from '../json-value.js';
import { checkAuditSource } from '../audit/audit-writes.js';

/** One item of `setMany`. */
export interface StateSetItem extends StateRef, Omit<SetStateOptions, 'actor' | 'source'> {
  data: unknown;
}

/** One item of `deleteMany`. */
export interface StateDeleteItem extends StateRef, Omit<StateWriteOptions, 'actor' | 'source'> {}

export interface SnapshotListFilter {
  /** The snapshots of one state entry. */
  namespace?: string;
  key?: string;
  /** Or of any subject: `"state"` with `"namespace/key"`, `"pipeline"` with a pipeline id. */
  subjectType?: SnapshotSubjectType;
  subjectId?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
}

export class StateStore {
  /** `limits`: how deep state data may nest (Config.maxJsonDepth; default 64). */
  constructor(
    private readonly ledger: Ledger,
    private readonly limits: StateLimits = defaultStateLimits,
  ) {}

  /** The live entry; `NotFoundError` if there is none or it is soft-deleted (unless `includeDeleted`). */
  async get(namespace: string, key: string, options: ReadStateOptions = {}): Promise<StateEntryRow> {
    const ref = validateRef(namespace, key);
    return stateRead(this.ledger, (em) => getState(em, ref, options));
  }

  /** Like `get`, but null instead of `NotFoundError`. */
  async find(namespace: string, key: string, options: ReadStateOptions = {}): Promise<StateEntryRow | null> {
    const ref = validateRef(namespace, key);
    return stateRead(this.ledger, (em) => findState(em, ref, options));
  }

  /**
   * Creates or replaces an entry's data (and status, if given). Setting a soft-deleted entry brings
   * it back. With `expectedVersion`, fails with `VersionConflictError` unless the entry is at it.
   */
  async set(namespace: string, key: string, data: unknown, options: SetStateOptions = {}): Promise<StateEntryRow> {
    const [entry] = await this.apply([{ op: 'set', namespace, key, data, ...pick(options, 'status', 'expectedVersion', 'reason') }], options);
    return entry!;
  }

  /** Changes a live entry's status, keeping its data. */
  async updateStatus(namespace: string, key: string, status: string, options: StateWriteOptions = {}): Promise<StateEntryRow> {
    const [entry] = await this.apply([{ op: 'status', namespace, key, status, ...pick(options, 'expectedVersion', 'reason') }], options);
    return entry!;
  }

  /** Soft-deletes a live entry (its row, versions and history stay); `set` brings it back. */
  async delete(namespace: string, key: string, options: StateWriteOptions = {}): Promise<StateEntryRow> {
    const [entry] = await this.apply([{ op: 'delete', namespace, key, ...pick(options, 'expectedVersion', 'reason') }], options);
    return entry!;
  }

  /** Entries of one namespace in key order, optionally under a literal key prefix. */
  async list(namespace: string, options: ListStateOptions = {}): Promise<StateEntryRow[]> {
    validateNamespace(namespace);
    return stateRead(this.ledger, (em) => listState(em, namespace, options));
  }

  /** The transitions of one key, oldest first. */
  /** Namespaces holding entries, in order (`after`: the last one of the previous page; `limit` default 100, at most 1000). */
  async namespaces(options: { after?: string; limit?: number } = {}): Promise<string[]> {
    const limit = options.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new InvalidOptionError('limit', 'a whole number from 1 to 1000', limit);
    const after = options.after === undefined ? undefined : validateNamespace(options.after);
    return stateRead(this.ledger, (em) => listNamespaces(em, { ...(after !== undefined ? { afterNamespace: after } : {}), limit }));
  }

  async history(namespace: string, key: string, options: StateHistoryOptions = {}): Promise<StateTransitionRow[]> {
    const ref = validateRef(namespace, key);
    return stateRead(this.ledger, (em) => stateHistory(em, ref, options));
  }

  /** Many entries at once, in the order asked, null where there is none. */
  async getMany(refs: readonly StateRef[], options: ReadStateOptions = {}): Promise<(StateEntryRow | null)[]> {
    const valid = refs.map((r) => validateRef(r.namespace, r.key));
    return stateRead(this.ledger, (em) => getStates(em, valid, options));
  }

  /** Sets many entries in one transaction, in order: one conflict rejects them all. */
  async setMany(items: readonly StateSetItem[], options: Pick<StateWriteOptions, 'actor' | 'source'> = {}): Promise<StateEntryRow[]> {
    return this.apply(
      items.map((i) => ({ op: 'set', namespace: i.namespace, key: i.key, data: i.data, ...pick(i, 'status', 'expectedVersion', 'reason') })),
      options,
    );
  }

  /** Soft-deletes many entries in one transaction: a missing one or a conflict rejects them all. */
  async deleteMany(items: readonly StateDeleteItem[], options: Pick<StateWriteOptions, 'actor' | 'source'> = {}): Promise<StateEntryRow[]> {
    return this.apply(
      items.map((i) => ({ op: 'delete', namespace: i.namespace, key: i.key, ...pick(i, 'expectedVersion', 'reason') })),
      options,
    );
  }

  /** Copies a live entry's data into a new snapshot with its checksum. */
  async snapshot(namespace: string, key: string, options: SnapshotOptions = {}): Promise<SnapshotRow> {
    const ref = validateRef(namespace, key);
    const now = Date.now();
    const expiresAt = snapshotExpiry(options, now);
    const actor = validateActor(options.actor);
    const description = options.description ?? null;
    if (description !== null && (typeof description !== 'string' || description.length > 2000 || textProblem(description) !== null)) {
      throw new InvalidOptionError('description', 'a string of at most 2000 characters without NUL or lone surrogates', description);
    }
    return stateTransaction(this.ledger, (em) => snapshotState(em, ref, { description, expiresAt, actor, now }));
  }

  /** Snapshots newest first: of one entry (`namespace` + `key`), of one subject, or all. */
  async listSnapshots(given: SnapshotListFilter = {}): Promise<SnapshotRow[]> {
    const filter = parseQuery(listSnapshotsSchema, given);
    const bySubject =
      filter.namespace !== undefined || filter.key !== undefined
        ? { subjectType: 'state' as const, subjectId: stateSubjectId(validateRef(filter.namespace, filter.key)) }
        : { ...pick(filter, 'subjectType', 'subjectId') };
    return stateRead(this.ledger, (em) => listSnapshots(em, { ...bySubject, ...pick(filter, 'limit') }));
  }

  async getSnapshot(snapshotId: string): Promise<SnapshotRow> {
    return stateRead(this.ledger, (em) => getSnapshot(em, snapshotId));
  }

  /**
   * Writes a snapshot's data back to its entry as a new version (a `restored` transition naming the
   * snapshot). `ChecksumMismatchError`, with nothing written, if the stored copy was altered.
   */
  async restoreSnapshot(snapshotId: string, options: RestoreOptions & Pick<StateWriteOptions, 'actor' | 'source'> = {}): Promise<StateEntryRow> {
    const reason = validateReason(options.reason);
    const expectedVersion = validateExpectedVersion(options.expectedVersion);
    const actor = validateActor(options.actor);
    const source = checkAuditSource(options.source ?? 'library');
    return stateTransaction(this.ledger, (em) =>
      restoreSnapshot(
        em,
        snapshotId,
        { ...(reason !== undefined ? { reason } : {}), ...(expectedVersion !== undefined ? { expectedVersion } : {}) },
        { actor, source, now: Date.now() },
      ),
    );
  }

  /** Deletes expired snapshots and all but the newest `keepPerSubject` per subject (see snapshot-rotation.ts). */
  async rotateSnapshots(options: RotateSnapshotsOptions): Promise<RotateSnapshotsResult> {
    return rotateSnapshots(this.ledger, options);
  }

  /**
   * Every change here is an operator's (or an application's) explicit one: each gets an audit row.
   * A batch with expected versions reads its keys first, in one statement, so that a rejection
   * names every conflicting key (`BatchVersionConflictError`), not only the first one reached. A
   * batch of sets or deletes of distinct keys is written set-based (state-batch-writes.ts).
   */
  private async apply(ops: readonly StateOp[], options: Pick<StateWriteOptions, 'actor' | 'source'>): Promise<StateEntryRow[]> {
    // Validated (and data copied) at the call, before anything is awaited: a bad item writes nothing.
    const valid = ops.map((op) => validateOp(op, this.limits));
    const who = validateActor(options.actor);
    const source = checkAuditSource(options.source ?? 'library');
    return this.commitOps(valid, { actor: who, source });
  }

  /** Applies validated operations in one transaction (the hot tiers wrap this: hot-state/tiered-state-store.ts). */
  protected async commitOps(valid: readonly StateOp[], by: { actor: string; source: AuditSource }): Promise<StateEntryRow[]> {
    if (isSetBasedBatch(valid)) {
      try {
        return await stateTransaction(this.ledger, (em) => applyStateBatchOrm(em, valid, { ...by, now: Date.now() }));
      } catch (error) {
        // A concurrent writer moved one of its rows (PostgreSQL): key by key, which retries or reports it.
        if (!(error instanceof BatchRaceLost)) throw error;
      }
    }
    return stateTransaction(this.ledger, async (em) => {
      if (valid.length > 1) await checkBatchVersions(em, valid);
      return applyStateOpsOrm(em, valid, { ...by, now: Date.now() });
    });
  }
}

/**
 * Throws `BatchVersionConflictError` listing every key whose first item in the batch expects a
 * version the entry is not at (0: absent or soft-deleted). Later items of a key are checked as the
 * batch applies, against the version the earlier ones produce.
 */
async function checkBatchVersions(em: Parameters<typeof getStates>[0], ops: readonly StateOp[]): Promise<void> {
  const firsts = new Map<string, StateOp>();
  for (const op of ops) if (!firsts.has(stateSubjectId(op))) firsts.set(stateSubjectId(op), op);
  const checked = [...firsts.values()].filter((op) => op.expectedVersion !== undefined);
  if (checked.length === 0) return;
  const current = await getStates(em, checked, { includeDeleted: true });
  const conflicts: VersionConflict[] = [];
  checked.forEach((op, i) => {
    const entry = current[i] ?? null;
    const expected = op.expectedVersion!;
    const holds = expected === 0 ? entry === null || entry.deletedAt !== null : entry?.version === expected;
    if (!holds) conflicts.push({ subject: stateSubjectId(op), expectedVersion: expected, actualVersion: entry?.version ?? null });
  });
  if (conflicts.length) throw new BatchVersionConflictError(conflicts);
}

/** The listed properties of `source` that are not undefined. */
function pick<T extends object, K extends keyof T>(source: T, ...keys: K[]): Partial<Pick<T, K>> {
  const picked: Partial<Pick<T, K>> = {};
  for (const k of keys) if (source[k] !== undefined) picked[k] = source[k];
  return picked;
}
