import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalEpochMs, optionalJson } from './columns.js';

/** What a snapshot is a copy of: a state entry (`namespace/key`) or a pipeline's context (`pip_...`). */
export type SnapshotSubjectType = 'state' | 'pipeline';

/**
 * A point-in-time copy of a subject's data. `checksum` is the SHA-256 (hex) of the data's canonical
 * JSON (object keys sorted), so a restore can tell that the stored copy was altered.
 */
export interface SnapshotRow {
  id: string;
  subjectType: SnapshotSubjectType;
  subjectId: string;
  /** The subject's version when the copy was taken, where the subject has one. */
  subjectVersion: number | null;
  data: unknown;
  checksum: string;
  description: string | null;
  actor: string | null;
  createdAt: number;
  /** Rotation deletes the snapshot from this time on; null keeps it (until rotated out). */
  expiresAt: number | null;
}

export const SnapshotEntity = new EntitySchema<SnapshotRow>({
  name: 'SnapshotRow',
  tableName: 'snapshots',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    subjectType: { type: 'string', length: 20 },
    subjectId: { type: 'string', length: 200 },
    subjectVersion: { type: 'integer', nullable: true },
    data: { ...optionalJson },
    checksum: { type: 'string', length: 64 },
    description: { type: 'text', nullable: true },
    actor: { type: 'string', length: 200, nullable: true },
    createdAt: { ...epochMs },
    expiresAt: { ...optionalEpochMs },
  },
  indexes: [
    // Listing a subject's snapshots newest first, and ranking them for rotation.
    { name: 'snapshots_subject_created_at_index', properties: ['subjectType', 'subjectId', 'createdAt'] },
    { name: 'snapshots_expires_at_index', properties: ['expiresAt'] },
    { name: 'snapshots_created_at_index', properties: ['createdAt'] },
  ],
});
