/**
 * The built-in maintenance tasks, bound to this process's ledger, dispatcher and configuration. Each
 * is a plain batched function elsewhere (store/maintenance/, store/pipelines/pipeline-archive.ts,
 * store/state/snapshot-rotation.ts, ./reconcile.ts); here they get a name, a schedule and a policy.
 */
import type { Config, MaintenanceTaskName, MissedTickPolicy } from '../../config.js';
import type { Dispatcher } from '../../jobs/dispatcher.js';
import type { JobRegistry } from '../../jobs/registry.js';
import type { Logger } from '../../logger.js';
import { archiveFinishedPipelines, catchUpSearchIndex, pruneByRetention, rotateSnapshots, sqliteUpkeep, unfinishedQueues, type Ledger } from '../../store/index.js';
import { disagreementsOf, reconcileRedis, type Disagreements } from './reconcile.js';
import type { MaintenanceTask, MaintenanceTaskContext } from './task.js';
import type { ColdArchive } from '../../jobs/archive/cold-archive.js';

export interface BuiltInTaskDeps {
  ledger: Ledger;
  dispatcher: Dispatcher;
  registry: JobRegistry;
  config: Pick<Config, 'maintenance' | 'lockDurationMs' | 'relayGraceMs' | 'coldArchive'>;
  /** The cold archive: with `JOBLEDGER_ARCHIVE_AFTER_DAYS` set, the prune task moves finished jobs there instead of deleting them. */
  archive?: () => ColdArchive;
  logger: Logger;
  /** Told of what each reconcile run (not a dry run) found Redis and the ledger disagree on, by kind. Must not throw. */
  onDisagreements?: (found: Disagreements) => void;
}

/**
 * A daily prune or a reconcile that missed its tick should still happen soon (run once at start);
 * the frequent housekeeping tasks just record the miss, their next tick comes soon enough.
 */
export const defaultMissedPolicy: Readonly<Record<MaintenanceTaskName, MissedTickPolicy>> = {
  prune: 'run-once',
  reconcile: 'run-once',
  'sqlite-upkeep': 'record',
  'archive-pipelines': 'record',
  'rotate-snapshots': 'record',
  'search-index': 'record',
};

/** Rows one run of the archive and rotation tasks handles at most; the next tick takes the rest. */
const perRunLimit = 10_000;

/** Events one run of the search indexer takes at most (a backlog after an upgrade goes over several ticks). */
const searchEventsPerRun = 200_000;

export function builtInTasks(deps: BuiltInTaskDeps): MaintenanceTask[] {
  const { ledger, config } = deps;
  const m = config.maintenance;
  const task = (
    name: MaintenanceTaskName,
    description: string,
    supportsDryRun: boolean,
    run: MaintenanceTask['run'],
  ): MaintenanceTask => ({
    name,
    description,
    schedule: m.schedules[name],
    onMissed: m.onMissed[name] ?? defaultMissedPolicy[name],
    supportsDryRun,
    run,
  });

  return [
    task('prune', 'delete (or, with the cold archive on, archive) finished jobs past their retention, with their attempts and events; old run, pipeline and state events; audit rows past theirs', true, (ctx) =>
      prune(deps, ctx),
    ),
    task('reconcile', 'hand jobs Redis lost back to it; count Redis jobs the ledger does not know', true, (ctx) => reconcile(deps, ctx)),
    task('sqlite-upkeep', 'SQLite: checkpoint and truncate the WAL, refresh planner statistics (no-op on PostgreSQL)', false, () =>
      sqliteUpkeep(ledger),
    ),
    task('archive-pipelines', 'move finished pipelines to pipeline_history', false, (ctx) =>
      archiveFinishedPipelines(ledger, { olderThanMs: m.archiveAfterHours * 3_600_000, limit: perRunLimit, now: ctx.now }),
    ),
    task('rotate-snapshots', 'delete expired snapshots and all but the newest few per subject', false, async (ctx) => {
      const { expired, rotated } = await rotateSnapshots(ledger, { keepPerSubject: m.snapshotsKeepPerSubject, now: ctx.now, limit: perRunLimit });
      return { expired, rotated };
    }),
    task('search-index', 'add what the event log gained to the full-text search index (each search also does this first)', false, async (ctx) => {
      // Up to what had committed when the run began (on PostgreSQL waiting up to 2 s for open transactions).
      const { events, documents } = await catchUpSearchIndex(ledger, { maxEvents: searchEventsPerRun, waitMs: 2000, signal: ctx.signal, now: ctx.now });
      return { events, documents };
    }),
  ];
}

/**
 * Retention. With the cold archive on (`JOBLEDGER_ARCHIVE_AFTER_DAYS` or a per-queue day count), the
 * finished jobs past the archive's days move to it first, and the prune deletes no jobs: the rest of
 * the retention (other events, old maintenance runs, audit rows) applies as usual.
 */
async function prune(deps: BuiltInTaskDeps, ctx: MaintenanceTaskContext): Promise<Record<string, number>> {
  const m = deps.config.maintenance;
  const { afterDays, afterDaysByQueue } = deps.config.coldArchive;
  const archiving = deps.archive !== undefined && (afterDays !== null || Object.values(afterDaysByQueue).some((days) => days !== null));
  const archived = archiving ? await deps.archive!().run({ now: ctx.now, dryRun: ctx.dryRun, signal: ctx.signal }) : null;
  const pruned = await pruneByRetention(deps.ledger, {
    policy: { defaultDays: m.retentionDays, byQueue: m.retentionDaysByQueue, auditDays: m.auditRetentionDays },
    now: ctx.now,
    dryRun: ctx.dryRun,
    signal: ctx.signal,
    keepJobs: archiving,
  });
  if (!archived) return pruned;
  return {
    ...pruned,
    archivedJobs: archived.jobs, archivedAttempts: archived.attempts, archivedEvents: archived.events,
    archiveSegments: archived.segments, archiveOrphans: archived.orphans,
  };
}

/** How old a running attempt's heartbeat must be (database time) before the reconciler calls it lost. */
export function heartbeatStaleMs(lockDurationMs: number): number {
  return 2 * lockDurationMs;
}

async function reconcile(deps: BuiltInTaskDeps, ctx: MaintenanceTaskContext): Promise<Record<string, number>> {
  const queues = [...new Set([...deps.registry.queues(), ...(await unfinishedQueues(deps.ledger))])].sort();
  const counts = await reconcileRedis(
    { ledger: deps.ledger, dispatcher: deps.dispatcher, queues, logger: deps.logger },
    {
      dryRun: ctx.dryRun,
      now: ctx.now,
      signal: ctx.signal,
      pendingGraceMs: Math.max(deps.config.relayGraceMs, 60_000),
      // The lock plus a margin of one more lock duration (for clock drift and a slow renewal): the
      // worker is gone, not slow. Recovery-time formula in README.md ("Delivery promise").
      heartbeatStaleMs: heartbeatStaleMs(deps.config.lockDurationMs),
    },
  );
  if (!ctx.dryRun) deps.onDisagreements?.(disagreementsOf(counts));
  return counts;
}
