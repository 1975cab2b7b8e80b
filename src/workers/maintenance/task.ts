/** What a maintenance task is: a plain function that does bounded work and returns counts. */
import type { MissedTickPolicy } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { MaintenanceCounts } from '../../store/index.js';

export type { MaintenanceCounts, MissedTickPolicy };

export interface MaintenanceTaskContext {
  /** When the run started (epoch ms): the reference time for ages and retention. */
  readonly now: number;
  /**
   * The tick the run is for (epoch ms): the scheduled time, the newest missed one for a catch-up,
   * or the claimed off-second time of a run by hand (`now` for a dry run).
   */
  readonly tick: number;
  /** Report what would be done, change nothing. Only for tasks with `supportsDryRun`. */
  readonly dryRun: boolean;
  /** Aborted when the scheduler stops; a batched task checks it between batches and returns early. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

export interface MaintenanceTask {
  /** Letters, digits and "-", e.g. `prune`. */
  readonly name: string;
  readonly description: string;
  /** Cron expression (5 or 6 fields, read in `timezone`); `null`: run only by hand. */
  readonly schedule: string | null;
  /** The time zone of `schedule`. Default the scheduler's (`JOBLEDGER_MAINTENANCE_TIMEZONE`). */
  readonly timezone?: string;
  /** Ticks nobody ran, found when the scheduler starts: record them, or record them and run once now. */
  readonly onMissed: MissedTickPolicy;
  /**
   * Whether a tick may run while an earlier run of the task is still going (or died and is not yet
   * declared abandoned). Default false: that tick is recorded `missed` (`overlap`), so that two runs
   * of a batched task never work at once. A schedule's run, one idempotent enqueue, allows it.
   */
  readonly overlaps?: boolean;
  readonly supportsDryRun: boolean;
  run(ctx: MaintenanceTaskContext): Promise<MaintenanceCounts>;
}
