import { EntitySchema } from '../orm/mikro-orm.js';
import type { AttemptStatus } from '../lifecycle.js';
import { epochMs, optionalDurationMs, optionalEpochMs, optionalJson } from './columns.js';

/**
 * One row per attempt at a job. Written when it starts, by its heartbeats and when it ends; never by
 * another attempt. Late writes are fenced on the job's `current_attempt`: an outcome applies only
 * while the job is `running` with this attempt's number as its current one. The handler's result is
 * kept on the job row.
 */
export interface AttemptRow {
  id: string;
  jobId: string;
  number: number;
  status: AttemptStatus;
  workerId: string;
  host: string;
  pid: number;
  startedAt: number;
  /** The database's clock at the latest heartbeat (the worker's at the start, until the first heartbeat). */
  heartbeatAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  error: unknown;
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
    startedAt: { ...epochMs },
    heartbeatAt: { ...epochMs },
    finishedAt: { ...optionalEpochMs },
    durationMs: { ...optionalDurationMs },
    error: { ...optionalJson },
  },
  uniques: [{ name: 'attempts_job_id_number_unique', properties: ['jobId', 'number'] }],
  indexes: [
    {
      name: 'attempts_running_heartbeat_at_index',
      expression: `create index "attempts_running_heartbeat_at_index" on "attempts" ("heartbeat_at") where "status" = 'running'`,
    },
  ],
});
