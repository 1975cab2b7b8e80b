import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalJson } from './columns.js';

/** What kind of change a state transition records. */
export type StateChange = 'created' | 'updated' | 'status_changed' | 'deleted' | 'undeleted' | 'restored';

/** One row per change of a state entry: before and after, why, who, and which job (if any). */
export interface StateTransitionRow {
  id: string;
  namespace: string;
  key: string;
  change: StateChange;
  /** Null when the change created the entry. */
  versionBefore: number | null;
  versionAfter: number;
  statusBefore: string | null;
  statusAfter: string;
  dataBefore: unknown;
  dataAfter: unknown;
  reason: string | null;
  actor: string;
  /** The job whose completed attempt made the change, when a handler made it. */
  jobId: string | null;
  /** The snapshot a `restored` change came from. */
  snapshotId: string | null;
  createdAt: number;
}

export const StateTransitionEntity = new EntitySchema<StateTransitionRow>({
  name: 'StateTransitionRow',
  tableName: 'state_transitions',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    namespace: { type: 'string', length: 64 },
    key: { type: 'string', length: 128 },
    change: { type: 'string', length: 20 },
    versionBefore: { type: 'integer', nullable: true },
    versionAfter: { type: 'integer' },
    statusBefore: { type: 'string', length: 50, nullable: true },
    statusAfter: { type: 'string', length: 50 },
    dataBefore: { ...optionalJson },
    dataAfter: { ...optionalJson },
    reason: { type: 'text', nullable: true },
    actor: { type: 'string', length: 200 },
    jobId: { type: 'string', length: 40, nullable: true },
    snapshotId: { type: 'string', length: 40, nullable: true },
    createdAt: { ...epochMs },
  },
  // One transition per version of an entry: the history of a key is read in this order.
  uniques: [{ name: 'state_transitions_namespace_key_version_unique', properties: ['namespace', 'key', 'versionAfter'] }],
  indexes: [
    { name: 'state_transitions_job_id_index', properties: ['jobId'] },
    { name: 'state_transitions_created_at_index', properties: ['createdAt'] },
  ],
});
