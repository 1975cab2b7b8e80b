/**
 * `jl.maintenance`: the scheduled maintenance of one process. `start()` runs the scheduler (the
 * `jobledger worker` command does); `run()` runs one task now; `status()` tells what ran and what is
 * next. `stop()` (called by `jl.close()` before any connection closes) stops the scheduler, asks
 * running tasks to stop between batches, and waits for them.
 */
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { AuditSource, Ledger } from '../../store/index.js';
import { defaultActor } from '../../jobs/operator.js';
import { MaintenanceRunner, type MaintenanceRunResult, type MaintenanceTaskStatus, type TickOutcome } from './runner.js';
import { MaintenanceScheduler } from './scheduler.js';
import type { MaintenanceTask } from './task.js';

export interface MaintenanceOptions {
  ledger: Ledger;
  logger: Logger;
  config: Pick<Config, 'maintenance' | 'maxErrorChars'>;
  tasks: readonly MaintenanceTask[];
  /** Recorded as `claimed_by`. Default `host:pid:random`. */
  claimant?: string;
  /** Ticks younger than this are not called missed yet. Default 60000. */
  missedGraceMs?: number;
  /** Called with the result of every scheduled tick this process handled. */
  onResult?: (result: MaintenanceRunResult) => void;
  /** Told of every tick this process handled (scheduled or by hand) and of the missed ticks it recorded (runner.ts). */
  onTicks?: (task: string, outcome: TickOutcome, ticks: number) => void;
}

export interface RunTaskOptions {
  /** Report what the task would do and change nothing (prune, reconcile). Not recorded. Default false. */
  dryRun?: boolean;
  /** Who asked for the run, recorded in its audit row (not for a dry run). Default the OS user. */
  actor?: string;
  /** Where the request came from, recorded in its audit row: `cli`, `api` or `library`. Default `library`. */
  source?: AuditSource;
}

export class Maintenance {
  readonly runner: MaintenanceRunner;
  private scheduler: MaintenanceScheduler | undefined;
  private readonly manualRuns = new Set<Promise<unknown>>();
  private readonly manualAbort = new AbortController();

  constructor(private readonly options: MaintenanceOptions) {
    this.runner = new MaintenanceRunner({
      ledger: options.ledger,
      tasks: options.tasks,
      logger: options.logger,
      timezone: options.config.maintenance.timezone,
      staleAfterMs: options.config.maintenance.staleAfterMs,
      maxErrorChars: options.config.maxErrorChars,
      ...(options.claimant !== undefined ? { claimant: options.claimant } : {}),
      ...(options.missedGraceMs !== undefined ? { missedGraceMs: options.missedGraceMs } : {}),
      ...(options.onTicks ? { onTicks: options.onTicks } : {}),
    });
  }

  /** True while this process's scheduler runs. */
  get isRunning(): boolean {
    return this.scheduler?.isRunning ?? false;
  }

  /** Starts the scheduler in this process (once). Each tick still runs once across all processes. */
  start(): void {
    if (this.scheduler) return;
    this.scheduler = new MaintenanceScheduler(this.runner, this.options.logger, this.options.onResult);
    this.scheduler.start();
  }

  /** Runs one task now; the run is recorded in `maintenance_runs` like a scheduled one (not a dry run). */
  run(task: string, options: RunTaskOptions = {}): Promise<MaintenanceRunResult> {
    const audit = { actor: options.actor ?? defaultActor(), source: options.source ?? 'library' };
    const running = this.runner.runNow(task, { dryRun: options.dryRun ?? false, signal: this.manualAbort.signal, audit });
    const tracked = running.catch(() => undefined).finally(() => this.manualRuns.delete(tracked));
    this.manualRuns.add(tracked);
    return running;
  }

  /** Every task: schedule, last run (tick, outcome, counts) and next run. */
  status(): Promise<MaintenanceTaskStatus[]> {
    return this.runner.status();
  }

  /** Stops the scheduler and waits for every run in flight (scheduled or by hand). */
  async stop(): Promise<void> {
    this.manualAbort.abort(new Error('maintenance is stopping'));
    await this.scheduler?.stop();
    await Promise.allSettled([...this.manualRuns]);
    this.runner.close();
  }
}
