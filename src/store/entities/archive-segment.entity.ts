import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalEpochMs } from './columns.js';

/** Where a segment's files are: a directory on this host, or an S3-compatible bucket. */
export type ArchiveTargetKind = 'directory' | 's3';

/** `active`: its jobs live in the segment (each has an `archived_jobs` row); `restored`: they were brought back. */
export type ArchiveSegmentStatus = 'active' | 'restored';

/**
 * The cold archive's segments: one row per compressed file of finished jobs (with their attempts
 * and events) moved out of the live tables. Written in the transaction that deletes those jobs, so
 * a segment file without a row is an orphan of a move that never committed (jobs/archive/).
 */
export interface ArchiveSegmentRow {
  /** `seg_<ulid>`; the segment's files are named after it. */
  id: string;
  createdAt: number;
  target: ArchiveTargetKind;
  /** The directory's absolute path, or `bucket/prefix` for S3. */
  location: string;
  /** SHA-256 (hex) of the compressed file: checked before every read. */
  sha256: string;
  /** Size of the compressed file. */
  bytes: number;
  jobs: number;
  attempts: number;
  events: number;
  /** Creation times of its oldest and newest job. */
  firstCreatedAt: number;
  lastCreatedAt: number;
  status: ArchiveSegmentStatus;
  restoredAt: number | null;
}

export const ArchiveSegmentEntity = new EntitySchema<ArchiveSegmentRow>({
  name: 'ArchiveSegmentRow',
  tableName: 'archive_segments',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    createdAt: { ...epochMs },
    target: { type: 'string', length: 20 },
    location: { type: 'text' },
    sha256: { type: 'string', length: 64 },
    bytes: { ...epochMs },
    jobs: { type: 'integer' },
    attempts: { type: 'integer' },
    events: { type: 'integer' },
    firstCreatedAt: { ...epochMs },
    lastCreatedAt: { ...epochMs },
    status: { type: 'string', length: 20 },
    restoredAt: { ...optionalEpochMs },
  },
  indexes: [{ name: 'archive_segments_created_at_id_index', properties: ['createdAt', 'id'] }],
});
