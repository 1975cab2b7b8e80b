/**
 * What `/metrics` says: the ledger's counts (cached, ledger-counts.ts), the attempts this process
 * started and finished (attempt-metrics.ts), its group commits, workers, watchdog and maintenance,
 * and the process itself. Label sets are bounded: queues, statuses, outcomes, tasks and kinds, never
 * job ids. docs/observability.md lists every metric.
 */
import { attemptStatuses, commitBoundsSeconds, jobStatuses, type GroupCommitStats } from '../store/index.js';
import type { Logger } from '../logger.js';
import type { AttemptMetrics } from './attempt-metrics.js';
import { renderExposition, type MetricFamily, type Sample } from './exposition.js';
import type { LedgerCounts, LedgerCountsSnapshot } from './ledger-counts.js';
import type { LabelledCounter } from './series.js';
import { stateTierFamilies, type StateTierFigures } from './state-tier-metrics.js';

/** What the metrics read from this process's workers. */
export interface WorkerFigures {
  /** Attempts running in this process now. */
  running: number;
  /** Handler threads alive (`threadHandler` job types). */
  handlerThreads: number;
  /** Event loop delay since the previous scrape, in ms, and blocks counted since the worker started; `null` with no worker started. */
  eventLoop: { delayP99Ms: number; delayMaxMs: number; blocks: number } | null;
  /** Consumers the watchdog replaced, by queue and cause, since each worker started. */
  replacements: { queue: string; cause: string; count: number }[];
}

export interface MetricsSources {
  counts: LedgerCounts;
  attempts: AttemptMetrics;
  workers: () => WorkerFigures;
  groupCommit: () => GroupCommitStats;
  /** Maintenance ticks this process handled or recorded missed, by `task` and `outcome`. */
  maintenanceTicks: LabelledCounter;
  /** What this process's reconcile runs found Redis and the ledger disagree on, by `kind`. */
  reconcileDisagreements: LabelledCounter;
  /** The hot state tiers' statistics, if this process has used state (state-tier-metrics.ts). */
  stateTiers?: () => Promise<StateTierFigures | undefined>;
  logger: Logger;
}

/** Statuses whose oldest job's wait is reported: due and not started yet. */
const waitingStatuses = ['pending', 'queued', 'delayed'] as const;

export async function renderMetrics(sources: MetricsSources, now = Date.now()): Promise<string> {
  let snapshot: LedgerCountsSnapshot | undefined;
  try {
    snapshot = await sources.counts.get(now);
  } catch (error) {
    sources.logger.warn({ err: error }, 'metrics: could not read the ledger’s counts; jobledger_ledger_up is 0');
  }
  const tiers = await sources.stateTiers?.().catch(() => undefined);
  return renderExposition([...ledgerFamilies(snapshot, now), ...workerFamilies(sources), ...maintenanceFamilies(sources), ...stateTierFamilies(tiers), ...processFamilies()]);
}

function ledgerFamilies(snapshot: LedgerCountsSnapshot | undefined, now: number): MetricFamily[] {
  const jobs: Sample[] = [];
  const waits: Sample[] = [];
  const attempts: Sample[] = [];
  const backlog: Sample[] = [];
  const backlogAges: Sample[] = [];
  if (snapshot) {
    const queues = [...new Set(snapshot.figures.jobs.map((g) => g.queue))].sort();
    for (const queue of queues) {
      const groups = snapshot.figures.jobs.filter((g) => g.queue === queue);
      for (const status of jobStatuses) jobs.push({ labels: { queue, status }, value: groups.find((g) => g.status === status)?.count ?? 0 });
      for (const status of waitingStatuses) {
        const due = groups.find((g) => g.status === status)?.oldestDueAt ?? null;
        waits.push({ labels: { queue, status }, value: due === null ? 0 : Math.max(0, now - due) / 1000 });
      }
      backlog.push({ labels: { queue }, value: groups.reduce((n, g) => n + g.undispatched, 0) });
      const oldest = groups.reduce<number | null>((o, g) => (g.oldestUndispatchedAt === null ? o : o === null ? g.oldestUndispatchedAt : Math.min(o, g.oldestUndispatchedAt)), null);
      backlogAges.push({ labels: { queue }, value: oldest === null ? 0 : Math.max(0, now - oldest) / 1000 });
    }
    for (const status of attemptStatuses) {
      if (status !== 'running') attempts.push({ labels: { status }, value: snapshot.attemptTotals[status] ?? 0 });
    }
  }
  return [
    { name: 'jobledger_ledger_up', help: 'Whether the last read of the ledger’s counts succeeded (1) or failed (0).', type: 'gauge', samples: [{ value: snapshot ? 1 : 0 }] },
    {
      name: 'jobledger_ledger_counts_age_seconds',
      help: 'Age of the ledger counts exposed (cached for JOBLEDGER_METRICS_CACHE_MS, or 100 times as long as their last read took if longer).',
      type: 'gauge',
      samples: snapshot ? [{ value: Math.max(0, now - snapshot.readAt) / 1000 }] : [],
    },
    { name: 'jobledger_ledger_counts_read_seconds', help: 'How long the last read of the ledger’s counts took.', type: 'gauge', samples: snapshot ? [{ value: snapshot.readSeconds }] : [] },
    { name: 'jobledger_jobs', help: 'Jobs in the ledger by queue and status.', type: 'gauge', samples: jobs },
    {
      name: 'jobledger_oldest_waiting_job_age_seconds',
      help: 'How long the longest-waiting job of the queue and status has been due (0: none due).',
      type: 'gauge',
      samples: waits,
    },
    { name: 'jobledger_attempts_total', help: 'Finished attempts in the ledger by status (never decreasing while this process runs, pruning included).', type: 'counter', samples: attempts },
    {
      name: 'jobledger_relay_backlog_jobs',
      help: 'Jobs committed to the ledger and not handed to Redis yet (the outbox relay’s backlog), by queue.',
      type: 'gauge',
      samples: backlog,
    },
    {
      name: 'jobledger_relay_oldest_undispatched_age_seconds',
      help: 'How long the longest-waiting undispatched job of the queue has waited for the relay since its commit (0: none).',
      type: 'gauge',
      samples: backlogAges,
    },
    {
      name: 'jobledger_attempts_past_lock',
      help: 'Running attempts whose last heartbeat is older than the lock duration, by the database’s clock: their worker is likely gone.',
      type: 'gauge',
      samples: snapshot ? [{ value: snapshot.figures.attemptsPastLock }] : [],
    },
  ];
}

function workerFamilies(sources: MetricsSources): MetricFamily[] {
  const workers = sources.workers();
  const commit = sources.groupCommit();
  const loop = workers.eventLoop;
  return [
    {
      name: 'jobledger_attempt_duration_seconds',
      help: 'Duration of the attempts this process finished, by queue, job type and outcome, as the ledger recorded it.',
      type: 'histogram',
      samples: sources.attempts.durationSamples(),
    },
    {
      name: 'jobledger_pickup_latency_seconds',
      help: 'From when a job became due (enqueue, end of its delay or backoff) to the start of its attempt in this process, by queue and job type.',
      type: 'histogram',
      samples: sources.attempts.pickupSamples(),
    },
    { name: 'jobledger_worker_attempts_running', help: 'Attempts running in this process.', type: 'gauge', samples: [{ value: workers.running }] },
    { name: 'jobledger_worker_handler_threads', help: 'Handler threads alive in this process.', type: 'gauge', samples: [{ value: workers.handlerThreads }] },
    {
      name: 'jobledger_event_loop_delay_p99_seconds',
      help: '99th percentile of the event loop delay since the previous scrape.',
      type: 'gauge',
      samples: loop ? [{ value: loop.delayP99Ms / 1000 }] : [],
    },
    { name: 'jobledger_event_loop_delay_max_seconds', help: 'Longest event loop delay since the previous scrape.', type: 'gauge', samples: loop ? [{ value: loop.delayMaxMs / 1000 }] : [] },
    {
      name: 'jobledger_event_loop_blocks_total',
      help: 'Event loop blocks longer than a quarter of the lock duration (each was logged).',
      type: 'counter',
      samples: loop ? [{ value: loop.blocks }] : [],
    },
    { name: 'jobledger_group_commit_batches_total', help: 'Group-commit batches of attempt starts and outcomes this process committed.', type: 'counter', samples: [{ value: commit.batches }] },
    { name: 'jobledger_group_commit_writes_total', help: 'Writes those batches held.', type: 'counter', samples: [{ value: commit.writes }] },
    {
      name: 'jobledger_group_commit_duration_seconds',
      help: 'How long each group-commit batch took to commit, from its first statement to its last write’s answer.',
      type: 'histogram',
      samples: [{ bounds: commitBoundsSeconds, counts: commit.commitSeconds.counts, sum: commit.commitSeconds.sum }],
    },
    {
      name: 'jobledger_watchdog_replacements_total',
      help: 'BullMQ workers the consumer watchdog replaced, by queue and cause (loop_ended, not_fetching).',
      type: 'counter',
      samples: workers.replacements.map((r) => ({ labels: { queue: r.queue, cause: r.cause }, value: r.count })),
    },
  ];
}

function maintenanceFamilies(sources: MetricsSources): MetricFamily[] {
  return [
    {
      name: 'jobledger_maintenance_ticks_total',
      help: 'Maintenance ticks this process handled, by task and outcome (succeeded, failed, taken, overlap, dry-run), and the ticks it recorded as missed.',
      type: 'counter',
      samples: sources.maintenanceTicks.samples(),
    },
    {
      name: 'jobledger_reconcile_disagreements_total',
      help: 'Disagreements between Redis and the ledger that this process’s reconcile runs found, by kind.',
      type: 'counter',
      samples: sources.reconcileDisagreements.samples(),
    },
  ];
}

function processFamilies(): MetricFamily[] {
  const cpu = process.cpuUsage();
  const memory = process.memoryUsage();
  return [
    { name: 'process_cpu_user_seconds_total', help: 'User CPU time spent.', type: 'counter', samples: [{ value: cpu.user / 1e6 }] },
    { name: 'process_cpu_system_seconds_total', help: 'System CPU time spent.', type: 'counter', samples: [{ value: cpu.system / 1e6 }] },
    { name: 'process_resident_memory_bytes', help: 'Resident memory size.', type: 'gauge', samples: [{ value: memory.rss }] },
    { name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch.', type: 'gauge', samples: [{ value: Math.round(performance.timeOrigin / 1000) }] },
    { name: 'nodejs_heap_used_bytes', help: 'V8 heap used.', type: 'gauge', samples: [{ value: memory.heapUsed }] },
  ];
}
