/** The settings of scheduled maintenance: schedules, missed ticks, retention and the tasks' limits. */
import { InvalidConfigError } from './errors.js';
import { cronProblem, isTimeZone } from './cron-schedule.js';
import { parseDays, parseDaysByQueue, parseInteger, parsePairs } from './config-values.js';

/** The built-in maintenance tasks. */
export const maintenanceTaskNames = ['prune', 'reconcile', 'sqlite-upkeep', 'archive-pipelines', 'rotate-snapshots', 'search-index'] as const;
export type MaintenanceTaskName = (typeof maintenanceTaskNames)[number];
/** What to do at start with ticks of a task that nobody ran: record each as `missed`, or also run once now. */
export type MissedTickPolicy = 'record' | 'run-once';

export interface MaintenanceConfig {
  /** Cron expression per task, `null` when disabled. Env `JOBLEDGER_CRON_<TASK>` (`off` disables). */
  schedules: Readonly<Record<MaintenanceTaskName, string | null>>;
  /** Per-task missed-tick policy overrides. Env `JOBLEDGER_MAINTENANCE_ON_MISSED` (`prune=record,...`). */
  onMissed: Readonly<Partial<Record<MaintenanceTaskName, MissedTickPolicy>>>;
  /** Time zone the schedules are read in. Env `JOBLEDGER_MAINTENANCE_TIMEZONE`; default `UTC`. */
  timezone: string;
  /** A running maintenance run with no heartbeat for this long was abandoned. Default 600000. */
  staleAfterMs: number;
  /** Days finished jobs are kept; `null` (`forever`) keeps them. Env `JOBLEDGER_RETENTION_DAYS`; default 30. */
  retentionDays: number | null;
  /** Per-queue retention overrides. Env `JOBLEDGER_RETENTION_DAYS_BY_QUEUE` (`emails=7,audit=forever`). */
  retentionDaysByQueue: Readonly<Record<string, number | null>>;
  /** Days audit rows are kept (job retention never removes them); `null` (`forever`) keeps them. Env `JOBLEDGER_AUDIT_RETENTION_DAYS`; default forever. */
  auditRetentionDays: number | null;
  /** Finished pipelines are archived this long after they finish. Default 24. */
  archiveAfterHours: number;
  /** Unexpired snapshots kept per subject by rotation. Default 10. */
  snapshotsKeepPerSubject: number;
}

export const maintenanceDefaults = {
  JOBLEDGER_CRON_PRUNE: '15 3 * * *',
  JOBLEDGER_CRON_RECONCILE: '*/5 * * * *',
  JOBLEDGER_CRON_SQLITE_UPKEEP: '45 * * * *',
  JOBLEDGER_CRON_ARCHIVE_PIPELINES: '*/10 * * * *',
  JOBLEDGER_CRON_ROTATE_SNAPSHOTS: '20 * * * *',
  JOBLEDGER_CRON_SEARCH_INDEX: '* * * * *',
  JOBLEDGER_MAINTENANCE_ON_MISSED: '',
  JOBLEDGER_MAINTENANCE_TIMEZONE: 'UTC',
  JOBLEDGER_MAINTENANCE_STALE_AFTER_MS: '600000',
  JOBLEDGER_RETENTION_DAYS: '30',
  JOBLEDGER_RETENTION_DAYS_BY_QUEUE: '',
  JOBLEDGER_AUDIT_RETENTION_DAYS: 'forever',
  JOBLEDGER_ARCHIVE_AFTER_HOURS: '24',
  JOBLEDGER_SNAPSHOTS_KEEP_PER_SUBJECT: '10',
} as const;

type MaintenanceVariable = keyof typeof maintenanceDefaults;

export function parseMaintenance(read: (name: MaintenanceVariable) => string): MaintenanceConfig {
  const int = (name: MaintenanceVariable, min: number): number => parseInteger(name, read(name), min);
  const timezone = read('JOBLEDGER_MAINTENANCE_TIMEZONE');
  if (!isTimeZone(timezone)) {
    throw new InvalidConfigError(`JOBLEDGER_MAINTENANCE_TIMEZONE: expected an IANA time zone like UTC or Europe/Berlin, got ${JSON.stringify(timezone)}`);
  }
  const schedules = {} as Record<MaintenanceTaskName, string | null>;
  for (const task of maintenanceTaskNames) {
    const name = `JOBLEDGER_CRON_${task.toUpperCase().replace(/-/g, '_')}` as MaintenanceVariable;
    const raw = read(name);
    if (raw === 'off') {
      schedules[task] = null;
      continue;
    }
    // A default schedule is valid in every time zone (test/maintenance-missed.test.ts checks them):
    // only one the environment sets is checked, which loads the cron libraries (cron-schedule.ts).
    const problem = raw === maintenanceDefaults[name] ? undefined : cronProblem(raw, timezone);
    if (problem) throw new InvalidConfigError(`${name}: expected a cron expression or "off", got ${problem}`);
    schedules[task] = raw;
  }
  const onMissed: Partial<Record<MaintenanceTaskName, MissedTickPolicy>> = {};
  for (const [task, policy] of parsePairs('JOBLEDGER_MAINTENANCE_ON_MISSED', read('JOBLEDGER_MAINTENANCE_ON_MISSED'))) {
    if (!(maintenanceTaskNames as readonly string[]).includes(task) || (policy !== 'record' && policy !== 'run-once')) {
      throw new InvalidConfigError(
        `JOBLEDGER_MAINTENANCE_ON_MISSED: expected task=record|run-once with a task among ${maintenanceTaskNames.join(', ')}, got ${JSON.stringify(`${task}=${policy}`)}`,
      );
    }
    onMissed[task as MaintenanceTaskName] = policy;
  }
  return Object.freeze({
    schedules: Object.freeze(schedules),
    onMissed: Object.freeze(onMissed),
    timezone,
    staleAfterMs: int('JOBLEDGER_MAINTENANCE_STALE_AFTER_MS', 1000),
    retentionDays: parseDays('JOBLEDGER_RETENTION_DAYS', read('JOBLEDGER_RETENTION_DAYS'), 'forever'),
    retentionDaysByQueue: parseDaysByQueue('JOBLEDGER_RETENTION_DAYS_BY_QUEUE', read('JOBLEDGER_RETENTION_DAYS_BY_QUEUE'), 'forever'),
    auditRetentionDays: parseDays('JOBLEDGER_AUDIT_RETENTION_DAYS', read('JOBLEDGER_AUDIT_RETENTION_DAYS'), 'forever'),
    archiveAfterHours: int('JOBLEDGER_ARCHIVE_AFTER_HOURS', 0),
    snapshotsKeepPerSubject: int('JOBLEDGER_SNAPSHOTS_KEEP_PER_SUBJECT', 1),
  });
}
