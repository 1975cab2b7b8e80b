/**
 * Cron schedules: validation and tick arithmetic. node-cron triggers the runs, but it can only say
 * what comes next from now; finding the ticks between a last recorded run and now (the missed ones)
 * needs an iterator, which cron-parser (BullMQ's own cron library, pinned in package.json) provides.
 *
 * The two libraries must agree on what a tick is, so an expression is accepted only if both parse it
 * and cron-parser accepts it in strict mode, which rejects what they read differently (node-cron ANDs
 * day-of-month with day-of-week, cron-parser ORs them) and node-cron-only syntax (`L-3`, `15W`).
 * Around daylight-saving changes they still differ in named time zones, so every tick cron-parser
 * yields is checked against node-cron's own matcher: a tick node-cron would not fire is no tick.
 *
 * Both libraries (and luxon beneath cron-parser) are loaded on first use, with `require`: reading a
 * configuration whose schedules are the defaults, as every CLI command does, needs neither.
 */
import { createRequire } from 'node:module';
import type { CronExpression } from 'cron-parser';
import type { ScheduledTask } from 'node-cron';

const require = createRequire(import.meta.url);

let libraries: { parser: typeof import('cron-parser').CronExpressionParser; cron: typeof import('node-cron') } | undefined;

function cronLibraries(): NonNullable<typeof libraries> {
  libraries ??= {
    parser: (require('cron-parser') as typeof import('cron-parser')).CronExpressionParser,
    cron: require('node-cron') as typeof import('node-cron'),
  };
  return libraries;
}

/** cron-parser's strict mode wants six fields; five-field expressions fire at second 0. */
export function normalizeCron(expression: string): string {
  const trimmed = expression.trim().replace(/\s+/g, ' ');
  return !trimmed.startsWith('@') && trimmed.split(' ').length === 5 ? `0 ${trimmed}` : trimmed;
}

/** Why `expression` is not a usable schedule in `timezone`, or undefined when it is. */
export function cronProblem(expression: string, timezone: string): string | undefined {
  if (!isTimeZone(timezone)) return `unknown time zone ${JSON.stringify(timezone)}`;
  const { cron, parser } = cronLibraries();
  if (!cron.validate(expression)) return `not a cron expression node-cron accepts: ${JSON.stringify(expression)}`;
  try {
    parser.parse(normalizeCron(expression), { tz: timezone, strict: true }).next();
  } catch (error) {
    return `${JSON.stringify(expression)}: ${(error as Error).message} (use 5 or 6 standard fields; not both day-of-month and day-of-week)`;
  }
  return undefined;
}

export function isTimeZone(timezone: string): boolean {
  // The default: known without building a formatter (whose first use loads the time-zone data).
  if (timezone === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

export interface TickWindow {
  /** Ticks in the window, oldest first, at most `max` of them (the newest ones). */
  ticks: number[];
  /** Older ticks in the window beyond `max` (counted up to `countLimit`). */
  older: { count: number; oldest: number; newest: number; countIsLowerBound: boolean } | null;
}

/** Ticks cron-parser enumerates (and node-cron would fire), in epoch ms. Call `dispose()` when done. */
export class CronSchedule {
  private matcher: ScheduledTask | undefined;

  constructor(
    readonly expression: string,
    readonly timezone: string,
  ) {
    const problem = cronProblem(expression, timezone);
    if (problem) throw new Error(problem);
  }

  /** The first tick strictly after `after`, or null if there is none. */
  next(after: number): number | null {
    const iterator = this.iterator(after);
    for (let i = 0; i < 10_000 && iterator.hasNext(); i++) {
      const tick = iterator.next().getTime();
      if (this.fires(tick)) return tick;
    }
    return null;
  }

  /** The last tick strictly before `before`, or null if there is none. */
  previous(before: number): number | null {
    const iterator = this.iterator(before);
    for (let i = 0; i < 10_000 && iterator.hasPrev(); i++) {
      const tick = iterator.prev().getTime();
      if (this.fires(tick)) return tick;
    }
    return null;
  }

  /** Ticks in (`fromExclusive`, `toInclusive`]: the newest `max`, and a count of the older rest. */
  ticksBetween(fromExclusive: number, toInclusive: number, max: number, countLimit = 10_000): TickWindow {
    const newestFirst: number[] = [];
    const older = { count: 0, oldest: 0, newest: 0, countIsLowerBound: false };
    if (toInclusive <= fromExclusive) return { ticks: [], older: null };
    const iterator = this.iterator(toInclusive + 1);
    while (iterator.hasPrev()) {
      const tick = iterator.prev().getTime();
      if (tick <= fromExclusive) break;
      if (!this.fires(tick)) continue;
      if (newestFirst.length < max) {
        newestFirst.push(tick);
        continue;
      }
      if (older.count === 0) older.newest = tick;
      older.oldest = tick;
      if (++older.count >= countLimit) {
        older.countIsLowerBound = true;
        break;
      }
    }
    return { ticks: newestFirst.reverse(), older: older.count ? older : null };
  }

  dispose(): void {
    void this.matcher?.destroy();
    this.matcher = undefined;
  }

  private fires(tick: number): boolean {
    // An unstarted node-cron task, used only for its matcher (createTask starts no timer).
    this.matcher ??= cronLibraries().cron.createTask(this.expression, () => undefined, { timezone: this.timezone });
    return this.matcher.match(new Date(tick));
  }

  private iterator(currentDate: number): CronExpression {
    return cronLibraries().parser.parse(normalizeCron(this.expression), { currentDate: new Date(currentDate), tz: this.timezone, strict: true });
  }
}
