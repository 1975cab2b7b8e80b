/**
 * Finding and recording the ticks of a task that nobody ran: scheduled ticks in a window that have
 * no `maintenance_runs` row. See runner.ts for which windows are looked at, and when.
 */
import { recordMissedTicks, recordedTicks, type Ledger } from '../../store/index.js';
import type { CronSchedule } from '../../cron-schedule.js';

export interface MissedTicks {
  /** The newest missed ticks, oldest first, at most the cap. */
  missing: number[];
  /** Older missed ticks beyond the cap: how many, and their span. */
  omitted: { count: number; fromTick: number; untilTick: number } | undefined;
}

/** Scheduled ticks in (`fromExclusive`, `toInclusive`] that have no row: the newest `maxRows`, and a count of the rest. */
export async function findMissedTicks(
  ledger: Ledger,
  task: string,
  schedule: CronSchedule,
  maxRows: number,
  fromExclusive: number,
  toInclusive: number,
): Promise<MissedTicks> {
  const window = schedule.ticksBetween(fromExclusive, toInclusive, maxRows);
  const first = window.older?.oldest ?? window.ticks[0];
  if (first === undefined) return { missing: [], omitted: undefined };
  const recorded = await recordedTicks(ledger, task, first, toInclusive);
  const missing = window.ticks.filter((t) => !recorded.has(t));
  let omitted: MissedTicks['omitted'];
  if (window.older) {
    const { oldest, newest } = window.older;
    const count = window.older.count - [...recorded].filter((t) => t >= oldest && t <= newest).length;
    if (count > 0) omitted = { count, fromTick: oldest, untilTick: newest };
  }
  return { missing, omitted };
}

/** Writes one `missed` row per tick; the omitted count goes on the oldest (a summary row if there is none). */
export function recordMissed(
  ledger: Ledger,
  input: { task: string; ticks: readonly number[]; omitted?: MissedTicks['omitted']; claimedBy: string },
): Promise<number> {
  const { omitted } = input;
  const ticks = input.ticks.length === 0 && omitted ? [omitted.fromTick] : input.ticks;
  return recordMissedTicks(ledger, {
    task: input.task,
    ticks,
    reason: 'not-run',
    claimedBy: input.claimedBy,
    now: Date.now(),
    ...(omitted ? { omitted } : {}),
  });
}
