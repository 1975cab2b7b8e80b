import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalJson } from './columns.js';

/** Where an operator action came from: the `jobledger` command, the console's HTTP API, or library code. */
export type AuditSource = 'cli' | 'api' | 'library';

/** What an audit row is about. */
export type AuditSubjectType = 'job' | 'jobs' | 'run' | 'state' | 'snapshot' | 'maintenance' | 'pipeline' | 'replay' | 'archive_segment';

/**
 * The audit log: one row per operator action (a retry, a cancel, a bulk action, a state change, a
 * snapshot restore, a manual maintenance run, a run status change), written in the transaction of
 * the change it records. Kept apart from `events` so that job retention never removes it; it has
 * its own retention (`JOBLEDGER_AUDIT_RETENTION_DAYS`, default forever).
 */
export interface AuditRow {
  /** `aud_<ulid>`. */
  id: string;
  createdAt: number;
  actor: string;
  source: AuditSource;
  /** A dotted verb: `job.retry`, `jobs.bulk_cancel`, `state.set`, `snapshot.restore`, `maintenance.run`, `run.status`, ... */
  action: string;
  subjectType: AuditSubjectType;
  /** The job, run or snapshot id, `namespace/key` of a state entry, a maintenance task's name; null for a bulk action. */
  subjectId: string | null;
  reason: string | null;
  /** The fields the action changed: `{ status: { before: 'failed', after: 'pending' }, ... }`. */
  changes: unknown;
  /** A bulk action: the filter (or the ids) it was given. */
  filter: unknown;
  /** A bulk action: how many jobs it changed. */
  count: number | null;
  /** The bulk action (its audit row's id) a per-job row was part of, or null. */
  bulkId: string | null;
}

export const AuditEntity = new EntitySchema<AuditRow>({
  name: 'AuditRow',
  tableName: 'audit',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    createdAt: { ...epochMs },
    actor: { type: 'string', length: 200 },
    source: { type: 'string', length: 20 },
    action: { type: 'string', length: 50 },
    subjectType: { type: 'string', length: 20 },
    subjectId: { type: 'string', length: 200, nullable: true },
    reason: { type: 'text', nullable: true },
    changes: { ...optionalJson },
    filter: { ...optionalJson },
    count: { type: 'integer', nullable: true },
    bulkId: { type: 'string', length: 40, nullable: true },
  },
  // Listed newest first: by time, by actor, by subject (keyset pages on created_at, id).
  indexes: [
    { name: 'audit_created_at_id_index', properties: ['createdAt', 'id'] },
    { name: 'audit_actor_created_at_index', properties: ['actor', 'createdAt'] },
    { name: 'audit_subject_created_at_index', properties: ['subjectType', 'subjectId', 'createdAt'] },
  ],
});
