/**
 * Recurring jobs run as maintenance tasks named `schedule-<name>`: the maintenance scheduler
 * already fires cron ticks in every worker process, claims each tick once across all of them
 * (a `maintenance_runs` row), finds the ticks nobody ran, and lists every task's last and next run.
 * A tick's run enqueues one job with the idempotency key `schedule:<name>:<tick>`, so a tick run
 * again (by a catch-up, or below) finds its job instead of making a second one.
 *
 * A process that dies between claiming a tick and enqueueing its job leaves the tick's row
 * `running` until it is declared abandoned. Ticks are not held up meanwhile (the task allows
 * overlapping runs: each is one idempotent enqueue), and the first run after the row is declared
 * abandoned enqueues that tick's job too, if it has none.
 */
import type { EnqueueOptions } from '../../jobs/validate-enqueue.js';
import { schedulePayload, type JobSchedule } from '../../jobs/define-schedule.js';
import { faultPoint } from '../../fault-points.js';
import { listMaintenanceRuns, type Ledger } from '../../store/index.js';
import type { MaintenanceTask } from './task.js';

/** The maintenance task name of a schedule. */
export const scheduleTaskName = (schedule: string): string => `schedule-${schedule}`;

/** The idempotency key of the job a schedule enqueues for the tick at `tick` (epoch ms). */
export const scheduleJobKey = (schedule: string, tick: number): string => `schedule:${schedule}:${new Date(tick).toISOString()}`;

/** What a schedule's task needs of the JobLedger. */
export type ScheduleEnqueue = (name: string, payload: unknown, options: EnqueueOptions) => Promise<{ id: string; created: boolean }>;

/**
 * Abandoned ticks older than this are left alone: their job may have been enqueued, run and pruned
 * by retention since (finished jobs are kept whole days, unless `JOBLEDGER_RETENTION_DAYS=0`), and
 * enqueueing it again would run the tick twice.
 */
const abandonedWithinMs = 23 * 60 * 60_000;

/** At most this many abandoned ticks are looked at per run. */
const abandonedPerRun = 50;

export function scheduleTasks(schedules: readonly JobSchedule[], enqueue: ScheduleEnqueue, ledger: Ledger): MaintenanceTask[] {
  return schedules.map((schedule) => {
    const name = scheduleTaskName(schedule.name);
    // Abandoned ticks this process has seen to (their job made or found), so that each later run
    // does not enqueue them again for the whole window.
    const seenTo = new Set<number>();
    const enqueueFor = (tick: number) =>
      enqueue(schedule.job, schedulePayload(schedule, tick), { idempotencyKey: scheduleJobKey(schedule.name, tick), actor: `schedule:${schedule.name}` });
    return {
      name,
      description: `enqueues ${schedule.job} (schedule ${schedule.name})`,
      schedule: schedule.cron,
      ...(schedule.timezone !== undefined ? { timezone: schedule.timezone } : {}),
      onMissed: schedule.onMissed,
      overlaps: true,
      supportsDryRun: false,
      async run(ctx) {
        faultPoint('schedule.after_claim');
        const job = await enqueueFor(ctx.tick);
        ctx.logger.info({ jobId: job.id, job: schedule.job, created: job.created }, job.created ? 'scheduled job enqueued' : 'scheduled job already enqueued for this tick');
        let recovered = 0;
        for (const seen of seenTo) if (seen < ctx.tick - abandonedWithinMs) seenTo.delete(seen);
        for (const tick of await abandonedTicks(ledger, name, ctx.tick)) {
          if (seenTo.has(tick)) continue;
          const late = await enqueueFor(tick);
          seenTo.add(tick);
          if (!late.created) continue;
          recovered++;
          ctx.logger.warn({ jobId: late.id, job: schedule.job, abandonedTick: tick }, 'enqueued the job of a tick whose run was abandoned before it enqueued it');
        }
        return { enqueued: job.created ? 1 : 0, alreadyEnqueued: job.created ? 0 : 1, recoveredAbandoned: recovered };
      },
    };
  });
}

/** Recent ticks of the task, other than `tick`, whose run was declared abandoned (its process died). */
async function abandonedTicks(ledger: Ledger, task: string, tick: number): Promise<number[]> {
  const failed = await listMaintenanceRuns(ledger, { task, status: 'failed', limit: abandonedPerRun });
  return failed.filter((run) => run.tick !== tick && run.tick >= tick - abandonedWithinMs && (run.error as { code?: unknown } | null)?.code === 'abandoned').map((run) => run.tick);
}
