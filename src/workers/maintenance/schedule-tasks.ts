/**
 * Recurring jobs run as maintenance tasks named `schedule-<name>`: the maintenance scheduler
 * already fires cron ticks in every worker process, claims each tick once across all of them
 * (a `maintenance_runs` row), finds the ticks nobody ran, and lists every task's last and next run.
 * A tick's run enqueues one job with the idempotency key `schedule:<name>:<tick>`, so a tick whose
 * claim is taken over after a crash, or run again by hand, never makes a second job for it.
 */
import type { EnqueueOptions } from '../../jobs/validate-enqueue.js';
import { schedulePayload, type JobSchedule } from '../../jobs/define-schedule.js';
import type { MaintenanceTask } from './task.js';

/** The maintenance task name of a schedule. */
export const scheduleTaskName = (schedule: string): string => `schedule-${schedule}`;

/** The idempotency key of the job a schedule enqueues for the tick at `tick` (epoch ms). */
export const scheduleJobKey = (schedule: string, tick: number): string => `schedule:${schedule}:${new Date(tick).toISOString()}`;

/** What a schedule's task needs of the JobLedger. */
export type ScheduleEnqueue = (name: string, payload: unknown, options: EnqueueOptions) => Promise<{ id: string; created: boolean }>;

export function scheduleTasks(schedules: readonly JobSchedule[], enqueue: ScheduleEnqueue): MaintenanceTask[] {
  return schedules.map((schedule) => ({
    name: scheduleTaskName(schedule.name),
    description: `enqueues ${schedule.job} (schedule ${schedule.name})`,
    schedule: schedule.cron,
    ...(schedule.timezone !== undefined ? { timezone: schedule.timezone } : {}),
    onMissed: schedule.onMissed,
    supportsDryRun: false,
    async run(ctx) {
      const job = await enqueue(schedule.job, schedulePayload(schedule, ctx.tick), {
        idempotencyKey: scheduleJobKey(schedule.name, ctx.tick),
        actor: `schedule:${schedule.name}`,
      });
      ctx.logger.info({ jobId: job.id, job: schedule.job, created: job.created }, job.created ? 'scheduled job enqueued' : 'scheduled job already enqueued for this tick');
      return { enqueued: job.created ? 1 : 0, alreadyEnqueued: job.created ? 0 : 1 };
    },
  }));
}
