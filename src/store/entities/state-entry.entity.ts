import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalEpochMs, optionalJson } from './columns.js';

/**
 * A keyed, namespaced, versioned document. `(namespace, key)` is the primary key; `version` starts
 * at 1 and is bumped by every change (it is also the state's event sequence number). Deleting is
 * soft: `deletedAt` is set and the row stays, so versions and history never restart.
 */
export interface StateEntryRow {
  namespace: string;
  key: string;
  status: string;
  data: unknown;
  version: number;
  deletedAt: number | null;
  createdAt: number;
  updatedAt: number;
}

export const StateEntryEntity = new EntitySchema<StateEntryRow>({
  name: 'StateEntryRow',
  tableName: 'state_entries',
  properties: {
    namespace: { type: 'string', length: 64, primary: true },
    key: { type: 'string', length: 128, primary: true },
    status: { type: 'string', length: 50 },
    data: { ...optionalJson },
    version: { type: 'integer' },
    deletedAt: { ...optionalEpochMs },
    createdAt: { ...epochMs },
    updatedAt: { ...epochMs },
  },
});
