/**
 * Snapshots: point-in-time copies of a subject's data with a checksum, read and written as
 * `SnapshotEntity` through an EntityManager. A state entry's snapshot is taken and restored here; a
 * pipeline's context uses the same table through `insertSnapshot`, `getSnapshot` and
 * `verifySnapshot`. Restoring a state snapshot is itself a state change (a `restored` transition
 * naming the snapshot), and refuses a copy whose checksum no longer matches.
 */
import { createHash } from 'node:crypto';
import { ChecksumMismatchError, InvalidOptionError, NotFoundError } from '../../errors.js';
import type { EntityManager } from '@mikro-orm/core';
import { SnapshotEntity, type SnapshotRow, type SnapshotSubjectType, type StateEntryRow } from '../entities/index.js';
import { assertId, newId } from '../ids.js';
import {
  parseStateSubjectId,
  stateSubjectId,
  validateExpectedVersion,
  type StateOp,
  type StateRef,
  type StateWriteContext,
} from './state-model.js';
import { getState } from './state-queries.js';
import { applyStateOpsOrm } from './state-writes.js';

export interface SnapshotOptions {
  /** Free text shown in listings. Default none. */
  description?: string;
  /** Expire this many milliseconds after now (rotation deletes it then). Default: never. */
  ttlMs?: number;
  /** Expire at this time (epoch ms); not together with `ttlMs`. Default: never. */
  expiresAt?: number;
  /** Who took it. Default `"system"`. */
  actor?: string;
}

export interface NewSnapshot {
  subjectType: SnapshotSubjectType;
  subjectId: string;
  subjectVersion?: number | null;
  data: unknown;
  description?: string | null;
  actor?: string | null;
  expiresAt?: number | null;
  now: number;
}

export interface SnapshotFilter {
  subjectType?: SnapshotSubjectType;
  subjectId?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
}

export interface RestoreOptions {
  /** Why; the transition's reason always names the snapshot too. */
  reason?: string;
  /** Restore only if the entry is still at this version (0: only if it does not exist). */
  expectedVersion?: number;
}

/**
 * JSON with object keys sorted (by UTF-16 code units) at every level and no whitespace: the same
 * data always gives the same text, whatever order its keys were written in or a database (jsonb)
 * returned them in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map((item: unknown) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** SHA-256, hex, of the data's canonical JSON. */
export function snapshotChecksum(data: unknown): string {
  return createHash('sha256').update(canonicalJson(data), 'utf8').digest('hex');
}

/** Throws `ChecksumMismatchError` unless the stored data still matches its checksum. */
export function verifySnapshot(snapshot: SnapshotRow): void {
  const actual = snapshotChecksum(snapshot.data);
  if (actual !== snapshot.checksum) throw new ChecksumMismatchError(snapshot.id, snapshot.checksum, actual);
}

/** Inserts a snapshot of any subject, computing its checksum. The caller validated the data. */
export async function insertSnapshot(em: EntityManager, input: NewSnapshot): Promise<SnapshotRow> {
  const snapshot = em.create(SnapshotEntity, {
    id: newId('snp'),
    subjectType: input.subjectType,
    subjectId: input.subjectId,
    subjectVersion: input.subjectVersion ?? null,
    data: input.data ?? null,
    checksum: snapshotChecksum(input.data ?? null),
    description: input.description ?? null,
    actor: input.actor ?? null,
    createdAt: input.now,
    expiresAt: input.expiresAt ?? null,
  });
  em.persist(snapshot);
  await em.flush();
  return snapshot;
}

/** Copies a live state entry's data into a new snapshot. */
export async function snapshotState(
  em: EntityManager,
  ref: StateRef,
  options: { description: string | null; expiresAt: number | null; actor: string; now: number },
): Promise<SnapshotRow> {
  const entry = await getState(em, ref);
  return insertSnapshot(em, {
    subjectType: 'state',
    subjectId: stateSubjectId(ref),
    subjectVersion: entry.version,
    data: entry.data,
    description: options.description,
    actor: options.actor,
    expiresAt: options.expiresAt,
    now: options.now,
  });
}

export async function getSnapshot(em: EntityManager, snapshotId: string): Promise<SnapshotRow> {
  assertId('snp', snapshotId);
  const snapshot = await em.findOne(SnapshotEntity, { id: snapshotId });
  if (!snapshot) throw new NotFoundError('snapshot', snapshotId);
  return snapshot;
}

/** Snapshots, newest first, optionally of one subject type or subject. */
export async function listSnapshots(em: EntityManager, filter: SnapshotFilter = {}): Promise<SnapshotRow[]> {
  const limit = filter.limit ?? 100;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new InvalidOptionError('limit', 'a whole number from 1 to 10000', limit);
  return em.find(
    SnapshotEntity,
    {
      ...(filter.subjectType !== undefined ? { subjectType: filter.subjectType } : {}),
      ...(filter.subjectId !== undefined ? { subjectId: filter.subjectId } : {}),
    },
    { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], limit },
  );
}

/**
 * Writes a state snapshot's data back to its entry (undeleting or re-creating it if need be), after
 * checking its checksum. Throws `ChecksumMismatchError` before writing anything if the copy changed.
 */
export async function restoreSnapshot(
  em: EntityManager,
  snapshotId: string,
  options: RestoreOptions,
  ctx: StateWriteContext,
): Promise<StateEntryRow> {
  const snapshot = await getSnapshot(em, snapshotId);
  const ref = snapshot.subjectType === 'state' ? parseStateSubjectId(snapshot.subjectId) : null;
  if (!ref) throw new InvalidOptionError('snapshotId', 'a snapshot of a state entry', `a ${snapshot.subjectType} snapshot (${snapshot.subjectId})`);
  verifySnapshot(snapshot);
  const from = `restored from snapshot ${snapshot.id}${snapshot.subjectVersion !== null ? ` (version ${snapshot.subjectVersion})` : ''}`;
  const op: StateOp = {
    op: 'restore',
    ...ref,
    data: snapshot.data,
    snapshotId: snapshot.id,
    reason: options.reason ? `${options.reason} (${from})` : from,
    ...(options.expectedVersion !== undefined ? { expectedVersion: validateExpectedVersion(options.expectedVersion) } : {}),
  };
  const [entry] = await applyStateOpsOrm(em, [op], ctx);
  return entry!;
}

/** The expiry of a new snapshot from `ttlMs` or `expiresAt` (validated), or null. */
export function snapshotExpiry(options: Pick<SnapshotOptions, 'ttlMs' | 'expiresAt'>, now: number): number | null {
  if (options.ttlMs !== undefined && options.expiresAt !== undefined) {
    throw new InvalidOptionError('ttlMs', 'either ttlMs or expiresAt, not both', { ttlMs: options.ttlMs, expiresAt: options.expiresAt });
  }
  if (options.ttlMs !== undefined) {
    if (!Number.isSafeInteger(options.ttlMs) || options.ttlMs < 1) throw new InvalidOptionError('ttlMs', 'a whole number of milliseconds >= 1', options.ttlMs);
    return now + options.ttlMs;
  }
  if (options.expiresAt !== undefined) {
    if (!Number.isSafeInteger(options.expiresAt) || options.expiresAt < 0) throw new InvalidOptionError('expiresAt', 'a time in epoch milliseconds', options.expiresAt);
    return options.expiresAt;
  }
  return null;
}
