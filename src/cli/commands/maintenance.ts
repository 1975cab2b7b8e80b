/**
 * `jobledger maintenance`: the scheduled tasks, their last run and next run; `jobledger maintenance
 * <task>` runs one now (recorded like a scheduled run; `schedule-<name>` enqueues that schedule's
 * job now, loading the configuration module that defines it); `jobledger reconcile` is short for
 * `jobledger maintenance reconcile`. A run that fails exits non-zero.
 */
import type { Command } from 'commander';
import type { MaintenanceRunResult, MaintenanceTaskStatus } from '../../workers/maintenance/runner.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';

interface RunOptions {
  dryRun?: boolean;
  actor?: string;
  json?: boolean;
}

export function registerMaintenanceCommands(program: Command, global: () => GlobalOptions): void {
  program
    .command('maintenance [task]')
    .description('list maintenance tasks with their last and next run; with a task, run it now')
    .option('--dry-run', 'report what the task would do and change nothing (prune, reconcile)')
    .option('--actor <name>', 'who runs it, recorded in the audit log (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (task: string | undefined, opts: RunOptions) => {
      if (task === undefined) await listTasks(global(), opts);
      else await runTask(global(), task, opts);
    });

  program
    .command('reconcile')
    .description('hand jobs Redis lost back to it and count Redis jobs the ledger does not know (maintenance reconcile)')
    .option('--dry-run', 'report only')
    .option('--actor <name>', 'who runs it, recorded in the audit log (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (opts: RunOptions) => runTask(global(), 'reconcile', opts));
}

async function listTasks(global: GlobalOptions, opts: RunOptions): Promise<void> {
  await withJobLedger(global, {}, async (jl) => {
    const statuses = await jl.maintenance.status();
    if (opts.json) return printJson(statuses);
    printTable(statuses.map(statusRow));
  });
}

async function runTask(global: GlobalOptions, task: string, opts: RunOptions): Promise<void> {
  // Reconcile covers the queues of the job types (besides those with unfinished jobs), and a
  // schedule's run enqueues its job: both load the configuration module.
  const needsJobTypes = task === 'reconcile' || task.startsWith('schedule-');
  await withJobLedger(global, { needsRedis: needsJobTypes, jobTypes: needsJobTypes }, async (jl) => {
    const result = await jl.maintenance.run(task, { dryRun: opts.dryRun ?? false, source: 'cli', ...(opts.actor !== undefined ? { actor: opts.actor } : {}) });
    if (opts.json) printJson(result);
    else printTable([resultRow(result)], { cut: false });
    if (result.outcome === 'failed' || result.outcome === 'taken') process.exitCode = 1;
  });
}

function statusRow(s: MaintenanceTaskStatus): Record<string, string> {
  return {
    task: s.task,
    schedule: s.schedule !== null ? `${s.schedule} (${s.timezone})` : s.known ? 'off' : "another process's",
    'last tick': formatTime(s.lastRun?.tick),
    outcome: s.lastRun ? `${s.lastRun.status}${s.lastRun.triggeredBy === 'schedule' ? '' : ` (${s.lastRun.triggeredBy})`}` : '',
    counts: shorten(formatCounts(s.lastRun?.counts), 60),
    'next run': formatTime(s.nextRunAt),
  };
}

function resultRow(r: MaintenanceRunResult): Record<string, string> {
  const error = r.error ? `${r.error.name}: ${r.error.message}` : '';
  return {
    task: r.task,
    tick: formatTime(r.tick),
    outcome: r.outcome,
    counts: formatCounts(r.counts),
    'duration ms': r.run?.durationMs === null || r.run?.durationMs === undefined ? '' : String(r.run.durationMs),
    error: shorten(error, 80),
  };
}

function formatCounts(counts: unknown): string {
  if (typeof counts !== 'object' || counts === null) return '';
  return Object.entries(counts)
    .map(([key, value]) => `${key}=${typeof value === 'number' ? value : JSON.stringify(value)}`)
    .join(' ');
}
