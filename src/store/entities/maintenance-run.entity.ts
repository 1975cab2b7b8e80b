import { EntitySchema } from '../orm/mikro-orm.js';
import { epochMs, optionalDurationMs, optionalEpochMs, optionalJson } from './columns.js';

/**
 * `running` → `succeeded` | `failed`; `missed` is written once, for a tick nobody ran (and for a
 * tick that came due while another run of the same task was still going).
 */
export type MaintenanceRunStatus = 'running' | 'succeeded' | 'failed' | 'missed';

/** What produced the row: the cron tick itself, the run-once catch-up of missed ticks, or an operator. */
export type MaintenanceTrigger = 'schedule' | 'catch-up' | 'manual';

/**
 * One row per (task, tick): the claim that makes each scheduled tick run once across every process,
 * and the record of what that run did.
 */
export interface MaintenanceRunRow {
  id: string;
  task: string;
  /** The scheduled time the run belongs to (epoch ms); for a manual run, the time it was asked for. */
  tick: number;
  status: MaintenanceRunStatus;
  triggeredBy: MaintenanceTrigger;
  /** `host:pid:random` of the process that claimed (or recorded) the tick. */
  claimedBy: string;
  startedAt: number | null;
  /** Refreshed while the run is going; a `running` row whose heartbeat is stale was abandoned. */
  heartbeatAt: number | null;
  finishedAt: number | null;
  durationMs: number | null;
  /** What the task did, e.g. `{ jobs: 120, attempts: 300, events: 900 }`. */
  counts: unknown;
  /** `{ name, message, code? }` of a failed run, or why a tick was missed. */
  error: unknown;
}

export const MaintenanceRunEntity = new EntitySchema<MaintenanceRunRow>({
  name: 'MaintenanceRunRow',
  tableName: 'maintenance_runs',
  properties: {
    id: { type: 'string', length: 40, primary: true },
    task: { type: 'string', length: 100 },
    tick: { ...epochMs },
    status: { type: 'string', length: 20 },
    triggeredBy: { type: 'string', length: 20 },
    claimedBy: { type: 'string', length: 200 },
    startedAt: { ...optionalEpochMs },
    heartbeatAt: { ...optionalEpochMs },
    finishedAt: { ...optionalEpochMs },
    durationMs: { ...optionalDurationMs },
    counts: { ...optionalJson },
    error: { ...optionalJson },
  },
  uniques: [{ name: 'maintenance_runs_task_tick_unique', properties: ['task', 'tick'] }],
  indexes: [{ name: 'maintenance_runs_status_heartbeat_at_index', properties: ['status', 'heartbeatAt'] }],
});
