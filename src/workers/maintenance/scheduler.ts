/**
 * The maintenance scheduler: node-cron only says "tick T of task X is due"; everything else (the
 * claim that makes the tick run once across processes, the run, its record) is the runner's. Every
 * process may run a scheduler over the same database: each tick still runs once.
 *
 * `stop()` stops the cron timers, aborts the signal that batched tasks check between batches, and
 * waits for whatever is in flight, so that it can be called before the connections close.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from '../../logger.js';
import type { CatchUpResult, MaintenanceRunner, MaintenanceRunResult } from './runner.js';

export class MaintenanceScheduler {
  private readonly cronTasks: ScheduledTask[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private state: 'new' | 'running' | 'stopped' = 'new';
  private stopping: Promise<void> | undefined;

  constructor(
    private readonly runner: MaintenanceRunner,
    private readonly logger: Logger,
    /** Called with every tick's result (tests count claims with it). */
    private readonly onResult?: (result: MaintenanceRunResult) => void,
  ) {}

  get isRunning(): boolean {
    return this.state === 'running';
  }

  /**
   * Starts the cron timers of every scheduled task and, in the background, the catch-up of ticks
   * missed while no scheduler ran (see runner.ts); `stop()` waits for that too.
   */
  start(): void {
    if (this.state !== 'new') throw new Error(`the maintenance scheduler was ${this.state === 'running' ? 'started already' : 'stopped'}`);
    this.state = 'running';
    const cronLogger = {
      info: (message: string) => this.logger.debug({ source: 'node-cron' }, message),
      warn: (message: string) => this.logger.debug({ source: 'node-cron' }, message),
      error: (message: string | Error, err?: Error) => this.logger.warn({ source: 'node-cron', err: err ?? message }, 'node-cron error'),
      debug: (message: string | Error) => this.logger.debug({ source: 'node-cron' }, String(message)),
    };
    const scheduled = this.runner.allTasks().filter((t) => t.schedule !== null);
    for (const task of scheduled) {
      const cronTask = cron.createTask(task.schedule ?? '', (context) => this.onTick(task.name, context.date.getTime()), {
        name: `jobledger:${task.name}`,
        timezone: this.runner.timezoneOf(task),
        logger: cronLogger,
      });
      // Ticks a blocked event loop made node-cron skip are found by the runner's missed-tick check.
      cronTask.on('execution:missed', (context) => this.logger.debug({ task: task.name, tick: context.date.getTime() }, 'node-cron missed a tick'));
      this.cronTasks.push(cronTask);
    }
    for (const task of this.cronTasks) void task.start();
    for (const task of scheduled) {
      this.track(
        this.runner.catchUp(task.name, { signal: this.abort.signal }).then((result: CatchUpResult) => {
          if (result.ran) this.onResult?.(result.ran);
        }),
        task.name,
      );
    }
    this.logger.info(
      { tasks: scheduled.map((t) => `${t.name} (${t.schedule ?? ''})`), timezone: this.runner.timezone, claimant: this.runner.claimant },
      'maintenance scheduler started',
    );
  }

  /** Stops the timers, asks running tasks to stop between batches, and waits for them. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  /** Resolves when nothing is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  private async doStop(): Promise<void> {
    const wasRunning = this.state === 'running';
    this.state = 'stopped';
    for (const task of this.cronTasks) {
      await task.stop();
      await task.destroy();
    }
    this.cronTasks.length = 0;
    this.abort.abort(new Error('the maintenance scheduler is stopping'));
    await this.idle();
    this.runner.close();
    if (wasRunning) this.logger.info({ claimant: this.runner.claimant }, 'maintenance scheduler stopped');
  }

  private onTick(task: string, tick: number): void {
    if (this.state !== 'running') return;
    this.track(
      this.runner.runScheduledTick(task, tick, this.abort.signal).then((result) => this.onResult?.(result)),
      task,
    );
  }

  private track(promise: Promise<unknown>, task: string): void {
    const tracked = promise
      .catch((error: unknown) => this.logger.warn({ err: error, task }, 'maintenance tick failed; the next tick tries again'))
      .finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }
}
