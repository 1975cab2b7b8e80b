import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalEpochMs, optionalJson } from './columns.js';

export type RunStatus = 'open' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A named group of jobs with a status, a reason for it, and free metadata. */
export interface RunRow {
  id: string;
  name: string;
  status: RunStatus;
  statusReason: string | null;
  metadata: unknown;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
  version: number;
}

export const RunEntity = new EntitySchema<RunRow>({
  name: 'RunRow',
  tableName: 'runs',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    name: { type: 'string', length: 200 },
    status: { type: 'string', length: 20 },
    statusReason: { type: 'text', nullable: true },
    metadata: { ...optionalJson },
    createdAt: { ...epochMs },
    updatedAt: { ...epochMs },
    finishedAt: { ...optionalEpochMs },
    version: { type: 'integer' },
  },
  indexes: [{ name: 'runs_created_at_index', properties: ['createdAt'] }],
});
