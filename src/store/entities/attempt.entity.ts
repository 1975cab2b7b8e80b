import { EntitySchema } from '@mikro-orm/core';
import type { AttemptStatus } from '../lifecycle.js';
import { epochMs, optionalEpochMs, optionalJson } from './columns.js';

/** One row per attempt at a job. Written when it starts and when it ends; never by another attempt. */
export interface AttemptRow {
  id: string;
  jobId: string;
  number: number;
  status: AttemptStatus;
  workerId: string;
  host: string;
  pid: number;
  /** Random per attempt: writes from this attempt must carry it (fencing). */
  fencingToken: string;
  startedAt: number;
  heartbeatAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  error: unknown;
  result: unknown;
}

export const AttemptEntity = new EntitySchema<AttemptRow>({
  name: 'AttemptRow',
  tableName: 'attempts',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    jobId: { type: 'string', length: 40 },
    number: { type: 'integer' },
    status: { type: 'string', length: 20 },
    workerId: { type: 'string', length: 200 },
    host: { type: 'string', length: 255 },
    pid: { type: 'integer' },
    fencingToken: { type: 'string', length: 40 },
    startedAt: { ...epochMs },
    heartbeatAt: { ...epochMs },
    finishedAt: { ...optionalEpochMs },
    durationMs: { type: 'integer', nullable: true },
    error: { ...optionalJson },
    result: { ...optionalJson },
  },
  uniques: [{ name: 'attempts_job_id_number_unique', properties: ['jobId', 'number'] }],
  indexes: [
    {
      name: 'attempts_running_heartbeat_at_index',
      expression: `create index "attempts_running_heartbeat_at_index" on "attempts" ("heartbeat_at") where "status" = 'running'`,
    },
  ],
});
