/**
 * `jobledger replay`: new jobs from the payloads of the jobs a filter matches, under a named replay
 * (jobs/replay.ts); `jobledger replays` lists them, shows one, and cancels a running one.
 */
import type { Command } from 'commander';
import { InvalidOptionError } from '../../errors.js';
import { withJobLedger, type GlobalOptions } from '../context.js';
import { addJobFilterOptions, jobFilterOf, type JobFilterFlags } from '../job-filter-options.js';
import { formatTime, printJson, printTable, shorten } from '../output.js';
import { parseInteger } from '../parse.js';
import type { ReplayRow, ReplayStatus } from '../../store/index.js';

interface ReplayCommandOptions extends JobFilterFlags {
  type?: string;
  reason?: string;
  actor?: string;
  limit?: number;
  dryRun?: boolean;
  json?: boolean;
}

const replayStatusValues: readonly ReplayStatus[] = ['running', 'completed', 'cancelled', 'failed'];

export function registerReplayCommands(program: Command, global: () => GlobalOptions): void {
  addJobFilterOptions(
    program
      .command('replay')
      .description('make new jobs from the payloads of the jobs a filter matches (never changes them), under a named replay')
      .requiredOption('--name <name>', 'a name for the replay (required)'),
    '--type <job-type>',
  )
    .option('--reason <text>', 'why (required; recorded with the replay)')
    .option('--actor <name>', 'who (default: the OS user)')
    .option('--limit <n>', 'at most this many new jobs', parseInteger('--limit', 1))
    .option('--dry-run', 'count the matching jobs and show a few; write nothing')
    .option('--json', 'print JSON')
    .action(async (opts: ReplayCommandOptions & { name: string }) => {
      if (opts.reason === undefined) throw new InvalidOptionError('--reason', 'the reason for the replay (required; recorded with it)', undefined);
      const filter = jobFilterOf(opts, 'type');
      await withJobLedger(global(), { jobTypes: true, needsRedis: 'credentials' }, async (jl) => {
        const result = await jl.replays.run({
          name: opts.name,
          reason: opts.reason!,
          filter,
          source: 'cli',
          ...(opts.actor ? { actor: opts.actor } : {}),
          ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
          ...(opts.dryRun ? { dryRun: true } : {}),
          ...(opts.json || !process.stderr.isTTY ? {} : { onProgress: ({ created }) => void process.stderr.write(`\r${created} new jobs`) }),
        });
        if (result.dryRun) {
          if (opts.json) return printJson({ dryRun: true, matched: result.matched, sample: result.sample.map((j) => ({ id: j.id, name: j.name, status: j.status, createdAt: j.createdAt })) });
          process.stdout.write(`would replay ${result.matched} job${result.matched === 1 ? '' : 's'}; nothing written. The newest:\n`);
          return printTable(
            result.sample.map((j) => ({ job: j.id, name: j.name, status: j.status, created: formatTime(j.createdAt), payload: shorten(JSON.stringify(j.payload), 60) })),
            { keep: ['job'] },
          );
        }
        if (process.stderr.isTTY && !opts.json) process.stderr.write('\n');
        if (opts.json) return printJson(result.replay);
        printReplay(result.replay);
      });
    });

  const replays = program.command('replays').description('list replays; show or cancel one');
  replays
    .command('list', { isDefault: true })
    .description('replays, newest first')
    .option('--status <status>', replayStatusValues.join(', '), (raw: string) => {
      if (!(replayStatusValues as readonly string[]).includes(raw)) throw new InvalidOptionError('--status', replayStatusValues.join(', '), raw);
      return raw as ReplayStatus;
    })
    .option('--limit <n>', 'at most this many', parseInteger('--limit', 1, 10_000), 50)
    .option('--json', 'print JSON')
    .action(async (opts: { status?: ReplayStatus; limit: number; json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const rows = await jl.replays.list({ limit: opts.limit, ...(opts.status ? { status: opts.status } : {}) });
        if (opts.json) return printJson(rows);
        printTable(
          rows.map((r) => ({ replay: r.id, name: r.name, status: r.status, created: r.created, matched: r.matched, actor: r.actor, at: formatTime(r.createdAt) })),
          { keep: ['replay'] },
        );
      });
    });
  replays
    .command('show <replay-id>')
    .description('one replay: who, why, its filter and how far it got')
    .option('--json', 'print JSON')
    .action(async (replayId: string, opts: { json?: boolean }) => {
      await withJobLedger(global(), {}, async (jl) => {
        const replay = await jl.replays.get(replayId);
        if (opts.json) return printJson(replay);
        printReplay(replay);
      });
    });
  replays
    .command('cancel <replay-id>')
    .description('stop a running replay before its next batch; the jobs it made stand')
    .option('--reason <text>', 'why (required)')
    .option('--actor <name>', 'who (default: the OS user)')
    .option('--json', 'print JSON')
    .action(async (replayId: string, opts: { reason?: string; actor?: string; json?: boolean }) => {
      if (opts.reason === undefined) throw new InvalidOptionError('--reason', 'the reason for the cancel (required)', undefined);
      await withJobLedger(global(), {}, async (jl) => {
        const replay = await jl.replays.cancel({ replayId, reason: opts.reason!, source: 'cli', ...(opts.actor ? { actor: opts.actor } : {}) });
        if (opts.json) return printJson(replay);
        printReplay(replay);
      });
    });
}

function printReplay(replay: ReplayRow): void {
  printTable([
    { field: 'id', value: replay.id },
    { field: 'name', value: replay.name },
    { field: 'status', value: replay.status + (replay.statusReason ? ` (${replay.statusReason})` : '') },
    { field: 'new jobs', value: `${replay.created} of ${replay.matched} matched${replay.jobLimit !== null ? ` (limit ${replay.jobLimit})` : ''}` },
    { field: 'reason', value: replay.reason },
    { field: 'actor', value: replay.actor },
    { field: 'filter', value: shorten(JSON.stringify(replay.filter), 100) },
    { field: 'started', value: formatTime(replay.createdAt) },
    { field: 'finished', value: formatTime(replay.finishedAt) },
  ]);
}
