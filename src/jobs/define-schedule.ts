/**
 * Recurring jobs: a schedule enqueues one job of a job type at every tick of a cron expression.
 * `defineSchedule` checks what it can alone (name, expression, time zone, options); the job type
 * and a fixed payload are checked against the registry when `JobLedger.open` is given the schedule
 * (`checkSchedules`). How ticks are claimed and enqueued: workers/maintenance/schedule-tasks.ts.
 */
import { InvalidOptionError } from '../errors.js';
import { cronProblem, isTimeZone } from '../cron-schedule.js';
import type { MissedTickPolicy } from '../config.js';
import type { JobType } from './define-job.js';
import type { JobRegistry } from './registry.js';
import { validateEnqueue, type PayloadLimits } from './validate-enqueue.js';

export interface JobScheduleOptions<Payload = unknown> {
  /** Lowercase letters, digits and "-", starting with a letter: `nightly-report`. Unique among schedules. */
  name: string;
  /** Cron expression, 5 fields (minute precision) or 6 (with seconds first): `0 3 * * *`. */
  cron: string;
  /** The IANA time zone the expression is read in. Default `JOBLEDGER_MAINTENANCE_TIMEZONE` (UTC). */
  timezone?: string;
  /** The job type each tick enqueues: its definition, or its name. */
  job: JobType<Payload> | string;
  /** The payload, or a function of the tick that returns it. Default `{}`. */
  payload?: Payload | ((tick: Date) => Payload);
  /**
   * Ticks nobody ran (every worker was down): `record` them as missed (the default), or record them
   * and enqueue one job for the newest of them when a worker starts again (`run-once`).
   */
  onMissed?: MissedTickPolicy;
}

export interface JobSchedule {
  readonly name: string;
  readonly cron: string;
  /** Undefined: the maintenance time zone. */
  readonly timezone: string | undefined;
  readonly job: string;
  readonly payload: unknown;
  readonly onMissed: MissedTickPolicy;
}

const knownOptions = ['name', 'cron', 'timezone', 'job', 'payload', 'onMissed'];

export function defineSchedule<Payload>(options: JobScheduleOptions<Payload>): JobSchedule {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('schedule', 'an object { name, cron, job, payload? }', options);
  const unknown = Object.keys(options).find((key) => !knownOptions.includes(key));
  if (unknown !== undefined) throw new InvalidOptionError(unknown, `one of the schedule options (${knownOptions.join(', ')})`, unknown);
  const { name } = options;
  if (typeof name !== 'string' || !/^[a-z][a-z0-9-]{0,79}$/.test(name)) {
    throw new InvalidOptionError('schedule name', 'lowercase letters, digits and "-", starting with a letter, at most 80 characters', name);
  }
  if (typeof options.cron !== 'string') throw new InvalidOptionError(`${name}.cron`, 'a cron expression such as "0 3 * * *"', options.cron);
  if (options.timezone !== undefined && (typeof options.timezone !== 'string' || !isTimeZone(options.timezone))) {
    throw new InvalidOptionError(`${name}.timezone`, 'an IANA time zone such as "Europe/Berlin"', options.timezone);
  }
  // Checked in UTC here when no zone is given; JobLedger.open checks it again in the one it will use.
  const problem = cronProblem(options.cron, options.timezone ?? 'UTC');
  if (problem) throw new InvalidOptionError(`${name}.cron`, `a cron expression both cron libraries read alike (here: ${problem})`, options.cron);
  const job = typeof options.job === 'string' ? options.job : (options.job as Partial<JobType> | null)?.name;
  if (typeof job !== 'string' || job.length === 0) throw new InvalidOptionError(`${name}.job`, 'a job type made by defineJob, or its name', options.job);
  const onMissed = options.onMissed ?? 'record';
  if (onMissed !== 'record' && onMissed !== 'run-once') throw new InvalidOptionError(`${name}.onMissed`, '"record" or "run-once"', onMissed);
  return Object.freeze({
    name,
    cron: options.cron,
    timezone: options.timezone,
    job,
    payload: options.payload ?? {},
    onMissed,
  });
}

/** The payload of the tick at `tick` (epoch ms). */
export function schedulePayload(schedule: JobSchedule, tick: number): unknown {
  return typeof schedule.payload === 'function' ? (schedule.payload as (tick: Date) => unknown)(new Date(tick)) : schedule.payload;
}

/**
 * Checks schedules against the job types of this process before anything runs: a name used once,
 * a registered job type, the expression in the time zone it will be read in, and a fixed payload
 * against the job type's schema (a payload function is checked at each tick, by the enqueue).
 */
export function checkSchedules(schedules: readonly JobSchedule[], registry: JobRegistry, limits: PayloadLimits, defaultTimezone: string): void {
  if (!Array.isArray(schedules)) throw new InvalidOptionError('schedules', 'a list of schedules made by defineSchedule', schedules);
  const seen = new Set<string>();
  for (const schedule of schedules as readonly unknown[]) {
    const s = schedule as Partial<JobSchedule> | null;
    if (typeof s !== 'object' || s === null || typeof s.name !== 'string' || typeof s.cron !== 'string' || typeof s.job !== 'string' || !Object.isFrozen(s)) {
      throw new InvalidOptionError('schedules', 'schedules made by defineSchedule', schedule);
    }
    if (seen.has(s.name)) throw new InvalidOptionError('schedules', 'each schedule name once', s.name);
    seen.add(s.name);
    registry.get(s.job);
    const timezone = s.timezone ?? defaultTimezone;
    const problem = cronProblem(s.cron, timezone);
    if (problem) throw new InvalidOptionError(`${s.name}.cron`, `a cron expression both cron libraries read alike in ${timezone} (here: ${problem})`, s.cron);
    if (typeof s.payload !== 'function') validateEnqueue(registry, { name: s.job, payload: s.payload }, limits, Date.now());
  }
}
