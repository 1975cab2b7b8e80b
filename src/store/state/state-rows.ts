/** Maps raw snake_case rows of the state and snapshot tables onto their row types. */
import type { DatabaseDialect } from '../../config.js';
import type { SnapshotRow, StateEntryRow, StateTransitionRow } from '../entities/index.js';
import { decodeJson, toNullableNumber, toNumber, type Row } from '../engine/sql.js';

export function toStateEntryRow(dialect: DatabaseDialect, r: Row): StateEntryRow {
  return {
    namespace: r.namespace as string,
    key: r.key as string,
    status: r.status as string,
    data: decodeJson(dialect, r.data),
    version: toNumber(r.version),
    deletedAt: toNullableNumber(r.deleted_at),
    createdAt: toNumber(r.created_at),
    updatedAt: toNumber(r.updated_at),
  };
}

export function toStateTransitionRow(dialect: DatabaseDialect, r: Row): StateTransitionRow {
  return {
    id: r.id as string,
    namespace: r.namespace as string,
    key: r.key as string,
    change: r.change as StateTransitionRow['change'],
    versionBefore: toNullableNumber(r.version_before),
    versionAfter: toNumber(r.version_after),
    statusBefore: (r.status_before as string | null) ?? null,
    statusAfter: r.status_after as string,
    dataBefore: decodeJson(dialect, r.data_before),
    dataAfter: decodeJson(dialect, r.data_after),
    reason: (r.reason as string | null) ?? null,
    actor: r.actor as string,
    jobId: (r.job_id as string | null) ?? null,
    snapshotId: (r.snapshot_id as string | null) ?? null,
    createdAt: toNumber(r.created_at),
  };
}

export function toSnapshotRow(dialect: DatabaseDialect, r: Row): SnapshotRow {
  return {
    id: r.id as string,
    subjectType: r.subject_type as SnapshotRow['subjectType'],
    subjectId: r.subject_id as string,
    subjectVersion: toNullableNumber(r.subject_version),
    data: decodeJson(dialect, r.data),
    checksum: r.checksum as string,
    description: (r.description as string | null) ?? null,
    actor: (r.actor as string | null) ?? null,
    createdAt: toNumber(r.created_at),
    expiresAt: toNullableNumber(r.expires_at),
  };
}
