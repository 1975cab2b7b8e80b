/**
 * Runs maintenance tasks for ticks: claims the (task, tick) row, keeps it alive with a heartbeat while
 * the task runs, records the outcome and counts; and finds the ticks nobody ran.
 *
 * Missed ticks. The process that inserts a tick's row (claimed, or recorded as an overlap) then looks
 * back over the window from the previous recorded tick to this one and records every scheduled tick
 * in it that has no row as `missed`. Consecutive windows join up, so every tick is looked at once by
 * someone. Windows end `missedGraceMs` before their tick, because a tick that young may still be
 * about to be claimed by a slower process. When the scheduler starts it looks at the window from the
 * task's newest recorded tick to now the same way (ticks of a downtime), and with the `run-once`
 * policy it also runs the task once for them: it claims the newest missed tick as a `catch-up` run and
 * records the others in the same transaction, so another process starting at the same moment finds
 * all of them taken. At most `maxMissedRows` rows are written per window; older missed ticks are
 * counted and the count noted on the oldest row written (or on the catch-up run's counts).
 *
 * Abandoned runs. A process that dies mid-run leaves its row `running`; its heartbeat stops. Before
 * every claim (and in `status()`) rows whose heartbeat is older than `staleAfterMs` are declared
 * `failed` with error code `abandoned`. Until then, new ticks of that task are recorded as missed
 * (reason `overlap`): one run of a task at a time across all processes.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { InvalidOptionError } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { abandonStaleRuns, checkAuditContext, claimTick, finishRun, heartbeatRun, listMaintenanceRuns, recordedTaskNames, scheduledTickRange, type AuditContext, type Ledger, type MaintenanceCounts, type MaintenanceRunRow, type SerializedError } from '../../store/index.js';
import { serializeError } from '../serialize-error.js';
import { CronSchedule } from '../../cron-schedule.js';
import { findMissedTicks, recordMissed } from './missed-ticks.js';
import type { MaintenanceTask, MissedTickPolicy } from './task.js';

export interface MaintenanceRunnerOptions {
  ledger: Ledger;
  tasks: readonly MaintenanceTask[];
  logger: Logger;
  /** The time zone schedules are read in. */
  timezone: string;
  /** A `running` row with no heartbeat for this long was abandoned. */
  staleAfterMs: number;
  /** Cap on a recorded error's message and stack. */
  maxErrorChars: number;
  /** Recorded as `claimed_by`. Default `host:pid:random`. */
  claimant?: string;
  /** Ticks younger than this are not called missed yet. Default 60000. */
  missedGraceMs?: number;
  /** Missed ticks written as rows per window; older ones are only counted. Default 100. */
  maxMissedRows?: number;
  /** How often a running claim's heartbeat is refreshed. Default `staleAfterMs / 4`. */
  heartbeatIntervalMs?: number;
  /**
   * Told of every tick this runner handled (`ticks` is 1) and of the missed ticks it recorded, by
   * task and outcome: the `jobledger_maintenance_ticks_total` metric. Must not throw.
   */
  onTicks?: (task: string, outcome: TickOutcome, ticks: number) => void;
}

export type RunOutcome = 'succeeded' | 'failed' | 'taken' | 'overlap' | 'dry-run';

/** A tick's outcome as counted: a run's, or `missed` (nobody ran it; recorded by this process). */
export type TickOutcome = RunOutcome | 'missed';

export interface MaintenanceRunResult {
  task: string;
  tick: number;
  /** `taken`: another process has this tick; `overlap`: another run of the task was still going. */
  outcome: RunOutcome;
  /** The row this run wrote (as finished) or found; null for a dry run. */
  run: MaintenanceRunRow | null;
  counts: MaintenanceCounts | null;
  error: SerializedError | null;
}

export interface CatchUpResult {
  task: string;
  /** Missed ticks written as rows by this call. */
  recorded: number;
  /** Missed ticks beyond the row cap: counted, not written one by one. */
  omitted: number;
  /** The run-once catch-up run, when the policy asked for one and this process got the claim. */
  ran: MaintenanceRunResult | null;
}

export interface MaintenanceTaskStatus {
  task: string;
  description: string;
  /** Cron expression, or null when the task is not scheduled. */
  schedule: string | null;
  timezone: string;
  onMissed: MissedTickPolicy;
  supportsDryRun: boolean;
  /** The row with the newest tick: the last run, a run in progress, or a missed tick. */
  lastRun: MaintenanceRunRow | null;
  /** The next scheduled tick (epoch ms), or null when the task is not scheduled. */
  nextRunAt: number | null;
  /** False for a task only other processes have (its rows are listed; its schedule is theirs). */
  known: boolean;
}

export class MaintenanceRunner {
  readonly claimant: string;
  private readonly tasks = new Map<string, MaintenanceTask>();
  private readonly schedules = new Map<string, CronSchedule>();
  private readonly missedGraceMs: number;
  private readonly maxMissedRows: number;

  constructor(private readonly options: MaintenanceRunnerOptions) {
    for (const task of options.tasks) {
      if (!/^[a-z][a-z0-9-]{0,99}$/.test(task.name)) throw new InvalidOptionError('maintenance task name', 'lowercase letters, digits and "-"', task.name);
      if (this.tasks.has(task.name)) throw new InvalidOptionError('maintenance task name', 'a name used once', task.name);
      this.tasks.set(task.name, task);
    }
    this.claimant = options.claimant ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    this.missedGraceMs = options.missedGraceMs ?? 60_000;
    this.maxMissedRows = options.maxMissedRows ?? 100;
  }

  get timezone(): string {
    return this.options.timezone;
  }

  /** The time zone `task`'s schedule is read in: its own, or the scheduler's. */
  timezoneOf(task: MaintenanceTask): string {
    return task.timezone ?? this.options.timezone;
  }

  /** The task of that name, or a typed error listing the known ones. */
  task(name: string): MaintenanceTask {
    const task = this.tasks.get(name);
    if (!task) throw new InvalidOptionError('task', `one of ${[...this.tasks.keys()].join(', ')}`, name);
    return task;
  }

  allTasks(): MaintenanceTask[] {
    return [...this.tasks.values()];
  }

  /** A scheduled tick came due: claim it, look back for missed ticks, run. */
  async runScheduledTick(name: string, tick: number, signal: AbortSignal): Promise<MaintenanceRunResult> {
    return this.counted(await this.claimAndRunTick(name, tick, signal));
  }

  private async claimAndRunTick(name: string, tick: number, signal: AbortSignal): Promise<MaintenanceRunResult> {
    const task = this.task(name);
    const claim = await claimTick(this.options.ledger, {
      task: name,
      tick,
      triggeredBy: 'schedule',
      allowOverlap: task.overlaps ?? false,
      claimedBy: this.claimant,
      now: Date.now(),
      staleAfterMs: this.options.staleAfterMs,
    });
    if (claim.kind === 'taken') return { task: name, tick, outcome: 'taken', run: claim.run, counts: null, error: null };
    if (claim.kind === 'overlap' && !claim.recorded) return { task: name, tick, outcome: 'taken', run: null, counts: null, error: null };
    // This process wrote the tick's row, so the window before it is ours to check.
    await this.recordMissedBefore(task, tick).catch((error: unknown) =>
      this.options.logger.warn({ err: error, task: name }, 'could not check for missed maintenance ticks; the next tick looks again'),
    );
    if (claim.kind === 'overlap') {
      this.options.logger.warn({ task: name, tick, runningId: claim.running.id, runningSince: claim.running.startedAt }, 'maintenance tick skipped: the previous run is still going');
      return { task: name, tick, outcome: 'overlap', run: null, counts: null, error: null };
    }
    return this.execute(task, claim.run, signal);
  }

  /**
   * Runs a task now, by hand. It claims a tick equal to now (the next free millisecond), so the run is
   * recorded like any other; a dry run claims nothing and records nothing, because it changes nothing.
   */
  async runNow(name: string, options: { dryRun?: boolean; signal?: AbortSignal; audit?: AuditContext } = {}): Promise<MaintenanceRunResult> {
    return this.counted(await this.runTaskNow(name, options));
  }

  private async runTaskNow(name: string, options: { dryRun?: boolean; signal?: AbortSignal; audit?: AuditContext }): Promise<MaintenanceRunResult> {
    const task = this.task(name);
    // A manual run that changes things is an operator action: its claim writes its audit row.
    const audit = options.audit ? checkAuditContext(options.audit) : undefined;
    const signal = options.signal ?? new AbortController().signal;
    if (options.dryRun) {
      if (!task.supportsDryRun) throw new InvalidOptionError('dryRun', `a task that supports it (${this.dryRunTasks().join(', ') || 'none'})`, name);
      const now = Date.now();
      const counts = sanitizeCounts(await task.run({ now, tick: now, dryRun: true, signal, logger: this.taskLogger(name, now) }));
      return { task: name, tick: now, outcome: 'dry-run', run: null, counts, error: null };
    }
    // Cron ticks fall on whole seconds; a manual tick never does, so it cannot take a scheduled one.
    const offSecond = (ms: number): number => (ms % 1000 === 0 ? ms + 1 : ms);
    for (let tick = offSecond(Date.now()), tries = 0; ; tick = offSecond(tick + 1), tries++) {
      const claim = await claimTick(this.options.ledger, {
        task: name,
        tick,
        triggeredBy: 'manual',
        claimedBy: this.claimant,
        now: Date.now(),
        staleAfterMs: this.options.staleAfterMs,
        ...(audit ? { audit } : {}),
      });
      if (claim.kind === 'claimed') return this.execute(task, claim.run, signal);
      if (tries >= 10) return { task: name, tick, outcome: 'taken', run: claim.kind === 'taken' ? claim.run : null, counts: null, error: null };
    }
  }

  /**
   * Looks for ticks of the task that nobody ran between its newest recorded tick and `now`, records
   * them as missed and, with the `run-once` policy, runs the task once for them. A task that has never
   * run has nothing to miss.
   */
  async catchUp(name: string, options: { now?: number; policy?: MissedTickPolicy; signal?: AbortSignal } = {}): Promise<CatchUpResult> {
    const task = this.task(name);
    const result: CatchUpResult = { task: name, recorded: 0, omitted: 0, ran: null };
    if (task.schedule === null) return result;
    const now = options.now ?? Date.now();
    const range = await scheduledTickRange(this.options.ledger, name);
    if (range === null) return result;
    const { missing, omitted } = await findMissedTicks(this.options.ledger, task.name, this.schedule(task), this.maxMissedRows, Math.max(range.first, range.last - this.missedGraceMs), now - this.missedGraceMs);
    if (missing.length === 0 && !omitted) return result;
    result.omitted = omitted?.count ?? 0;

    const policy = options.policy ?? task.onMissed;
    const newest = missing[missing.length - 1];
    if (policy === 'run-once' && newest !== undefined) {
      const older = missing.slice(0, -1);
      const claim = await claimTick(this.options.ledger, {
        task: name,
        tick: newest,
        triggeredBy: 'catch-up',
        allowOverlap: task.overlaps ?? false,
        claimedBy: this.claimant,
        now: Date.now(),
        staleAfterMs: this.options.staleAfterMs,
        missed: { ticks: older, reason: 'not-run' },
      });
      if (claim.kind === 'claimed') {
        result.recorded = claim.missedRecorded;
        this.logMissed(name, missing.length, result.omitted, 'running the task once for them now');
        const extra: MaintenanceCounts = omitted ? { omittedMissedTicks: omitted.count, omittedFromTick: omitted.fromTick, omittedUntilTick: omitted.untilTick } : {};
        result.ran = this.counted(await this.execute(task, claim.run, options.signal ?? new AbortController().signal, extra));
        this.countMissed(name, result.recorded + result.omitted);
        return result;
      }
      // Another process is catching up (or the tick overlapped a running run): just record.
      result.recorded = (claim.kind === 'overlap' && claim.recorded ? 1 : 0) + (await recordMissed(this.options.ledger, { task: name, ticks: older, claimedBy: this.claimant }));
      if (omitted) result.recorded += await recordMissed(this.options.ledger, { task: name, ticks: [], omitted, claimedBy: this.claimant });
      this.countMissed(name, result.recorded + result.omitted);
      return result;
    }
    result.recorded = await recordMissed(this.options.ledger, { task: name, ticks: missing, omitted, claimedBy: this.claimant });
    this.logMissed(name, missing.length, result.omitted, 'recorded');
    this.countMissed(name, missing.length + result.omitted);
    return result;
  }

  /** Every task's schedule, last row and next tick. Declares abandoned runs first. */
  async status(now = Date.now()): Promise<MaintenanceTaskStatus[]> {
    await abandonStaleRuns(this.options.ledger, { now, staleAfterMs: this.options.staleAfterMs });
    const statuses: MaintenanceTaskStatus[] = [];
    for (const task of this.tasks.values()) {
      const [lastRun] = await listMaintenanceRuns(this.options.ledger, { task: task.name, limit: 1 });
      statuses.push({
        task: task.name,
        description: task.description,
        schedule: task.schedule,
        timezone: this.timezoneOf(task),
        onMissed: task.onMissed,
        supportsDryRun: task.supportsDryRun,
        lastRun: lastRun ?? null,
        nextRunAt: task.schedule === null ? null : this.schedule(task).next(now),
        known: true,
      });
    }
    // Tasks other processes ran that this one does not have: the schedules of a worker's
    // configuration module, which read-only commands do not run, or a task since removed.
    for (const name of await recordedTaskNames(this.options.ledger)) {
      if (this.tasks.has(name)) continue;
      const [lastRun] = await listMaintenanceRuns(this.options.ledger, { task: name, limit: 1 });
      statuses.push({
        task: name,
        description: 'recorded by another process; not a task of this one (a schedule of a configuration module this process did not load, or a task since removed)',
        schedule: null,
        timezone: this.options.timezone,
        onMissed: 'record',
        supportsDryRun: false,
        lastRun: lastRun ?? null,
        nextRunAt: null,
        known: false,
      });
    }
    return statuses;
  }

  /** Releases the cron matchers. */
  close(): void {
    for (const schedule of this.schedules.values()) schedule.dispose();
    this.schedules.clear();
  }

  private async execute(task: MaintenanceTask, run: MaintenanceRunRow, signal: AbortSignal, extraCounts: MaintenanceCounts = {}): Promise<MaintenanceRunResult> {
    const { ledger, logger } = this.options;
    const startedAt = Date.now();
    const log = this.taskLogger(task.name, run.tick);
    log.info({ runId: run.id, triggeredBy: run.triggeredBy }, 'maintenance run started');

    let heartbeat: Promise<unknown> = Promise.resolve();
    const timer = setInterval(() => {
      heartbeat = heartbeat
        .then(() => heartbeatRun(ledger, run.id, Date.now()))
        .then((alive) => {
          if (!alive) log.warn({ runId: run.id }, 'this maintenance run was declared abandoned while it ran; its outcome will not be recorded');
        })
        .catch((error: unknown) => log.warn({ err: error, runId: run.id }, 'maintenance heartbeat failed'));
    }, this.options.heartbeatIntervalMs ?? Math.max(250, Math.floor(this.options.staleAfterMs / 4)));
    timer.unref();

    let counts: MaintenanceCounts = {};
    let error: SerializedError | null = null;
    try {
      counts = sanitizeCounts(await task.run({ now: startedAt, tick: run.tick, dryRun: false, signal, logger: log }));
    } catch (thrown) {
      error = serializeError(thrown, this.options.maxErrorChars);
    } finally {
      clearInterval(timer);
      await heartbeat;
    }
    if (!error && signal.aborted) {
      error = {
        name: 'Interrupted',
        message: 'the scheduler stopped (shutdown) while the task ran; the counts are what it did before stopping, and the next tick goes on',
      };
    }
    counts = { ...counts, ...extraCounts };
    const finishedAt = Date.now();
    const status = error ? 'failed' : 'succeeded';
    const recorded = await finishRun(ledger, { id: run.id, status, counts, error, now: finishedAt });
    if (!recorded) logger.warn({ task: task.name, runId: run.id, counts }, 'maintenance run finished after it was declared abandoned; outcome not recorded');
    if (error) log.warn({ runId: run.id, err: error, counts }, 'maintenance run failed');
    else log.info({ runId: run.id, counts, durationMs: finishedAt - startedAt }, 'maintenance run succeeded');
    return {
      task: task.name,
      tick: run.tick,
      outcome: status,
      run: { ...run, status, heartbeatAt: finishedAt, finishedAt, durationMs: finishedAt - (run.startedAt ?? startedAt), counts, error },
      counts,
      error,
    };
  }

  private async recordMissedBefore(task: MaintenanceTask, tick: number): Promise<void> {
    const range = await scheduledTickRange(this.options.ledger, task.name, tick);
    if (range === null || task.schedule === null) return;
    // Nothing before the task's oldest row counts: the schedule was not running yet.
    const { missing, omitted } = await findMissedTicks(this.options.ledger, task.name, this.schedule(task), this.maxMissedRows, Math.max(range.first, range.last - this.missedGraceMs), tick - this.missedGraceMs);
    if (missing.length === 0 && !omitted) return;
    await recordMissed(this.options.ledger, { task: task.name, ticks: missing, omitted, claimedBy: this.claimant });
    this.logMissed(task.name, missing.length, omitted?.count ?? 0, 'recorded');
    this.countMissed(task.name, missing.length + (omitted?.count ?? 0));
  }

  /** Tells `onTicks` of a tick this runner handled; returns the result. */
  private counted(result: MaintenanceRunResult): MaintenanceRunResult {
    this.options.onTicks?.(result.task, result.outcome, 1);
    return result;
  }

  private countMissed(task: string, ticks: number): void {
    if (ticks > 0) this.options.onTicks?.(task, 'missed', ticks);
  }

  private logMissed(task: string, missed: number, omitted: number, action: string): void {
    this.options.logger.warn({ task, missed, omitted }, `maintenance ticks nobody ran: ${action}`);
  }

  private schedule(task: MaintenanceTask): CronSchedule {
    let schedule = this.schedules.get(task.name);
    if (!schedule) {
      schedule = new CronSchedule(task.schedule ?? '', this.timezoneOf(task));
      this.schedules.set(task.name, schedule);
    }
    return schedule;
  }

  private taskLogger(task: string, tick: number): Logger {
    return this.options.logger.child({ maintenanceTask: task, tick });
  }

  private dryRunTasks(): string[] {
    return [...this.tasks.values()].filter((t) => t.supportsDryRun).map((t) => t.name);
  }
}

/** Keeps only finite numbers: counts are stored as JSON and shown in tables. */
function sanitizeCounts(value: unknown): MaintenanceCounts {
  const counts: MaintenanceCounts = {};
  if (typeof value !== 'object' || value === null) return counts;
  for (const [key, count] of Object.entries(value)) if (typeof count === 'number' && Number.isFinite(count)) counts[key] = count;
  return counts;
}
