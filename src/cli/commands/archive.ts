/**
 * `jobledger archive`: the cold archive of finished jobs. `run` moves the jobs past their days into
 * segments now (as the prune task does when the archive is on), recorded in the audit log; `list`
 * the segments; `verify` one or all against their SHA-256; `restore` a segment's jobs into the
 * live tables. `show` and `export` find archived jobs on their own.
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { formatTime, printJson, printTable } from '../output.js';

interface RunOptions {
  olderThanDays?: string;
  segmentJobs?: string;
  limit?: string;
  dryRun?: boolean;
  actor?: string;
  reason?: string;
  json?: boolean;
}

export function registerArchiveCommands(program: Command, global: () => GlobalOptions): void {
  const archive = program.command('archive').description('the cold archive of finished jobs: run, list, verify, restore');

  archive
    .command('run')
    .description('move finished jobs past JOBLEDGER_ARCHIVE_AFTER_DAYS (or --older-than-days) into compressed, checksummed segments')
    .option('--older-than-days <days>', 'archive finished jobs that finished at least this many days ago (default: the configuration\'s days)')
    .option('--segment-jobs <n>', 'jobs per segment (default 1000)')
    .option('--limit <n>', 'at most this many jobs in this run (default 100000)')
    .option('--dry-run', 'count what would be archived, write nothing')
    .option('--actor <name>', 'who runs it, recorded in the audit log (default: the OS user)')
    .option('--reason <text>', 'why, recorded in the audit log')
    .option('--json', 'print JSON')
    .action(async (opts: RunOptions) => {
      const days = opts.olderThanDays === undefined ? undefined : wholeNumber('--older-than-days', opts.olderThanDays, 0);
      const segmentJobs = opts.segmentJobs === undefined ? undefined : wholeNumber('--segment-jobs', opts.segmentJobs, 1);
      const limit = opts.limit === undefined ? undefined : wholeNumber('--limit', opts.limit, 1);
      await withJobLedger(global(), {}, async (jl) => {
        const { defaultActor } = await import('../../jobs/operator.js');
        const counts = await jl.archive.run({
          ...(days === undefined ? {} : { policy: { defaultDays: days, byQueue: {} } }),
          ...(segmentJobs === undefined ? {} : { segmentJobs }),
          ...(limit === undefined ? {} : { limit }),
          dryRun: opts.dryRun ?? false,
          audit: { actor: opts.actor ?? defaultActor(), source: 'cli', reason: opts.reason ?? null },
        });
        if (opts.json) return printJson(counts);
        const verb = opts.dryRun ? 'would archive' : 'archived';
        process.stdout.write(
          `${verb} ${counts.jobs} jobs (${counts.attempts} attempts, ${counts.events} events)` +
            (opts.dryRun ? '' : ` in ${counts.segments} segments to ${jl.archive.location}; ${counts.orphans} orphan files removed`) +
            '\n',
        );
      });
    });

  archive
    .command('list')
    .description('the archive segments, newest first')
    .option('--status <status>', 'active or restored')
    .option('--limit <n>', 'at most this many (default 1000)')
    .option('--json', 'print JSON')
    .action(async (opts: { status?: string; limit?: string; json?: boolean }) => {
      if (opts.status !== undefined && opts.status !== 'active' && opts.status !== 'restored') throw new InvalidOptionError('--status', 'active or restored', opts.status);
      const limit = opts.limit === undefined ? undefined : wholeNumber('--limit', opts.limit, 1);
      await withJobLedger(global(), {}, async (jl) => {
        const segments = await jl.archive.list({ ...(opts.status ? { status: opts.status as 'active' | 'restored' } : {}), ...(limit ? { limit } : {}) });
        if (opts.json) return printJson(segments);
        printTable(
          segments.map((s) => ({
            segment: s.id,
            status: s.status,
            jobs: s.jobs,
            attempts: s.attempts,
            events: s.events,
            bytes: s.bytes,
            'jobs created': `${formatTime(s.firstCreatedAt)} .. ${formatTime(s.lastCreatedAt)}`,
            written: formatTime(s.createdAt),
            where: s.location,
          })),
        );
      });
    });

  archive
    .command('verify [segment]')
    .description('check one segment, or every active one: SHA-256, counts, manifest and index; exits non-zero if any is damaged')
    .option('--json', 'print JSON')
    .action(async (segment: string | undefined, opts: { json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const checks = await jl.archive.verify(segment);
        if (checks.some((c) => !c.ok)) process.exitCode = 1;
        if (opts.json) return printJson(checks);
        if (checks.length === 0) return void process.stdout.write('no active segments\n');
        printTable(checks.map((c) => ({ segment: c.segmentId, status: c.status, result: c.ok ? 'ok' : 'DAMAGED', problem: c.problem ?? '' })), { cut: false });
      });
    });

  archive
    .command('restore <segment>')
    .description('bring a segment\'s jobs (with attempts and events) back into the live tables in one transaction; running it again changes nothing')
    .option('--actor <name>', 'who, recorded in the audit log (default: the OS user)')
    .option('--reason <text>', 'why, recorded in the audit log')
    .option('--json', 'print JSON')
    .action(async (segment: string, opts: { actor?: string; reason?: string; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const { defaultActor } = await import('../../jobs/operator.js');
        const result = await jl.archive.restore({ segmentId: segment, actor: opts.actor ?? defaultActor(), source: 'cli', reason: opts.reason ?? null });
        if (opts.json) return printJson(result);
        process.stdout.write(
          result.restored
            ? `restored ${result.jobs} jobs (${result.attempts} attempts, ${result.events} events) from ${result.segmentId}\n`
            : `${result.segmentId} was restored before; nothing to do\n`,
        );
      });
    });
}

function wholeNumber(option: string, raw: string, min: number): number {
  if (!/^\d+$/.test(raw) || Number(raw) < min || !Number.isSafeInteger(Number(raw))) throw new InvalidOptionError(option, `a whole number >= ${min}`, raw);
  return Number(raw);
}
